"""The label CSV of an image folder: :func:`read_label_csv` (its columns and rows) and
:func:`class_labels` (its label texts as class indices), plus :func:`refuse_duplicate_rows`.

Each refuses, before any training, a CSV that would otherwise train on wrong labels without a word:

- numeric labels are class indices 0..K-1 with every class present (without ``classes=``): a typo
  such as ``11`` among 0..2 would make 12 classes, 8 of them empty; labels 1..K look 1-based;
- text labels that differ only in case (``mild`` / ``Mild``) would be separate classes: refused,
  not merged, because which spelling is right (or whether they are one class) is the student's
  call; surrounding spaces never mean anything in a CSV cell and are stripped (`` Mild`` is ``Mild``);
- numbers mixed with text in one label column, empty and NaN-like labels (``nan``, ``NA``, ``#N/A``...);
- the same image listed twice (it could land in both train and validation).

(:func:`~labkit.folder_data.load.load_image_folder` refuses a train CSV of one class.)

The errors name the CSV lines, the images and the fix.
"""
import os
import re

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .images import IMAGE_EXTENSIONS

# what spreadsheets, pandas and R write for a missing value: never a class unless classes= lists it
NA_TEXTS = frozenset({"nan", "-nan", "na", "n/a", "#n/a", "#na", "<na>", "null", "none", "nil"})
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INVISIBLE = "\ufeff\u200b"  # a BOM or zero-width space pasted into a cell: as invisible as a space
SHOWN = 5  # rows named in an error message


def clean(text):
    """A CSV cell without surrounding spaces (and invisible marks)."""
    return str(text).strip().strip(_INVISIBLE).strip()


def rows_text(rows, lines, names, shown=SHOWN):
    """``line 5 (image 'a.png'), line 9 (image 'b.png') and 10 more (12 rows)`` for the positions ``rows``."""
    rows = list(rows)
    text = ", ".join(f"line {lines[i]} (image {names[i]!r})" for i in rows[:shown])
    return text + (f" and {len(rows) - shown} more ({len(rows)} rows)" if len(rows) > shown else "")


def _find_column(df, col, what, csv_file):
    """The column of ``df`` named ``col``, or the one name that differs only in case/spaces;
    ConfigError listing the columns (and saying when the first line looks like data) otherwise."""
    if col in df.columns:
        return col
    close = [c for c in df.columns if c.casefold() == str(col).strip().casefold()]
    if len(close) == 1:  # "Image" for image_col="image": one match, nothing to get wrong
        return close[0]
    hint = ""
    if any(_NUMBER.fullmatch(c) or c.lower().endswith(IMAGE_EXTENSIONS) for c in df.columns):
        hint = (f" The first line looks like a data row, not a header: add a header line "
                f"(e.g. '{col},...') at the top of the CSV.")
    raise ConfigError(f"column {col!r} is not in {csv_file!r}; its columns are "
                      f"{', '.join(map(repr, df.columns))}. Pass {what}= one of them.{hint}")


def _read_frame(csv_file):
    """The CSV as text cells; a ``;`` or tab separated file (a spreadsheet's export) is read as such."""
    try:
        df = pd.read_csv(csv_file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if len(df.columns) == 1:
            for sep in (";", "\t"):
                if sep in df.columns[0]:
                    df = pd.read_csv(csv_file, dtype=str, keep_default_na=False, encoding="utf-8-sig", sep=sep)
                    break
    except pd.errors.EmptyDataError:
        raise DataError(f"the CSV {csv_file!r} is empty (no header line, no rows). Fix: write the header "
                        f"(e.g. image,label) and one line per image.") from None
    except UnicodeDecodeError as e:
        raise DataError(f"cannot read the CSV {csv_file!r}: it is not UTF-8 text ({e}). Fix: save it as "
                        f"'CSV UTF-8' (or pandas: df.to_csv(path, index=False)).") from None
    except Exception as e:
        raise DataError(f"cannot read the CSV {csv_file!r} ({type(e).__name__}: {e}).") from None
    df.columns = [clean(c) for c in df.columns]
    return df


def read_label_csv(csv_file, image_col, label_col):
    """``(names, labels as text, CSV line numbers)`` of a label CSV; the errors name the file, the
    column or the lines (an unreadable or empty CSV, a missing column, no rows, empty names or labels).
    A column whose name differs only in case (``Image`` for ``image_col="image"``) is that column."""
    df = _read_frame(csv_file)
    cols = [_find_column(df, c, w, csv_file) for w, c in (("image_col", image_col), ("label_col", label_col))]
    if len(df) == 0:
        raise DataError(f"{csv_file!r} lists no images (it has a header line but no rows).")
    names = [clean(n) for n in df[cols[0]].tolist()]
    raw = [clean(v) for v in df[cols[1]].tolist()]
    lines = np.arange(len(df)) + 2  # line 1 is the header
    fname = os.path.basename(csv_file)
    for what, col, values in (("image name", cols[0], names), ("label", cols[1], raw)):
        empty = [i for i, v in enumerate(values) if not v]
        if len(empty) == 1:
            i = empty[0]
            raise DataError(f"line {lines[i]} of {fname}" + (f" (image {names[i]!r})" if names[i] else "")
                            + f" has no {what} (column {col!r}). Fix: fill it in or remove the row.")
        if empty:
            raise DataError(f"{len(empty)} rows of {fname} have no {what} (column {col!r}): "
                            f"{rows_text(empty, lines, names)}. Fix: fill them in or remove those rows.")
    return names, raw, lines


def plural(n, word):
    """``1 row``, ``3 rows``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _refuse(message, fname):
    raise DataError(f"{fname}: {message}")


def _refuse_missing_labels(raw, names, lines, fname, classes):
    """DataError naming the rows whose label is a missing-value text (nan, NA, #N/A...)."""
    listed = set(classes or ())
    bad = [i for i, v in enumerate(raw) if v.lower() in NA_TEXTS and v not in listed]
    if bad:
        kinds = ", ".join(sorted({repr(raw[i]) for i in bad}))
        _refuse(f"{len(bad)} rows have a missing label ({kinds}): {rows_text(bad, lines, names)}. Fix: label "
                f"them or remove those rows (if {raw[bad[0]]!r} really is a class name, pass classes= listing it).",
                fname)


def _refuse_mixed(raw, names, lines, fname):
    """DataError when numbers and text are mixed in the label column (naming examples of both)."""
    numeric = [bool(_NUMBER.fullmatch(v)) for v in raw]
    if any(numeric) and not all(numeric):
        num = [i for i, n in enumerate(numeric) if n]
        text = [i for i, n in enumerate(numeric) if not n]

        def examples(rows):
            return ", ".join(f"{raw[i]!r} (line {lines[i]})" for i in rows[:3]) + f" ({len(rows)} rows)"
        _refuse(f"the label column mixes numbers and text: numbers {examples(num)}, text {examples(text)}. "
                f"Labels are either class indices 0..K-1 or class names, not both. Fix: write every label one "
                f"way, or pass classes= listing every label text in class order.", fname)
    return all(numeric)


def _indices(raw, names, lines, fname):
    """The numeric labels as int64; DataError naming the rows of a label that is not a whole number."""
    vals = np.array([float(v) for v in raw])
    bad = np.flatnonzero(vals != np.round(vals))
    if len(bad):
        _refuse(f"labels must be whole class indices 0..K-1, got {raw[bad[0]]!r}: {rows_text(bad, lines, names)}.",
                fname)
    return vals.astype(np.int64)


def _refuse_odd_indices(vals, names, lines, fname):
    """DataError unless the class indices ``vals`` are 0..K-1 with every class present, naming the
    odd labels (negative, or past the first unused index) and how many rows have each."""
    present = np.unique(vals)
    if present.min() < 0:
        bad = np.flatnonzero(vals < 0)
        _refuse(f"label {vals[bad[0]]} is negative: {rows_text(bad, lines, names)}; labels must be class indices "
                f"0..K-1 or class names.", fname)
    k = int(present.max()) + 1
    if len(present) == k:
        return
    lo, hi = int(present.min()), int(present.max())
    if lo > 0 and len(present) == hi - lo + 1:  # 1..K: counted from 1
        empty = "0" if lo == 1 else f"0..{lo - 1}"
        _refuse(f"the labels are {lo}..{hi}, but class indices start at 0, so class {empty} would have no "
                f"image. Fix: subtract {lo} from the labels, or pass classes={present.tolist()} (label {lo} is "
                f"then class 0).", fname)
    unused = sorted(set(range(k)) - set(present.tolist()))
    odd = present[present > unused[0]]
    detail = "; ".join(f"{v} ({plural(int(np.sum(vals == v)), 'row')}: "
                       f"{rows_text(np.flatnonzero(vals == v), lines, names, 3)})" for v in odd[:SHOWN])
    _refuse(f"the labels are {', '.join(map(str, present.tolist()))}: as class indices 0..{k - 1} they make "
            f"{k} classes, {len(unused)} of them with no image ({_span(unused)}). Odd labels: {detail}. Fix: "
            f"correct those rows (a typo?) or remove them; if the classes really are these, pass classes= "
            f"listing every class in order.", fname)


def _span(values, shown=8):
    """``3, 4, 5 ... 10`` of a sorted list of ints."""
    return ", ".join(map(str, values[:shown])) + (f" ... {values[-1]}" if len(values) > shown else "")


def _refuse_case_variants(raw, lines, fname):
    """DataError naming the label texts that differ only in case."""
    groups = {}
    for i, v in enumerate(raw):
        groups.setdefault(v.casefold(), {}).setdefault(v, []).append(i)
    clashes = [g for g in groups.values() if len(g) > 1]
    if clashes:
        text = "; ".join(" / ".join(f"{v!r} ({plural(len(rows), 'row')}, e.g. line {lines[rows[0]]})"
                                    for v, rows in g.items()) for g in clashes[:SHOWN])
        _refuse(f"labels that differ only in case would be separate classes: {text}. Fix: write each class the "
                f"same way in the CSV (e.g. with pandas: df[col] = df[col].str.strip().str.lower(), then "
                f"df.to_csv(path, index=False)); if they really are different classes, pass classes= listing them.",
                fname)


def _unknown_hint(value, classes):
    """`` (did you mean 'Mild'? labels are case-sensitive)`` when ``value`` is a class in another case."""
    same = [c for c in classes if c.casefold() == value.casefold()]
    return f" (did you mean {same[0]!r}? labels are case-sensitive)" if same else ""


def _refuse_unknown_labels(bad, lines, names, raw, fname, valid, classes=()):
    """DataError naming the first CSV row (line, image, label) whose label is not a class."""
    if len(bad):
        b = bad[0]
        raise DataError(f"line {lines[b]} of {fname} (image {names[b]!r}): unknown label {raw[b]!r}"
                        f"{_unknown_hint(raw[b], classes)}; the classes are {valid}"
                        + (f" ({len(bad)} such rows)" if len(bad) > 1 else "") + ".")


def _check_classes(classes):
    """``classes`` as a list of distinct texts; ConfigError naming a class listed twice."""
    classes = [clean(c) for c in classes]
    twice = sorted({c for c in classes if classes.count(c) > 1})
    if twice:
        raise ConfigError(f"classes lists {', '.join(map(repr, twice))} more than once: {classes}")
    if not classes:
        raise ConfigError("classes is empty: list the class names (or indices) in class order, or pass None.")
    return classes


def _numeric_classes(classes):
    return all(_NUMBER.fullmatch(c) and float(c) == round(float(c)) for c in classes)


def _given_classes(raw, names, lines, classes, fname):
    """int64 labels of ``raw`` for the given ``classes``: whole-number labels are their value's class
    when the classes are numbers too (classes=[1, 2, 3]), else the class at that index; text labels
    are class names. DataError naming the first row of an unknown label."""
    numeric = all(_NUMBER.fullmatch(v) for v in raw)
    valid = f"0..{len(classes) - 1}" if classes == [str(i) for i in range(len(classes))] else ", ".join(classes)
    if numeric:
        vals = _indices(raw, names, lines, fname)  # whole numbers only: 1.5 is no class
        if _numeric_classes(classes):  # classes=[1, 2, 3]: a label is the class of its value
            index = {int(float(c)): i for i, c in enumerate(classes)}
            vals = np.array([index.get(int(v), -1) for v in vals], dtype=np.int64)
        else:  # named classes: a label is the class at its index
            valid = f"0..{len(classes) - 1} ({', '.join(classes)})"
            vals = np.where(vals < len(classes), vals, -1)
    else:
        index = {c: i for i, c in enumerate(classes)}
        vals = np.array([index.get(v, -1) for v in raw], dtype=np.int64)
    bad = np.flatnonzero(vals < 0)
    _refuse_unknown_labels(bad, lines, names, raw, fname, valid, classes)
    return vals


def class_labels(raw, names, lines, classes, fname):
    """``(classes, int64 labels)`` of the CSV's label texts ``raw``. Without ``classes``: whole
    numbers are class indices 0..K-1 (every class present; ``classes`` "0".."K-1"), other text class
    names (sorted; no two differing only in case). With ``classes``: see
    :func:`_given_classes`. DataError naming the rows of a missing, mixed, odd or unknown label."""
    if classes is not None:
        classes = _check_classes(classes)
    _refuse_missing_labels(raw, names, lines, fname, classes)
    if classes is not None:
        return classes, _given_classes(raw, names, lines, classes, fname)
    if _refuse_mixed(raw, names, lines, fname):
        vals = _indices(raw, names, lines, fname)
        _refuse_odd_indices(vals, names, lines, fname)
        classes = [str(i) for i in range(int(vals.max()) + 1)]
    else:
        _refuse_case_variants(raw, lines, fname)
        classes = sorted(set(raw))
        index = {c: i for i, c in enumerate(classes)}
        vals = np.array([index[v] for v in raw], dtype=np.int64)
    return classes, vals


def refuse_duplicate_rows(files, raw, lines, fname, image_col):
    """DataError naming the images listed more than once (``files``: the file each row names): such an
    image could land in both the training and the validation split, and it counts twice."""
    s = pd.Series(files)
    dup = s[s.duplicated(keep=False)]
    if dup.empty:
        return
    twice = [(f, list(r)) for f, r in dup.groupby(dup, sort=False).groups.items()]
    differ = [f for f, r in twice if len({raw[i] for i in r}) > 1]
    text = "; ".join(f"{f!r} (lines {', '.join(str(lines[i]) for i in r)}; labels {', '.join(raw[i] for i in r)})"
                     for f, r in twice[:SHOWN])
    more = f" and {len(twice) - SHOWN} more" if len(twice) > SHOWN else ""
    raise DataError(
        f"{plural(len(twice), 'image')} {'is' if len(twice) == 1 else 'are'} listed more than once in {fname}: "
        f"{text}{more} ({len(differ)} of them with different labels). A listed-twice "
        f"image can land in both the training and the validation split (validation then scores images the model "
        f"trained on). Fix: keep one row per image, e.g. with pandas: df.drop_duplicates(subset={image_col!r}) "
        f"(after deciding which label is right where they differ), then df.to_csv(path, index=False).")
