"""Image transforms of the image-folder data (PIL image -> tensor) and the resize side they share.

:func:`resize_side` is the one place the shorter-side resize (``size / crop_ratio``) is computed;
:func:`build_transform` (train / evaluation), :func:`flip_transform` (evaluation crop + random flips,
the minority-only augmentation) and :func:`preview_transform` (uint8, to show images) all use it, as
does the reduced-scale JPEG decoding of :class:`~labkit.folder_data.csv_images.ImageCsvDataset`.
"""
import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZE_OPTIONS = ("imagenet", "off")


def resize_side(image_size, crop_ratio):
    """The side the shorter image edge is resized to before the crop: ``image_size / crop_ratio``
    (256 for 224 at 0.875), never below ``image_size``."""
    size = int(image_size)
    return max(size, int(round(size / float(crop_ratio))))


def _compose(image_size, crop_ratio, crop, flips, normalize):
    """Resize to :func:`resize_side`, ``crop`` (a v2 crop class) to ``image_size``, random flips
    ("h" and/or "v" in ``flips``), float tensor in [0, 1], ImageNet-normalized if ``normalize``."""
    size = int(image_size)
    ops = [v2.Resize(resize_side(size, crop_ratio), antialias=True), crop(size)]
    if "h" in flips:
        ops.append(v2.RandomHorizontalFlip(0.5))
    if "v" in flips:
        ops.append(v2.RandomVerticalFlip(0.5))
    ops += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if normalize == "imagenet":
        ops.append(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return v2.Compose(ops)


def build_transform(image_size=224, train=False, crop_ratio=0.875, flips="h", normalize="imagenet"):
    """torchvision transform for a PIL image -> normalized float tensor (3, size, size).

    Evaluation: resize the shorter side to ``size / crop_ratio`` (256 for 224), center crop.
    Training: the same resize, a random crop, random flips (``flips``: "h", "hv" or "").
    ``normalize``: "imagenet" (the statistics pretrained torchvision models expect) or "off".
    """
    if train:
        return _compose(image_size, crop_ratio, v2.RandomCrop, flips, normalize)
    return _compose(image_size, crop_ratio, v2.CenterCrop, "", normalize)


def flip_transform(image_size, crop_ratio, flips, normalize):
    """Evaluation resize/crop followed by the random flips (minority-only augmentation)."""
    return _compose(image_size, crop_ratio, v2.CenterCrop, flips, normalize)


def preview_transform(image_size, crop_ratio):
    """Evaluation resize/crop to a uint8 tensor (3, size, size): images to look at, not to train on."""
    size = int(image_size)
    return v2.Compose([v2.Resize(resize_side(size, crop_ratio), antialias=True), v2.CenterCrop(size),
                       v2.PILToTensor()])
