"""One CSV (image name, label) + one image folder as a torch Dataset: :class:`ImageCsvDataset`.

Also the checks it makes before any training: its options, the paths (``~`` expanded), the CSV and
its labels (:mod:`.labels`: columns, rows, odd, mixed or missing labels, images listed twice), the
listed files (the missing ones are listed, with a ``suffix=`` hint when the names lack an
extension, a case hint, and what the folder holds when none is there; empty files) and a few of
the images decoded (``verify_images=True``: all of them). Images are read by :mod:`.images`.
"""
import os
import stat

import numpy as np
from torch.utils.data import Dataset

from ..config import as_count, as_float, as_int
from ..data import stratified_pick
from ..errors import ConfigError, DataError, DataMissingError
from .images import IMAGE_EXTENSIONS, open_rgb
# read_label_csv and class_labels lived here: still importable from here
from .labels import class_labels, plural, read_label_csv, refuse_duplicate_rows  # noqa: F401
from .transforms import NORMALIZE_OPTIONS, build_transform, resize_side



def check_image_options(mode, normalize, image_size, crop_ratio, flips):
    """The checked ``(image_size, crop_ratio, flips)`` of an :class:`ImageCsvDataset`; ConfigError
    naming the bad option (``mode`` and ``normalize`` are checked too)."""
    if mode not in ("train", "test"):
        raise ConfigError(f"mode must be 'train' or 'test', got {mode!r}")
    if normalize not in NORMALIZE_OPTIONS:
        raise ConfigError(f"normalize must be one of {NORMALIZE_OPTIONS}, got {normalize!r}")
    image_size = as_int("image_size", image_size)  # a number up to int64, then a size
    if not 8 <= image_size <= MAX_IMAGE_SIZE:
        raise ConfigError(f"image_size must be from 8 to {MAX_IMAGE_SIZE} pixels, got {image_size}")
    crop_ratio = as_float("crop_ratio", crop_ratio)
    if not 0 < crop_ratio <= 1:
        raise ConfigError(f"crop_ratio must be in (0, 1], got {crop_ratio}")
    flips = (flips or "").lower()
    if set(flips) - set("hv"):
        raise ConfigError(f"flips must be '', 'h', 'v' or 'hv' (horizontal/vertical), got {flips!r}")
    return image_size, crop_ratio, flips


MAX_IMAGE_SIZE = 4096  # input side in pixels: ImageNet models take 224; a 4096x4096 batch of 32 is already 6 GiB
SAMPLE_DECODED = 4  # images decoded at construction (all with verify_images=True): a folder of non-images fails now


def expand_path(path, what):
    """``path`` as text with ``~`` expanded; ConfigError naming the argument when it is not a path."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).strip():
        raise ConfigError(f"{what} must be a file or folder path (text), got {path!r}.")
    return os.path.expanduser(os.fspath(path))


class ImageCsvDataset(Dataset):
    """Images in ``image_dir`` listed with their labels in a CSV file.

    - ``image_col`` / ``label_col``: the CSV's column names (e.g. "image", "level").
    - ``suffix``: appended to names that do not already end with it (CSV names without
      extension, e.g. "10_left" + ".jpeg"); names that have it are used as they are.
    - labels: whole numbers (class indices 0..K-1, every class present; names from ``classes``
      or "0".."K-1") or text (class names; ``classes`` fixes their order, else sorted). See
      :mod:`.labels` for what is refused (with the CSV lines and images named).
    - ``limit``: keep a seeded, stratified subset of this many rows (quick runs).
    - ``mode``: "train" (random crop + flips) or "test" (resize + center crop); ``transform``
      replaces the mode's transform.

    Every listed file is checked at construction: missing ones raise :class:`DataMissingError`
    listing the first few and the count, empty ones and a first few that cannot be decoded
    :class:`DataError`, before any training (``verify_images=True``: every image is decoded).
    An unreadable image raises :class:`DataError` naming the file and CSV line when read.
    """

    def __init__(self, csv_file, image_dir, image_col="image", label_col="label", suffix="", classes=None,
                 mode="train", image_size=224, normalize="imagenet", crop_ratio=0.875, flips="h", transform=None,
                 limit=None, seed=0, check_files=True, verify_images=False):
        self.csv_file, self.image_dir = expand_path(csv_file, "csv_file"), expand_path(image_dir, "image_dir")
        self.image_col, self.label_col, self.suffix = image_col, label_col, suffix or ""
        image_size, crop_ratio, flips = check_image_options(mode, normalize, image_size, crop_ratio, flips)
        self.image_size, self.normalize, self.crop_ratio, self.flips = image_size, normalize, crop_ratio, flips
        if not os.path.isfile(self.csv_file):
            raise DataMissingError(f"label file {self.csv_file!r} not found. Fix: pass the path of the CSV that "
                                   f"lists the images and their labels (columns {image_col!r}, {label_col!r}).")
        if not os.path.isdir(self.image_dir):
            raise DataMissingError(f"image folder {self.image_dir!r} not found (images listed in {self.csv_file!r}). "
                                   f"Fix: pass image_dir= the folder that holds the image files.")
        names, raw, lines = read_label_csv(self.csv_file, image_col, label_col)
        fname = os.path.basename(self.csv_file)
        self.classes, labels = class_labels(raw, names, lines, classes, fname)
        files = [self._file_name(n) for n in names]
        refuse_duplicate_rows(files, raw, lines, fname, image_col)  # before the limit: a subset hides none
        idx = np.arange(len(names))
        if limit is not None:
            limit = as_count("limit", limit)
            idx = stratified_pick(labels, min(limit, len(idx)), seed)
        self.names, self.labels, self.lines = [names[i] for i in idx], labels[idx], lines[idx]
        self.files = [files[i] for i in idx]  # relative to image_dir: what the data is, wherever the folder
        self.paths = [os.path.join(self.image_dir, f) for f in self.files]
        self._refuse_outside()
        self.sizes = None
        if check_files:
            self.check_files(verify_images)
        self.transform = transform or build_transform(image_size, mode == "train", crop_ratio, flips, normalize)
        self.mode = mode

    def _file_name(self, name):
        """The file a CSV name stands for, relative to the folder (``suffix`` added; ``./a``, ``a`` alike)."""
        if self.suffix and not name.lower().endswith(self.suffix.lower()):
            name = name + self.suffix
        return os.path.normpath(name).replace(os.sep, "/")

    def real_paths(self):
        """Each listed file as the file it is (links followed, ``..`` resolved): what leakage checks compare."""
        return [os.path.normcase(os.path.realpath(p)) for p in self.paths]

    def _refuse_outside(self):
        """DataError listing the rows whose file lies outside image_dir: a name with ``..``, an absolute path,
        or a link that leads out of the folder (labkit reads the images of the folder it was given, nothing else)."""
        root = os.path.normcase(os.path.realpath(self.image_dir))
        outside = [i for i, p in enumerate(self.real_paths()) if not p.startswith(root.rstrip(os.sep) + os.sep)]
        if outside:
            raise DataError(f"{plural(len(outside), 'image')} listed in {os.path.basename(self.csv_file)} "
                            f"{'lies' if len(outside) == 1 else 'lie'} outside image_dir {self.image_dir!r} (a name "
                            f"with '..', an absolute path, or a link that leads out of the folder): "
                            f"{self._shown(outside)}. labkit reads only the images inside image_dir. Fix: copy "
                            f"those images into the folder and list them by their names there, or remove their rows.")

    def file_sizes(self):
        """Each listed file's size in bytes (-1: not there), read once."""
        if self.sizes is None:
            self.sizes = [_size(p) for p in self.paths]
        return self.sizes

    def check_files(self, verify_images=False):
        """Raise DataMissingError listing the missing image files (first few + count), DataError listing
        the empty ones or those of the first few (all with ``verify_images``) that cannot be decoded."""
        self.sizes = None
        sizes = self.file_sizes()
        missing = [i for i, size in enumerate(sizes) if size < 0]
        if missing:
            raise DataMissingError(self._missing_message(missing))
        empty = [i for i, size in enumerate(sizes) if size == 0]
        if empty:
            raise DataError(f"{plural(len(empty), 'image file')} listed in {os.path.basename(self.csv_file)} "
                            f"{'is' if len(empty) == 1 else 'are'} empty (0 bytes: an interrupted copy or "
                            f"download?): {self._shown(empty)}. Fix: copy those files again, or remove their rows.")
        self.check_images(range(len(self.paths)) if verify_images else range(min(SAMPLE_DECODED, len(self.paths))))

    def check_images(self, rows):
        """DataError listing the images of ``rows`` that cannot be decoded, each with the reason."""
        bad, side = [], resize_side(self.image_size, self.crop_ratio)
        for i in rows:
            try:
                open_rgb(self.paths[i], side)
            except Exception as e:  # any reason PIL has: each is named, none stops the check
                bad.append((i, f"{type(e).__name__}: {e}"))
        if bad:
            shown = "; ".join(f"{self.files[i]} (line {self.lines[i]}): {why}" for i, why in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise DataError(f"{len(bad)} of the {len(list(rows))} images checked in {os.path.basename(self.csv_file)} "
                            f"cannot be read as images: {shown}{more}. Fix: replace or "
                            f"delete those files, or remove their rows (is image_col= the column of image files?).")

    def _shown(self, rows):
        text = ", ".join(f"{self.files[i]} (line {self.lines[i]})" for i in rows[:5])
        return text + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")

    def _missing_message(self, missing):
        """What is missing and the likely fix: a suffix, a name's case, or the folder holding other files."""
        fname = os.path.basename(self.csv_file)
        first = self.paths[missing[0]]
        return (f"{len(missing)} of the {len(self.paths)} images listed in {fname} are missing from "
                f"{self.image_dir!r}: {self._shown(missing)}.{_missing_hint(first, len(missing) == len(self.paths))} "
                f"Fix: point image_dir at the folder that holds them, set suffix= for names without extension, or "
                f"remove those rows from {self.csv_file!r}.")

    def __len__(self):
        return len(self.labels)

    def open_image(self, i):
        """The i-th image as the RGB PIL image a viewer shows (:func:`.images.open_rgb`: 16-bit, alpha,
        palette, CMYK... converted by their range); DataError naming the file and CSV line if unreadable."""
        path = self.paths[i]
        where = f"{path!r} (line {self.lines[i]} of {os.path.basename(self.csv_file)})"
        try:
            return open_rgb(path, resize_side(self.image_size, self.crop_ratio))
        except FileNotFoundError:
            raise DataMissingError(f"image {where} no longer exists.") from None
        except Exception as e:
            raise DataError(f"cannot read image {where}: {type(e).__name__}: {e}. Fix: replace or delete the file, "
                            f"or remove its row; verify_images=True checks every image before training.") from None

    def load(self, i, transform=None):
        """(tensor, label) of the i-th row through ``transform`` (default: the mode's)."""
        return (transform or self.transform)(self.open_image(i)), int(self.labels[i])

    def __getitem__(self, i):
        return self.load(int(i))

    def class_counts(self, idx=None):
        labels = self.labels if idx is None else self.labels[np.asarray(idx, dtype=np.int64)]
        return np.bincount(labels, minlength=len(self.classes))


def _size(path):
    """The size of the file ``path`` in bytes; -1 when it is not there (or is a folder)."""
    try:
        st = os.stat(path)
    except OSError:
        return -1
    return st.st_size if stat.S_ISREG(st.st_mode) else -1


def _missing_hint(first, none_there):
    """Why the file ``first`` may be missing: it exists with an extension added or in another case; when
    ``none_there`` (no listed file found), what its folder holds instead."""
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        if os.path.isfile(first + ext):
            return (f" The CSV names have no extension but {os.path.basename(first + ext)} exists: "
                    f"pass suffix={ext!r}.")
    folder = os.path.dirname(first)
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return ""
    same = [e for e in entries if e.casefold() == os.path.basename(first).casefold()]
    if same:
        return f" {same[0]!r} exists: file names are case-sensitive; write them as the files are named."
    if not none_there:
        return ""
    folders = [e for e in entries if os.path.isdir(os.path.join(folder, e))]
    files = [e for e in entries if e not in folders]
    return (f" The folder holds {plural(len(files), 'file')}" + (f" (e.g. {', '.join(map(repr, files[:3]))})" if files
                                                                 else "")
            + (f" and the folders {', '.join(map(repr, folders[:5]))} (is image_dir one level too high?)" if folders
               else "") + ".")
