"""Image folders listed in CSV files (image name, label): the transfer-learning lab's data path.

The diabetic-retinopathy layout, for example::

    data/retinopathy/train.csv      image,level        (28,099 rows)
                                    10_left,0
                                    10_right,0
                                    13_left,2 ...
    data/retinopathy/test.csv       image,level        (7,025 rows)
    data/retinopathy/train/10_left.jpeg ...
    data/retinopathy/test/1_left.jpeg ...

    data = load_image_folder("data/retinopathy/train.csv", "data/retinopathy/test.csv",
                             image_dir="data/retinopathy/train", test_image_dir="data/retinopathy/test",
                             image_col="image", label_col="level", suffix=".jpeg",
                             image_size=224, imbalance="class_weights")
    run = labkit.fit("tv_resnet18", data, model_kwargs={"weights": "imagenet"}, epochs=10)

:class:`ImageCsvDataset` is a plain ``torch.utils.data.Dataset`` (one CSV + one folder, a
train or test mode transform). :class:`ImageFolderData` is the data object ``labkit.fit``
takes (same protocol as :class:`labkit.data.CifarData`): train/val split carved from the
train CSV (seeded, stratified), test split from the test CSV, ``.loader(...)`` with a
deterministic order per (seed, epoch), and the class-imbalance options:

- ``"none"``: plain shuffling.
- ``"class_weights"``: inverse-frequency weights in the loss (``n / (K * n_c)``, scikit-learn's
  "balanced"); ``labkit.fit`` picks them up from ``data.loss_class_weights``.
- ``"sampler"``: a weighted random sampler (torch's ``WeightedRandomSampler``, weight ``1/n_c``
  per image, with replacement): every class is drawn about equally often per epoch.
- ``"augment_minority"``: only minority-class images are augmented (random flips, plus the
  random crop when ``augment=True``); the majority class is never augmented. Each
  minority image is seen ``minority_repeat`` times per epoch (default 2: the image and a
  flipped copy, as in the retinopathy report, which flipped the non-zero labels).

The modules, one job each:

- :mod:`.csv_images`: :class:`ImageCsvDataset` and the checks of its paths and files.
- :mod:`.labels`: the CSV read and its labels turned into classes, refusing odd, mixed, missing
  and case-variant labels and images listed twice.
- :mod:`.images`: image files as the RGB a viewer shows (16-bit, float, alpha, palette, CMYK...).
- :mod:`.transforms`: :func:`build_transform` and the other transforms (the resize side computed once).
- :mod:`.sampling`: :class:`EpochSampler` and the class-imbalance options.
- :mod:`.batches`: the batches of one split (:class:`FolderLoader`).
- :mod:`.image_folder`: :class:`ImageFolderData` (the splits, their counts, the content digest, ``.loader``).
- :mod:`.load`: :func:`load_image_folder` (and the train/test overlap check); the validation split
  is :func:`labkit.data.split_indices`.
- :mod:`.demo`: :func:`write_cifar_image_folder` (a small imbalanced folder made from CIFAR-10).
"""
from ..data import stratified_pick
from .batches import FolderLoader, SplitView
from .csv_images import IMAGE_EXTENSIONS, ImageCsvDataset
from .demo import write_cifar_image_folder
from .image_folder import ImageFolderData
from .load import load_image_folder
from .sampling import IMBALANCE_NOTES, IMBALANCE_OPTIONS, EpochSampler
from .transforms import IMAGENET_MEAN, IMAGENET_STD, NORMALIZE_OPTIONS, build_transform

__all__ = ["EpochSampler", "FolderLoader", "IMAGE_EXTENSIONS", "IMAGENET_MEAN", "IMAGENET_STD", "IMBALANCE_NOTES",
           "IMBALANCE_OPTIONS", "ImageCsvDataset", "ImageFolderData", "NORMALIZE_OPTIONS", "SplitView",
           "build_transform", "load_image_folder", "stratified_pick", "write_cifar_image_folder"]
