"""The transfer-learning lab on a real image folder built on the fly from the CIFAR-10 subset
(PNG/JPEG files + CSV, deliberately imbalanced: class 0 dominates), torchvision ResNet18/50
from scratch and from local weight files (never downloaded), the four-run study and its
notebook under papermill."""
import json
import os
import urllib.error

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import labkit
from labkit.errors import ConfigError, DataError, DataMissingError, RunExistsError
from labkit.folder_data import ImageCsvDataset, load_image_folder, write_cifar_image_folder
from labkit.studies import run_transfer_study

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_COUNTS = {0: 160, 1: 40, 2: 24}  # airplane dominates, like label 0 in the retinopathy data
TEST_COUNTS = {0: 40, 1: 10, 2: 6}
N_TRAIN, N_TEST = sum(TRAIN_COUNTS.values()), sum(TEST_COUNTS.values())


@pytest.fixture(scope="module")
def folder(subset_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("imgfolder")
    return write_cifar_image_folder(subset_root, root / "png", TRAIN_COUNTS, TEST_COUNTS, fmt="png")


@pytest.fixture(scope="module")
def jpg_folder(subset_root, tmp_path_factory):
    """JPEG files named in the CSV without extension (like the retinopathy CSVs)."""
    root = tmp_path_factory.mktemp("jpgfolder")
    return write_cifar_image_folder(subset_root, root / "jpg", {0: 12, 3: 6}, {0: 4, 3: 2}, fmt="jpg",
                                    with_extension=False)


def paths(folder):
    return dict(train_csv=os.path.join(folder, "train.csv"), test_csv=os.path.join(folder, "test.csv"),
                image_dir=os.path.join(folder, "train"), test_image_dir=os.path.join(folder, "test"))


def make_data(folder, verbose=False, **kw):
    kw = {"image_size": 32, "crop_ratio": 1.0, "num_workers": 0, "verbose": verbose, **kw}
    return load_image_folder(**paths(folder), **kw)


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    """Fresh torchvision ResNet18/50 state dicts saved as local weight files (stand-ins for
    ImageNet weights: same format, no download)."""
    root = tmp_path_factory.mktemp("weights")
    out = {}
    for name, ctor in (("tv_resnet18", torchvision.models.resnet18), ("tv_resnet50", torchvision.models.resnet50)):
        torch.manual_seed(1)
        out[name] = str(root / f"{name}.pth")
        torch.save(ctor(weights=None).state_dict(), out[name])
    return out


def _csv(path, rows, header="image,label"):
    path.write_text("\n".join([header] + rows) + "\n")
    return str(path)


# ---- the Dataset -------------------------------------------------------------------------------
def test_dataset_length_items_and_modes(folder):
    p = paths(folder)
    ds = ImageCsvDataset(p["train_csv"], p["image_dir"], image_size=32, crop_ratio=1.0, mode="test")
    assert len(ds) == N_TRAIN and ds.classes == ["0", "1", "2"]
    assert ds.class_counts().tolist() == [160, 40, 24]
    x, y = ds[5]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == int(ds.labels[5])
    # the test transform is the file's pixels, ImageNet-normalized
    pix = torch.from_numpy(np.array(Image.open(ds.paths[5]).convert("RGB"))).permute(2, 0, 1).float() / 255
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    torch.testing.assert_close(x, (pix - mean) / std)
    # the train mode flips at random; at 224 the input is resized to the model's size
    tr = ImageCsvDataset(p["train_csv"], p["image_dir"], image_size=32, crop_ratio=1.0, mode="train")
    torch.manual_seed(0)
    draws = [tr[5][0] for _ in range(12)]
    assert all(torch.equal(d, x) or torch.equal(d, x.flip(2)) for d in draws)
    assert any(torch.equal(d, x.flip(2)) for d in draws) and any(torch.equal(d, x) for d in draws)
    big = ImageCsvDataset(p["test_csv"], p["test_image_dir"], image_size=224, mode="test")
    assert big[0][0].shape == (3, 224, 224) and len(big) == N_TEST


def test_names_without_extension_need_a_suffix(jpg_folder):
    p = paths(jpg_folder)
    with pytest.raises(DataMissingError, match=r"18 of the 18 images .*missing.*pass suffix='\.jpg'"):
        ImageCsvDataset(p["train_csv"], p["image_dir"], image_size=32)
    ds = ImageCsvDataset(p["train_csv"], p["image_dir"], image_size=32, suffix=".jpg")
    assert len(ds) == 18 and ds[0][0].shape == (3, 32, 32) and ds.paths[0].endswith(".jpg")


def test_text_labels_and_class_order(folder, tmp_path):
    names = [l.split(",")[0] for l in open(paths(folder)["train_csv"]).read().split()[1:4]]
    csv = _csv(tmp_path / "t.csv", [f"{names[0]},cat", f"{names[1]},dog", f"{names[2]},cat"], "file,kind")
    ds = ImageCsvDataset(csv, paths(folder)["image_dir"], image_col="file", label_col="kind", image_size=32)
    assert ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0, 1, 0]
    ds = ImageCsvDataset(csv, paths(folder)["image_dir"], image_col="file", label_col="kind", image_size=32,
                         classes=["dog", "cat"])
    assert ds.labels.tolist() == [1, 0, 1]


def test_missing_files_are_listed_before_training(folder, tmp_path):
    good = open(paths(folder)["train_csv"]).read().split()[1:4]
    rows = good + [f"nope_{i}.png,0" for i in range(7)]
    csv = _csv(tmp_path / "m.csv", rows)
    with pytest.raises(DataMissingError) as e:
        ImageCsvDataset(csv, paths(folder)["image_dir"], image_size=32)
    msg = str(e.value)
    assert "7 of the 10 images listed in m.csv are missing" in msg
    assert "nope_0.png (line 5)" in msg and "nope_4.png (line 9)" in msg and "nope_6.png" not in msg
    assert "and 2 more" in msg


def test_unreadable_image_names_file_and_line(folder, tmp_path):
    (tmp_path / "img").mkdir()
    first = Image.open(os.path.join(paths(folder)["image_dir"], os.listdir(paths(folder)["image_dir"])[0]))
    for k in range(5):
        first.save(tmp_path / "img" / f"ok{k}.png")
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    # among the first rows (decoded at construction): refused before any training, with the reason
    csv = _csv(tmp_path / "b.csv", ["ok0.png,0", "broken.png,1"])
    with pytest.raises(DataError, match=r"1 of the 2 images checked in b\.csv cannot be read as images: "
                                        r"broken\.png \(line 3\): UnidentifiedImageError"):
        ImageCsvDataset(csv, tmp_path / "img", image_size=32)
    # further down: named with its line when read; verify_images=True finds it before training
    csv = _csv(tmp_path / "c.csv", [f"ok{k}.png,{k % 2}" for k in range(5)] + ["broken.png,1"])
    ds = ImageCsvDataset(csv, tmp_path / "img", image_size=32)
    assert ds[0][0].shape == (3, 32, 32)
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png' \(line 7 of c\.csv\).*verify_images=True"):
        ds[5]
    with pytest.raises(DataError, match=r"1 of the 6 images checked in c\.csv .*broken\.png \(line 7\)"):
        ImageCsvDataset(csv, tmp_path / "img", image_size=32, verify_images=True)


def test_bad_labels_and_columns(folder, tmp_path):
    p = paths(folder)
    good = open(p["test_csv"]).read().split()[1:3]
    name = good[1].split(",")[0]
    csv = _csv(tmp_path / "u.csv", [good[0], f"{name},7"])
    with pytest.raises(DataError, match=rf"line 3 of u\.csv \(image '{name}'\): unknown label '7'; the classes are 0\.\.2"):
        ImageCsvDataset(csv, p["test_image_dir"], image_size=32, classes=["0", "1", "2"])
    # a test CSV is checked against the train CSV's classes
    with pytest.raises(DataError, match="unknown label '7'"):
        load_image_folder(p["train_csv"], csv, image_dir=p["image_dir"], test_image_dir=p["test_image_dir"],
                          image_size=32, verbose=False)
    csv = _csv(tmp_path / "e.csv", [good[0], f"{name},"])
    with pytest.raises(DataError, match=r"line 3 of e\.csv .* has no label"):
        ImageCsvDataset(csv, p["test_image_dir"], image_size=32)
    with pytest.raises(ConfigError, match=r"column 'level' is not in .*columns are 'image', 'label'. Pass label_col="):
        ImageCsvDataset(p["test_csv"], p["test_image_dir"], label_col="level")
    with pytest.raises(DataMissingError, match="label file"):
        ImageCsvDataset(tmp_path / "none.csv", p["test_image_dir"])
    with pytest.raises(ConfigError, match="unknown imbalance option 'oversample'"):
        make_data(folder, imbalance="oversample")


# ---- the data object ---------------------------------------------------------------------------
def test_splits_counts_and_describe(folder, capsys):
    data = make_data(folder, verbose=True, imbalance="class_weights", class_names=["airplane", "automobile", "bird"])
    out = capsys.readouterr().out
    assert "224 rows of train.csv, 56 rows of test.csv -> 202 train / 22 validation / 56 test images" in out
    assert "airplane" in out and "(71.3%)" in out and "class-weighted loss" in out
    d = data.describe()
    json.dumps(d)
    assert (d["train"], d["val"], d["test"]) == (202, 22, 56)
    assert d["class_counts"]["test"] == {"airplane": 40, "automobile": 10, "bird": 6}
    # the validation split is stratified and disjoint from training
    assert d["class_counts"]["val"] == {"airplane": 16, "automobile": 4, "bird": 2}
    assert not set(data.train_idx) & set(data.val_idx)
    assert d["minority_classes"] == ["automobile", "bird"]
    # without a test CSV the test split is carved from the train CSV (stratified, disjoint)
    one = load_image_folder(paths(folder)["train_csv"], image_dir=paths(folder)["image_dir"], image_size=32,
                            verbose=False)
    assert (len(one.train_idx), len(one.val_idx), len(one.test_idx)) == (161, 18, 45)
    assert not set(one.test_idx) & (set(one.train_idx) | set(one.val_idx))
    assert one.class_counts("test").tolist() == [32, 8, 5]


def _epoch(loader, epoch):
    loader.set_epoch(epoch)
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)


def test_order_is_deterministic_per_seed_and_epoch(folder):
    data = make_data(folder)
    ld = data.loader("train", 32, augment=True, seed=3)
    assert len(ld) == 7
    x1, y1 = _epoch(ld, 1)
    x1b, y1b = _epoch(data.loader("train", 32, augment=True, seed=3), 1)  # as after a resume
    x2, y2 = _epoch(ld, 2)
    assert torch.equal(x1, x1b) and torch.equal(y1, y1b)
    assert not torch.equal(y1, y2) and sorted(y1.tolist()) == sorted(y2.tolist())
    # worker processes give the very same batches (augmentation seeded per image)
    workers = make_data(folder, num_workers=2).loader("train", 32, augment=True, seed=3)
    xw, yw = _epoch(workers, 1)
    assert torch.equal(xw, x1) and torch.equal(yw, y1)
    xv, yv = _epoch(data.loader("val", 10), 0)
    assert len(yv) == 22 and torch.equal(yv, torch.as_tensor(data.split_labels("val")))


def test_weighted_sampler_draws_classes_about_equally(folder):
    plain = _epoch(make_data(folder).loader("train", 64, shuffle=True), 1)[1]
    assert np.bincount(plain.numpy(), minlength=3)[0] / len(plain) > 0.7
    data = make_data(folder, imbalance="sampler")
    ld = data.loader("train", 64, shuffle=True, seed=0)
    ys = torch.cat([_epoch(ld, e)[1] for e in range(1, 5)]).numpy()
    frac = np.bincount(ys, minlength=3) / len(ys)
    assert len(ys) == 4 * 202 and np.all(np.abs(frac - 1 / 3) < 0.06), frac
    # evaluation splits are never resampled
    assert _epoch(data.loader("test", 64), 1)[1].tolist() == data.split_labels("test").tolist()


def test_class_weights_are_inverse_frequency(folder):
    data = make_data(folder, imbalance="class_weights")
    w = np.array(data.class_weights())
    counts = data.class_counts("train")
    assert counts.tolist() == [144, 36, 22]
    np.testing.assert_allclose(w * counts, [202 / 3] * 3)
    assert data.loss_class_weights == data.class_weights()
    assert make_data(folder, imbalance="sampler").loss_class_weights is None


def test_minority_only_augmentation(folder):
    data = make_data(folder, imbalance="augment_minority", minority_repeat=2)
    for augment in (False, True):
        ld = data.loader("train", 50, augment=augment, seed=1)
        assert len(ld.sampler) == 144 + 2 * (36 + 22)
        ld.set_epoch(1)
        order = ld.sampler.positions()
        x, y = _epoch(ld, 1)
        flipped = 0
        for k, pos in enumerate(order):
            plain, label = data.train_set.load(int(ld.view.idx[pos]), data._eval_tf)
            assert y[k] == label
            if label == 0:  # the majority class: never augmented
                assert torch.equal(x[k], plain)
            elif not augment:  # minority without augment: random flips only
                assert torch.equal(x[k], plain) or torch.equal(x[k], plain.flip(2))
                flipped += torch.equal(x[k], plain.flip(2)) and not torch.equal(plain, plain.flip(2))
            else:
                flipped += not torch.equal(x[k], plain)
        assert flipped > 40
        assert np.bincount(y.numpy()).tolist() == [144, 72, 44]


# ---- models -------------------------------------------------------------------------------------
def test_local_weights_file_is_loaded_and_head_replaced(weight_files):
    state = torch.load(weight_files["tv_resnet18"], weights_only=True)
    m = labkit.get_model("tv_resnet18", num_classes=3, weights=weight_files["tv_resnet18"])
    assert torch.equal(m.conv1.weight, state["conv1.weight"])
    assert torch.equal(m.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert m.fc.out_features == 3
    scratch = labkit.get_model("tv_resnet18", num_classes=3, weights=None)
    assert not torch.equal(scratch.conv1.weight, state["conv1.weight"])
    with pytest.raises(DataMissingError, match="weights file '/no/such.pth' not found"):
        labkit.get_model("tv_resnet18", num_classes=3, weights="/no/such.pth")
    with pytest.raises(labkit.CheckpointError, match="does not fit"):
        labkit.get_model("tv_resnet50", num_classes=3, weights=weight_files["tv_resnet18"])


def test_pretrained_offline_error_names_the_options(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, dst, *a, **k):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(DataMissingError) as e:
        labkit.get_model("tv_resnet50", num_classes=5, weights="imagenet")
    msg = str(e.value)
    assert "resnet50-11ad3fa6.pth" in msg and str(tmp_path / "torch" / "hub" / "checkpoints") in msg
    assert "weights='/path/to/" in msg and "weights=None" in msg and "TORCH_HOME" in msg
    # a truncated file in the cache is named, with the fix
    ck = tmp_path / "torch" / "hub" / "checkpoints"
    (ck / "resnet18-f37072fd.pth").write_bytes(b"truncated")
    with pytest.raises(DataMissingError, match="resnet18-f37072fd.pth exists but could not be read: delete it"):
        labkit.get_model("tv_resnet18", weights="imagenet")
    with pytest.raises(ConfigError, match="no torchvision weights 'IMAGENET1K_V2'"):
        labkit.get_model("tv_resnet18", weights="IMAGENET1K_V2")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tv_resnet18", "resnet50"])
def test_both_models_train_from_scratch_and_from_weights_file(folder, weight_files, tmp_path, name):
    data = make_data(folder, limit=60, test_limit=20, imbalance="class_weights")
    file = weight_files["tv_resnet50" if name == "resnet50" else name]
    for weights in (None, file):
        run = labkit.fit(name, data, epochs=1, batch_size=16, lr=0.01, run_dir=tmp_path, progress=False,
                         verbose=False, model_kwargs={"weights": weights}, eval_batch_size=32)
        cm = np.array(run.confusion_matrix)
        assert cm.shape == (3, 3) and cm.sum() == 20 == len(data.test_idx)
        assert np.isfinite(run.history[0]["train_loss"])
        assert run.config["model_kwargs"] == {"weights": weights}
        np.testing.assert_allclose(run.config["class_weights"], data.class_weights(), rtol=1e-6)
        assert run.config["data"]["imbalance"] == "class_weights"
        # the best model reloads (3-class head) without touching the weights file again
        again = labkit.load_model(os.path.join(run.run_dir, "best_model.pth"))
        assert again.fc.out_features == 3


# ---- the study and the notebook ----------------------------------------------------------------
def test_study_runs_once_then_reads_back(folder, weight_files, tmp_path, capsys):
    data = make_data(folder, limit=48, test_limit=24)
    kw = dict(models=["tv_resnet18"], pretrained=[True, False], weights=weight_files["tv_resnet18"],
              run_dir=tmp_path / "study", epochs=1, batch_size=16, progress=False, eval_batch_size=64,
              freeze_epochs=1)
    study = run_transfer_study(data, **kw)
    # pretrained + freeze_epochs: the backbone kept the file's weights, only the new head trained
    file_state = torch.load(weight_files["tv_resnet18"], weights_only=True)
    pre = study.runs["tv_resnet18 pretrained"]
    assert pre.config["freeze_epochs"] == 1 and study.runs["tv_resnet18 scratch"].config["freeze_epochs"] == 0
    assert torch.equal(pre.model.conv1.weight.cpu(), file_state["conv1.weight"])
    assert torch.equal(pre.model.layer4[1].conv2.weight.cpu(), file_state["layer4.1.conv2.weight"])
    assert list(study.runs) == ["tv_resnet18 pretrained", "tv_resnet18 scratch"]
    assert study.table["pretrained"].tolist() == [True, False] and len(study.table) == 2
    for run in study.runs.values():
        assert np.array(run.confusion_matrix).sum() == 24
    for key, png in study.files.items():
        if key != "table":
            assert Image.open(png).size[0] > 100
    assert open(study.files["table"][1]).read().count("tv_resnet18") >= 2
    mtime = os.path.getmtime(os.path.join(tmp_path, "study", "tv_resnet18-scratch", "best_model.pth"))
    capsys.readouterr()
    again = run_transfer_study(data, **kw)
    assert capsys.readouterr().out.count("already finished; loading its result (no training)") == 2
    assert os.path.getmtime(os.path.join(tmp_path, "study", "tv_resnet18-scratch", "best_model.pth")) == mtime
    assert again.table["test_acc"].tolist() == study.table["test_acc"].tolist()
    with pytest.raises(RunExistsError, match="resume=True"):
        run_transfer_study(data, **{**kw, "resume": False})
    with pytest.raises(ConfigError, match="epochs was 1, now 2"):
        run_transfer_study(data, **{**kw, "epochs": 2})
    with pytest.raises(ConfigError, match="trained on other data"):
        run_transfer_study(make_data(folder, limit=40, test_limit=24), **kw)
    with pytest.raises(ConfigError, match="'resnet18' is the CIFAR model; use 'tv_resnet18'"):
        run_transfer_study(data, **{**kw, "models": ["resnet18"]})


@pytest.mark.slow
def test_notebook_runs_under_papermill(folder, weight_files, tmp_path):
    import papermill as pm

    p = paths(folder)
    params = dict(**p, image_col="image", label_col="label", suffix="", class_names=None,
                  models=["tv_resnet18"], pretrained=[True, False], weights=weight_files["tv_resnet18"],
                  epochs=1, lr=0.01, batch_size=32, image_size=32, crop_ratio=1.0, imbalance="sampler",
                  limit=64, test_limit=30, num_workers=0, run_dir=str(tmp_path / "runs"), seed=0, resume=True)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(os.path.join(REPO, "notebooks", "task_transfer.ipynb"), str(out), parameters=params,
                        kernel_name="python3", cwd=REPO, progress_bar=False)
    nb = json.loads(out.read_text())
    text = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                   for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert text.count("Test Accuracy:") == 2 and "Class imbalance option: weighted random sampler" in text
    import pandas as pd

    table = pd.read_csv(tmp_path / "runs" / "comparison.csv")
    assert table["run"].tolist() == ["tv_resnet18-pretrained", "tv_resnet18-scratch"]
    for run in ("tv_resnet18-pretrained", "tv_resnet18-scratch"):
        res = json.load(open(tmp_path / "runs" / run / "result.json"))
        assert np.array(res["confusion_matrix"]).sum() == 30
    assert os.path.isfile(tmp_path / "runs" / "figures" / "tv_resnet18-scratch_confusion_normalized.png")


def test_study_parameters_checked_up_front():
    from labkit.studies import plan_study

    plan = plan_study('["tv_resnet18", "resnet50"]', "True, False", weights="/some/file.pth", epochs="2",
                      freeze_epochs=1)
    assert [r["folder"] for r in plan] == ["tv_resnet18-pretrained", "tv_resnet18-scratch", "resnet50-pretrained",
                                           "resnet50-scratch"]
    assert plan[0]["train"]["model_kwargs"] == {"weights": "/some/file.pth"} and plan[0]["train"]["freeze_epochs"] == 1
    assert plan[1]["train"]["model_kwargs"] == {"weights": None} and plan[1]["train"]["freeze_epochs"] == 0
    with pytest.raises(ConfigError, match="lr must be a number"):
        plan_study(["tv_resnet18"], [False], lr="fast")
    with pytest.raises(ConfigError, match="pretrained=True needs weights"):
        plan_study(["tv_resnet18"], [True], weights=None)
    with pytest.raises(ConfigError, match="pretrained must be True or False"):
        plan_study(["tv_resnet18"], ["maybe"])
    with pytest.raises(ConfigError, match="unknown training parameter"):
        plan_study(["tv_resnet18"], [False], epoch=3)


def offline(monkeypatch, tmp_path):
    """No cached weights and no network, also for a papermill kernel (it inherits the environment)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens there: every download fails at once
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.slow
def test_notebook_demo_mode_builds_its_own_image_folder(subset_root, tmp_path, monkeypatch):
    """README's offline demo (-p demo_cifar_root ...) with its default models/pretrained, offline and
    without cached ImageNet weights: the notebook writes a small imbalanced image folder from
    CIFAR-10, skips the pretrained run saying why, and trains the from-scratch one."""
    import papermill as pm

    offline(monkeypatch, tmp_path)
    params = dict(demo_cifar_root=subset_root, models=["tv_resnet18"], epochs=1, batch_size=32,
                  image_size=32, limit=60, test_limit=20, num_workers=0, run_dir="runs/transfer", progress=False)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(os.path.join(REPO, "notebooks", "task_transfer.ipynb"), str(out),
                        parameters=params, kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    text = "".join("".join(o.get("text", "")) for c in json.loads(out.read_text())["cells"]
                   for o in c.get("outputs", []))
    assert "SKIPPED 1 of 2 runs (tv_resnet18 pretrained): their pretrained weights cannot be had here" in text
    assert "could not get the pretrained ImageNet weights for tv_resnet18" in text and "weights=None" in text
    assert "Not in it (skipped, pretrained weights unavailable): tv_resnet18 pretrained" in text
    demo = tmp_path / "data" / "cifar_imbalanced"
    assert open(demo / "classes.txt").read().split() == ["airplane", "automobile", "bird"]
    assert len(open(demo / "train.csv").read().split()) == 1 + 500 + 120 + 75
    runs = tmp_path / "runs" / "transfer"
    res = json.load(open(runs / "tv_resnet18-scratch" / "result.json"))
    assert res["classes"] == ["airplane", "automobile", "bird"] and np.array(res["confusion_matrix"]).sum() == 20
    assert not (runs / "tv_resnet18-pretrained").exists()


def test_study_without_weights_stops_or_skips(folder, tmp_path, monkeypatch, capsys):
    offline(monkeypatch, tmp_path)
    data = make_data(folder, limit=48, test_limit=24)
    kw = dict(models=["tv_resnet18"], pretrained=[True], run_dir=tmp_path / "study", epochs=1, progress=False)
    with pytest.raises(DataMissingError, match="could not get the pretrained ImageNet weights.*weights=None"):
        run_transfer_study(data, **kw)  # default: stop before training
    with pytest.raises(DataMissingError, match="no run of the study is left to train.*pretrained=False"):
        run_transfer_study(data, missing_weights="skip", **kw)
    with pytest.raises(ConfigError, match="missing_weights must be 'stop' or 'skip', got 'maybe'"):
        run_transfer_study(data, missing_weights="maybe", **kw)
    assert not (tmp_path / "study").exists()


def test_study_run_that_cannot_continue_stops_then_starts_over(folder, tmp_path):
    data = make_data(folder, limit=48, test_limit=24)
    kw = dict(models=["tv_resnet18"], pretrained=[False], run_dir=tmp_path / "study", epochs=1, batch_size=16,
              progress=False, verbose=False, figures=False)
    run_transfer_study(data, **kw)
    run = tmp_path / "study" / "tv_resnet18-scratch"
    (run / "result.json").unlink()  # a finished run keeps no last.pth (issue 34): with its history gone too,
    (run / "history.json").unlink()  # no whole training state is left: it trains again, nothing deleted
    best = (run / "best_model.pth").read_bytes()
    study = run_transfer_study(data, **kw)
    assert (run / "earlier-1" / "best_model.pth").read_bytes() == best and (run / "result.json").is_file()
    assert len(study.runs["tv_resnet18 scratch"].history) == 1
