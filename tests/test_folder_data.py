"""The image-folder data path as a student meets it: a CSV (image, label) and a folder of images
that are not quite what the lab expects. Each case is either refused by ``load_image_folder`` (so
before any training) with a message naming the rows and the fix, or read so that nothing silently
wrong happens. Small synthetic images (8x8), no CIFAR-10 needed."""
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.errors import ConfigError, DataError, DataMissingError
from labkit.folder_data import ImageCsvDataset, load_image_folder
from labkit.folder_data.images import open_rgb

SIZE = 8


def write_images(folder, names, seed=0):
    """Random 8x8 RGB PNGs named ``names`` in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in names:
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(os.path.join(folder, n))


def write_csv(path, rows, header="image,label", encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write("\n".join([header] + [",".join(map(str, r)) for r in rows]) + "\n")
    return str(path)


@pytest.fixture
def images(tmp_path):
    """30 images img_00.png ... img_29.png in tmp_path/img."""
    names = [f"img_{i:02d}.png" for i in range(30)]
    write_images(tmp_path / "img", names)
    return names


def load(train_csv, image_dir, **kw):
    kw = {"image_size": SIZE, "crop_ratio": 1.0, "num_workers": 0, "verbose": False, **kw}
    return load_image_folder(train_csv, image_dir=image_dir, **kw)


def rows3(names):
    """Labels 0, 1, 2 in turn."""
    return [(n, i % 3) for i, n in enumerate(names)]


# ---- 1. image modes -----------------------------------------------------------------------------
def test_16bit_png_is_read_scaled_not_white(tmp_path):
    """A 16-bit grayscale PNG (PIL mode I;16) is its top 8 bits, not 255 wherever a pixel is >= 1."""
    gray = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    os.makedirs(tmp_path / "img")
    Image.fromarray(gray).save(tmp_path / "img" / "x16.png")
    write_images(tmp_path / "img", ["a.png", "b.png"])
    csv = write_csv(tmp_path / "t.csv", [("x16.png", 0), ("a.png", 1), ("b.png", 0)])
    assert Image.open(tmp_path / "img" / "x16.png").mode == "I;16"
    data = load(csv, tmp_path / "img", normalize="off", val_ratio=0.0, test_ratio=0.34, seed=0)
    ds = data.train_set
    want = (gray >> 8).astype(np.uint8)
    got = np.asarray(ds.open_image(0))
    assert got.shape == (8, 8, 3) and np.array_equal(got[..., 0], want) and np.array_equal(got[..., 2], want)
    x, _ = ds.load(0, data._eval_tf)  # what training sees (normalize="off": the pixels / 255)
    torch.testing.assert_close(x[1], torch.from_numpy(want).float() / 255)
    assert got.max() < 255 and got.min() == 0  # not the white image convert("RGB") gives


@pytest.mark.parametrize("case", ["I32", "F01", "F255", "Fwide", "L", "1", "P", "P_transparent", "LA", "RGBA",
                                  "CMYK"])
def test_every_image_mode_reads_as_a_viewer_shows(tmp_path, case):
    ramp = np.arange(64).reshape(8, 8)
    if case == "I32":  # 32-bit integers holding 16-bit values (16-bit PGM/PNG open so)
        img, want = Image.fromarray((ramp * 1000).astype(np.int32)), np.stack([(ramp * 1000) >> 8] * 3, -1)
    elif case == "F01":
        img, want = Image.fromarray((ramp / 63).astype(np.float32)), np.stack([np.round(ramp / 63 * 255)] * 3, -1)
    elif case == "F255":
        img, want = Image.fromarray((ramp * 4.0).astype(np.float32)), np.stack([ramp * 4] * 3, -1)
    elif case == "Fwide":  # outside 0..255: its own min..max
        img = Image.fromarray((ramp * 100.0 - 50).astype(np.float32))
        want = np.stack([np.round(ramp / 63 * 255)] * 3, -1)
    elif case == "L":
        img, want = Image.fromarray((ramp * 4).astype(np.uint8)), np.stack([ramp * 4] * 3, -1)
    elif case == "1":
        img = Image.fromarray(ramp % 2 == 0)
        want = np.stack([np.where(ramp % 2 == 0, 255, 0)] * 3, -1)
    elif case in ("P", "P_transparent"):
        img = Image.fromarray((ramp % 4).astype(np.uint8), "P")
        img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9] + [0] * (252 * 3))
        colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]])
        want = colours[ramp % 4]
        if case == "P_transparent":  # index 3 transparent: white, not the (9, 9, 9) hidden under it
            img.info["transparency"] = 3
            want[ramp % 4 == 3] = 255
    elif case == "LA":  # alpha 0 on the left half: white
        a = np.stack([np.full((8, 8), 40, np.uint8), np.where(ramp % 8 < 4, 0, 255).astype(np.uint8)], -1)
        img, want = Image.fromarray(a, "LA"), np.stack([np.where(ramp % 8 < 4, 255, 40)] * 3, -1)
    elif case == "RGBA":  # half transparent (10, 20, 200) over white
        a = np.zeros((8, 8, 4), np.uint8)
        a[...] = (10, 20, 200, 128)
        img = Image.fromarray(a, "RGBA")
        want = np.broadcast_to(np.round(np.array([10, 20, 200]) * 128 / 255 + 255 * 127 / 255), (8, 8, 3))
    else:  # CMYK: pure cyan
        img, want = Image.new("CMYK", (8, 8), (255, 0, 0, 0)), np.broadcast_to([0, 255, 255], (8, 8, 3))
    path = str(tmp_path / ("x.tif" if case.startswith(("F", "I")) or case == "CMYK" else "x.png"))
    img.save(path, **({"transparency": 3} if case == "P_transparent" else {}))
    got = np.asarray(open_rgb(path)).astype(int)
    assert got.shape == (8, 8, 3)
    assert np.abs(got - want).max() <= 1, (case, got[..., 0], want[..., 0])


def test_photo_orientation_is_applied(tmp_path):
    """A phone photo tagged 'rotated' (EXIF orientation 6) is upright, as a viewer shows it."""
    a = np.zeros((8, 16, 3), np.uint8)
    a[:, :8] = 255  # white left half, 16 wide and 8 high as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(tmp_path / "p.jpg", exif=exif, quality=95)
    got = open_rgb(tmp_path / "p.jpg")
    assert got.size == (8, 16)  # 8 wide, 16 high: turned a quarter clockwise


# ---- 2. duplicates and train/test overlap -------------------------------------------------------
def test_images_listed_twice_are_refused_with_their_lines(tmp_path, images):
    rows = rows3(images)
    same = rows + [(images[4], 1)]            # img_04 twice, same label
    other = rows + [(images[5], 0)]           # img_05 twice, labels 2 and 0
    for rows_, want in ((same, r"'img_04\.png' \(lines 6, 32; labels 1, 1\).*0 of them with different labels"),
                        (other, r"'img_05\.png' \(lines 7, 32; labels 2, 0\).*1 of them with different labels")):
        csv = write_csv(tmp_path / "t.csv", rows_)
        with pytest.raises(DataError, match=r"1 image is listed more than once in t\.csv: " + want) as e:
            load(csv, tmp_path / "img")
        assert "drop_duplicates(subset='image')" in str(e.value) and "validation" in str(e.value)
    # "img_06" with suffix=".png" and "./img_06.png" are the same file as "img_06.png"
    csv = write_csv(tmp_path / "t.csv", [(n[:-4], lab) for n, lab in rows] + [("./img_06.png", 0)])
    with pytest.raises(DataError, match=r"'img_06\.png' \(lines 8, 32"):
        load(csv, tmp_path / "img", suffix=".png")
    # a limit does not hide them
    with pytest.raises(DataError, match="listed more than once"):
        load(write_csv(tmp_path / "t.csv", other), tmp_path / "img", limit=9)


def test_test_csv_listing_training_images_is_refused(tmp_path, images):
    train = write_csv(tmp_path / "train.csv", rows3(images[:24]))
    test = write_csv(tmp_path / "test.csv", rows3(images[24:]) + [(images[3], 0), (images[7], 1)])
    with pytest.raises(DataError, match=r"2 of the 8 test images \(test\.csv\) are also training images of "
                                        r"train\.csv .*img_03\.png, img_07\.png.*test_csv=None") as e:
        load(train, tmp_path / "img", test_csv=test)
    assert "scores images the model trained on" in str(e.value).replace("would score", "scores")
    # the same folder spelled another way (a link, ./ and ..) is the same folder
    os.symlink(tmp_path / "img", tmp_path / "link")
    with pytest.raises(DataError, match="2 of the 8 test images"):
        load(train, tmp_path / "img", test_csv=test, test_image_dir=str(tmp_path / "link" / ".." / "img") + "/.")
    with pytest.raises(DataError, match="2 of the 8 test images"):
        load(train, tmp_path / "img", test_csv=test, test_image_dir=tmp_path / "link")
    with pytest.raises(DataError, match=r"test_csv is the train CSV itself \(train\.csv\)"):
        load(train, tmp_path / "img", test_csv=train)
    # the same names in another folder are other files: fine
    write_images(tmp_path / "other", images, seed=1)
    data = load(train, tmp_path / "img", test_csv=test, test_image_dir=tmp_path / "other")
    assert len(data.test_idx) == 8


# ---- 3. labels ----------------------------------------------------------------------------------
def test_label_typo_making_empty_classes_is_refused(tmp_path, images):
    rows = rows3(images)
    rows[10] = (images[10], 11)
    csv = write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(DataError) as e:
        load(csv, tmp_path / "img")
    msg = str(e.value)
    assert "t.csv: the labels are 0, 1, 2, 11: as class indices 0..11 they make 12 classes, 8 of them with no " \
           "image (3, 4, 5, 6, 7, 8, 9, 10)" in msg
    assert "Odd labels: 11 (1 row: line 12 (image 'img_10.png'))" in msg and "classes=" in msg
    # the student's explicit choice of 12 classes is taken as it is
    data = load(csv, tmp_path / "img", classes=list(range(12)))
    assert data.num_classes == 12 and data.train_set.labels[10] == 11
    # labels counted from 1: said so, with both fixes
    csv = write_csv(tmp_path / "t.csv", [(n, lab + 1) for n, lab in rows3(images)])
    with pytest.raises(DataError, match=r"labels are 1\.\.3, but class indices start at 0, so class 0 would have "
                                        r"no image\. Fix: subtract 1 .* classes=\[1, 2, 3\]"):
        load(csv, tmp_path / "img")
    data = load(csv, tmp_path / "img", classes=[1, 2, 3])
    assert data.classes == ["1", "2", "3"] and data.train_set.labels.tolist()[:3] == [0, 1, 2]
    # non-whole numbers
    csv = write_csv(tmp_path / "t.csv", rows3(images)[:-1] + [(images[-1], 1.5)])
    with pytest.raises(DataError, match=r"whole class indices 0\.\.K-1, got '1\.5': line 31 \(image 'img_29\.png'\)"):
        load(csv, tmp_path / "img")
    # "1.0" (a spreadsheet's float column) is class 1
    csv = write_csv(tmp_path / "t.csv", [(n, f"{lab}.0") for n, lab in rows3(images)])
    assert load(csv, tmp_path / "img").classes == ["0", "1", "2"]


def test_text_labels_differing_in_case_are_refused(tmp_path, images):
    labels = ["Mild", "No DR", "Severe"]
    rows = [(n, labels[i % 3]) for i, n in enumerate(images)]
    rows[4], rows[7] = (images[4], "mild"), (images[7], " Mild ")
    csv = write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(DataError) as e:
        load(csv, tmp_path / "img")
    msg = str(e.value)
    assert "labels that differ only in case would be separate classes: 'Mild' (" in msg
    assert "'mild' (1 row, e.g. line 6)" in msg and "str.strip().str.lower()" in msg
    # surrounding spaces mean nothing: " Mild " is "Mild"
    rows[4] = (images[4], "Mild")
    data = load(write_csv(tmp_path / "t.csv", rows), tmp_path / "img")
    assert data.classes == labels and data.train_set.class_counts().tolist() == [12, 8, 10]
    # a test CSV in another case: named, with the likely class
    test = write_csv(tmp_path / "test.csv", [("a.png", "mild"), ("b.png", "Severe")])
    write_images(tmp_path / "t2", ["a.png", "b.png"])
    with pytest.raises(DataError, match=r"unknown label 'mild' \(did you mean 'Mild'\? labels are case-sensitive\)"):
        load(csv, tmp_path / "img", test_csv=test, test_image_dir=tmp_path / "t2")


def test_numbers_mixed_with_text_are_refused(tmp_path, images):
    rows = rows3(images)
    rows[2], rows[8] = (images[2], "severe"), (images[8], "mild")
    with pytest.raises(DataError, match=r"mixes numbers and text: numbers '0' \(line 2\), '1' \(line 3\), '0' "
                                        r"\(line 5\) \(28 rows\), text 'severe' \(line 4\), 'mild' \(line 10\) "
                                        r"\(2 rows\)"):
        load(write_csv(tmp_path / "t.csv", rows), tmp_path / "img")


def test_empty_and_nan_labels_are_refused_naming_the_rows(tmp_path, images):
    rows = rows3(images)
    rows[3], rows[9], rows[12] = (images[3], ""), (images[9], ""), (images[12], "")
    with pytest.raises(DataError, match=r"3 rows of t\.csv have no label \(column 'label'\): line 5 \(image "
                                        r"'img_03\.png'\), line 11 \(image 'img_09\.png'\), line 14"):
        load(write_csv(tmp_path / "t.csv", rows), tmp_path / "img")
    rows = [(n, ["cat", "dog"][i % 2]) for i, n in enumerate(images)]
    rows[3], rows[5], rows[6] = (images[3], "nan"), (images[5], "NA"), (images[6], "#N/A")
    with pytest.raises(DataError, match=r"3 rows have a missing label \('#N/A', 'NA', 'nan'\): line 5 \(image "
                                        r"'img_03\.png'\), line 7 .*line 8"):
        load(write_csv(tmp_path / "t.csv", rows), tmp_path / "img")
    # a class really named "None", when the student lists it
    rows = [(n, ["None", "Mild"][i % 2]) for i, n in enumerate(images)]
    with pytest.raises(DataError, match=r"missing label \('None'\).*pass classes= listing it"):
        load(write_csv(tmp_path / "t.csv", rows), tmp_path / "img")
    assert load(tmp_path / "t.csv", tmp_path / "img", classes=["None", "Mild"]).classes == ["None", "Mild"]


# ---- 4. paths -----------------------------------------------------------------------------------
def test_tilde_spaces_and_unicode_in_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    root = tmp_path / "my data" / "Netzhaut äöü 網膜"
    names = [f"bild {i} é.png" for i in range(12)]
    write_images(root / "train images", names[:9])
    write_images(root / "test images", names[9:])
    write_csv(root / "train labels.csv", rows3(names[:9]))
    write_csv(root / "test labels.csv", rows3(names[9:]))
    home = "~/my data/Netzhaut äöü 網膜/"
    data = load_image_folder(home + "train labels.csv", home + "test labels.csv", image_dir=home + "train images",
                             test_image_dir=home + "test images", image_size=SIZE, crop_ratio=1.0, num_workers=0,
                             verbose=False)
    assert len(data.test_idx) == 3 and data.train_set.paths[0] == str(root / "train images" / names[0])
    assert data.describe()["train_csv"] == str(root / "train labels.csv")
    xb, yb = next(iter(data.loader("train", 4)))
    assert xb.shape == (4, 3, SIZE, SIZE)
    # the image_dir default (the CSV's folder) is found from a ~ path too
    write_images(root, names[:9])
    assert len(load_image_folder(home + "train labels.csv", image_size=SIZE, crop_ratio=1.0, verbose=False,
                                 num_workers=0).train_set) == 9


# ---- 5. the data's digest -----------------------------------------------------------------------
def test_digest_follows_the_content_not_the_path(tmp_path, images, monkeypatch):
    csv = write_csv(tmp_path / "t.csv", rows3(images))
    d = load(csv, tmp_path / "img").describe()
    for key in ("source", "train_csv", "test_csv", "image_dir", "train", "val", "test", "classes", "class_counts",
                "imbalance", "image_size", "normalize", "crop_ratio", "flips", "seed"):
        assert key in d
    assert isinstance(d["digest"], str) and 16 <= len(d["digest"]) <= 32
    # copied elsewhere, spelled another way: the same data
    shutil.copytree(tmp_path / "img", tmp_path / "elsewhere" / "pics")
    shutil.copy(csv, tmp_path / "elsewhere" / "labels.csv")
    moved = load(tmp_path / "elsewhere" / "labels.csv", tmp_path / "elsewhere" / "pics").describe()
    assert moved["digest"] == d["digest"] and moved["image_dir"] != d["image_dir"]
    monkeypatch.chdir(tmp_path)
    assert load("t.csv", "./img/").describe()["digest"] == d["digest"]
    # one label changed, one image replaced, another image size or split: other data
    rows = rows3(images)
    rows[0] = (images[0], 1)
    assert load(write_csv(tmp_path / "t2.csv", rows), tmp_path / "img").describe()["digest"] != d["digest"]
    Image.new("RGB", (SIZE, SIZE), (1, 2, 3)).save(tmp_path / "elsewhere" / "pics" / images[5])
    assert load(tmp_path / "elsewhere" / "labels.csv", tmp_path / "elsewhere" / "pics").describe()["digest"] \
        != d["digest"]
    assert load(csv, tmp_path / "img", image_size=16).describe()["digest"] != d["digest"]
    assert load(csv, tmp_path / "img", seed=1).describe()["digest"] != d["digest"]
    assert load(csv, tmp_path / "img", imbalance="sampler").describe()["digest"] != d["digest"]


# ---- 6. batches ---------------------------------------------------------------------------------
def test_batches_are_nchw_as_the_loader_made_them(tmp_path, images):
    """channels_last=True is accepted but not applied on the CPU: fit converts on the device."""
    data = load(write_csv(tmp_path / "t.csv", rows3(images)), tmp_path / "img")
    for split in ("train", "val", "test"):
        x, y = next(iter(data.loader(split, 4, channels_last=True)))
        assert x.is_contiguous() and x.dim() == 4 and x.shape[1] == 3
        assert not x.is_contiguous(memory_format=torch.channels_last)
        assert x.is_pinned() == torch.cuda.is_available()


# ---- neighbours: the CSV's form -----------------------------------------------------------------
def test_csv_forms_that_are_read(tmp_path, images):
    rows = rows3(images)
    # a BOM (Excel's "CSV UTF-8"), a header in another case, ; separated (a European spreadsheet)
    for path, header, enc, sep in (("bom.csv", "image,label", "utf-8-sig", ","),
                                   ("case.csv", "Image, Label", "utf-8", ","),
                                   ("semi.csv", "image;label", "utf-8", ";")):
        with open(tmp_path / path, "w", encoding=enc) as f:
            f.write(header + "\n" + "\n".join(f"{n}{sep}{lab}" for n, lab in rows) + "\n")
        data = load(tmp_path / path, tmp_path / "img")
        assert data.train_set.class_counts().tolist() == [10, 10, 10], path


def test_csv_forms_that_are_refused_before_training(tmp_path, images):
    img = tmp_path / "img"
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty\.csv' is empty \(no header line, no rows\)"):
        load(tmp_path / "empty.csv", img)
    with pytest.raises(DataError, match=r"lists no images \(it has a header line but no rows\)"):
        load(write_csv(tmp_path / "h.csv", []), img)
    # no header: the first row is taken as one, and said so
    (tmp_path / "nohead.csv").write_text("\n".join(f"{n},{lab}" for n, lab in rows3(images)) + "\n")
    with pytest.raises(ConfigError, match=r"column 'image' is not in .*'img_00\.png', '0'.*looks like a data row"):
        load(tmp_path / "nohead.csv", img)
    with pytest.raises(ConfigError, match=r"column 'label' is not in .* its columns are 'image', 'level'\. "
                                          r"Pass label_col="):
        load(write_csv(tmp_path / "l.csv", rows3(images), header="image,level"), img)
    (tmp_path / "latin.csv").write_bytes("image,label\nimg_00.png,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8 text .*CSV UTF-8"):
        load(tmp_path / "latin.csv", img)
    with pytest.raises(DataError, match=r"every image of one\.csv has the class '0': a classifier needs images of "
                                        r"at least two classes"):
        load(write_csv(tmp_path / "one.csv", [(n, 0) for n in images]), img)
    with pytest.raises(DataError, match="at least two classes"):
        load(write_csv(tmp_path / "one.csv", [(n, "cat") for n in images]), img, classes=["cat", "dog"])


# ---- neighbours: the files ----------------------------------------------------------------------
def test_missing_files_say_where_they_may_be(tmp_path, images):
    csv = write_csv(tmp_path / "t.csv", rows3(images))
    # image_dir one level too high: every file missing, the folder's content named
    with pytest.raises(DataMissingError, match=r"30 of the 30 images .* The folder holds 1 file \(e\.g\. 't\.csv'\) "
                                               r"and the folders 'img' \(is image_dir one level too high\?\)"):
        load(csv, tmp_path)
    # the CSV names in another case than the files
    csv = write_csv(tmp_path / "t.csv", [(n.upper(), lab) for n, lab in rows3(images)])
    with pytest.raises(DataMissingError, match=r"'img_00\.png' exists: file names are case-sensitive"):
        load(csv, tmp_path / "img")


def test_empty_truncated_and_non_image_files_are_refused(tmp_path, images):
    img = tmp_path / "img"
    csv = write_csv(tmp_path / "t.csv", rows3(images))
    (img / images[20]).write_bytes(b"")
    with pytest.raises(DataError, match=r"1 image file listed in t\.csv is empty \(0 bytes.*img_20\.png \(line 22\)"):
        load(csv, img)
    # truncated (an interrupted copy) and a text file named .png, past the first rows: found by verify_images
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(img / images[20])
    data = (img / images[20]).read_bytes()
    (img / images[20]).write_bytes(data[: len(data) // 2])
    (img / images[25]).write_text("image,label\n")
    data = load(csv, img)  # the first rows decode: accepted, the broken ones named when read
    with pytest.raises(DataError, match=r"img_20\.png' \(line 22 of t\.csv\).*verify_images=True"):
        data.train_set.open_image(20)
    with pytest.raises(DataError, match=r"2 of the 30 images checked in t\.csv cannot be read as images: img_20\.png "
                                        r"\(line 22\): OSError: .*img_25\.png \(line 27\): UnidentifiedImageError"):
        load(csv, img, verify_images=True)
    # a CSV whose image column names non-images at the top: refused without verify_images
    with pytest.raises(DataError, match=r"img_25\.png \(line 2\).*is image_col= the column of image files\?"):
        load(write_csv(tmp_path / "t2.csv", [(images[25], 0)] + rows3(images[:20])), img)


# ---- issue 31 rows 17 and 18: files outside the folder, links, errors from DataLoader workers --------------
def test_rows_outside_image_dir_are_refused(tmp_path, images):
    """Row 17: '../../outside.png', an absolute path, a link out of the folder: listed and refused, not read."""
    write_images(tmp_path / "elsewhere", ["outside.png"])
    outside = tmp_path / "elsewhere" / "outside.png"
    os.symlink(outside, tmp_path / "img" / "link.png")
    os.makedirs(tmp_path / "img" / "sub" / "deeper")
    for name, shown in [("sub/deeper/../../../elsewhere/outside.png", "elsewhere/outside.png"),
                        (str(outside), str(outside)), ("link.png", "link.png")]:
        csv = write_csv(tmp_path / "t.csv", rows3(images) + [(name, 0)])
        with pytest.raises(DataError, match=r"1 image listed in t\.csv lies outside image_dir .*" + shown.replace(
                ".", r"\.") + r" \(line 32\).*labkit reads only the images inside image_dir"):
            load(csv, tmp_path / "img")
    os.symlink(tmp_path / "img" / images[0], tmp_path / "img" / "inside.png")  # a link inside the folder: fine
    assert len(load(write_csv(tmp_path / "t.csv", rows3(images[1:]) + [("inside.png", 0)]), tmp_path / "img")
               .train_set) == 30


def test_a_test_image_linked_to_a_training_image_is_leakage(tmp_path, images):
    """Row 17: a test image that is a link to a training image (another name, same file) passes no longer."""
    write_images(tmp_path / "img", [f"t_{i}.png" for i in range(5)], seed=3)
    os.symlink(tmp_path / "img" / images[4], tmp_path / "img" / "t_5.png")
    train = write_csv(tmp_path / "train.csv", rows3(images))
    test = write_csv(tmp_path / "test.csv", rows3([f"t_{i}.png" for i in range(6)]))
    with pytest.raises(DataError, match=r"1 of the 6 test images \(test\.csv\) are also training images.*t_5\.png"):
        load(train, tmp_path / "img", test_csv=test)


def test_an_unreadable_image_in_a_worker_gives_labkits_message_first(tmp_path, images):
    """Row 18: with num_workers=2 torch re-raises a worker's DataError as 'Caught DataError in DataLoader worker
    process 0. Original Traceback ...' (17 lines, labkit's message last): labkit's message comes first."""
    csv = write_csv(tmp_path / "t.csv", rows3(images))
    data = load(csv, tmp_path / "img", num_workers=2)
    (tmp_path / "img" / images[25]).write_bytes(b"not an image")
    with pytest.raises(DataError) as e:
        for _ in data.loader("train", 8, shuffle=False):
            pass
    assert str(e.value).startswith("cannot read image ") and "img_25.png" in str(e.value)
    assert "Traceback" not in str(e.value) and "worker process" in str(e.value)


@pytest.mark.parametrize("option,message", [
    (dict(image_size=2**64), r"image_size must be <= 9223372036854775807"),
    (dict(image_size=100000), r"image_size must be from 8 to 4096 pixels"),
    (dict(crop_ratio="most"), r"crop_ratio must be a number, got the text 'most'"),
    (dict(num_workers=10**30), r"num_workers must be <= 256"),
    (dict(minority_repeat=2**70), r"minority_repeat must be <= 1000"),
    (dict(limit=2**64), r"limit must be a positive whole number \(at most"),
])
def test_folder_options_past_what_torch_takes_are_refused(tmp_path, images, option, message):
    """Issue 31's neighbours of row 13: every whole number of the folder data checked before a torch call."""
    with pytest.raises(ConfigError, match=message):
        load(write_csv(tmp_path / "t.csv", rows3(images)), tmp_path / "img", **option)
