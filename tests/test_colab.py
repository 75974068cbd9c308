"""Colab without Colab: the setup cell of every notebook run in a fresh process with a fake
``google.colab`` (its ``drive.mount`` links a temporary folder as the mount point), a fresh folder
standing in for /content (LABKIT_CONTENT) and no labkit importable, through each route into Colab
(a labkit zip, a labkit folder on Drive, a git clone); its one-line fixes; runs on Drive across a
disconnect; the precision chosen by compute capability (mocked: there is no GPU here)."""
import json
import os
import shutil
import subprocess
import sys
import types
import zipfile

import nbformat
import pytest
import torch

import labkit
from labkit import bootstrap
from labkit.bundle import make_bundle
from labkit.notebook import device_info, device_report, keep_runs_on_drive
from labkit.device import device_record, resolve_amp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = ["notebooks/task1_simplecnn.ipynb", "notebooks/task2_resnet18.ipynb",
             "notebooks/task3_resnet_depth.ipynb", "notebooks/exercise_vgg.ipynb", "notebooks/task_transfer.ipynb",
             "reports/lab2_report.ipynb"]
FAKE_DRIVE = '''\
import os


def mount(mountpoint, force_remount=False, **kwargs):
    """Colab's drive.mount, faked: the mount point becomes a link to FAKE_DRIVE_STORE (holds MyDrive/)."""
    store = os.environ["FAKE_DRIVE_STORE"]
    with open(os.path.join(store, "mounts.log"), "a") as f:
        f.write(mountpoint + "\\n")
    if not os.path.exists(mountpoint):
        os.symlink(store, mountpoint)
    print("Mounted at " + mountpoint)
'''
# no labkit before the cell: the editable install's finder goes (PYTHONPATH holds only the fake google)
PRELUDE = '''\
import importlib.util, sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
_spec = importlib.util.find_spec("labkit")
assert _spec is None or _spec.origin is None, f"labkit importable before the setup cell: {_spec.origin}"
import google.colab
'''
AFTER = '''
import os
from resnet18 import ResNet18
print("LABKIT_FILE", labkit.__file__)
print("RUNS", os.path.realpath("runs"))
'''


def setup_source(nb_path, repo=None):
    source = nbformat.read(os.path.join(REPO, nb_path), as_version=4).cells[1].source
    assert source.startswith("# @title Setup") and 'LABKIT_REPO = ""' in source
    return source if repo is None else source.replace('LABKIT_REPO = ""', f"LABKIT_REPO = {json.dumps(repo)}")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(str(tmp_path_factory.mktemp("dist") / "labkit.zip"), root=REPO, verbose=False)


@pytest.fixture(scope="module")
def git_url(bundle, tmp_path_factory):
    """A git repository holding the bundle's files (what a course's labkit repository holds)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    src = tmp_path_factory.mktemp("git")
    zipfile.ZipFile(bundle).extractall(src)
    repo = src / "labkit"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "labkit"]):
        subprocess.run(git + cmd, cwd=repo, check=True, capture_output=True)
    return f"file://{repo}"


class Colab:
    """A fresh /content and Google Drive store, and the fake google.colab package."""

    def __init__(self, base):
        self.content, self.store = base / "content", base / "gdrive"
        (self.store / "MyDrive").mkdir(parents=True)
        self.content.mkdir()
        mods = base / "fake_modules" / "google" / "colab"
        mods.mkdir(parents=True)
        (mods.parent / "__init__.py").write_text("")
        (mods / "__init__.py").write_text("from . import drive\n")
        (mods / "drive.py").write_text(FAKE_DRIVE)
        self.modules = str(base / "fake_modules")
        self.env = {"LABKIT_CONTENT": str(self.content), "FAKE_DRIVE_STORE": str(self.store),
                    "COLAB_RELEASE_TAG": "fake"}

    def run_cell(self, source):
        env = {k: v for k, v in os.environ.items() if k not in ("LABKIT_DRIVE", "PYTHONPATH")}
        env.update(self.env, PYTHONPATH=self.modules)
        return subprocess.run([sys.executable, "-c", PRELUDE + source + AFTER], cwd=self.content, env=env,
                              capture_output=True, text=True, timeout=300)

    def mounts(self):
        log = self.store / "mounts.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def colab(tmp_path):
    return Colab(tmp_path)


def _github_zip(bundle, dest):
    """GitHub's "Download ZIP" of the repository: the same files under labkit-main/."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(dest, "w") as out:
        for info in src.infolist():
            out.writestr("labkit-main/" + info.filename.split("/", 1)[1], src.read(info))


def _route(kind, colab, bundle, request):
    """Put labkit where a student would for route ``kind``; returns (LABKIT_REPO, expected labkit root)."""
    if kind == "zip in /content":
        shutil.copy(bundle, colab.content / "labkit.zip")
        return "", colab.content / "labkit"
    if kind == "GitHub zip on Drive":
        (colab.store / "MyDrive" / "Colab Notebooks").mkdir()
        _github_zip(bundle, colab.store / "MyDrive" / "Colab Notebooks" / "labkit-main (1).zip")
        return "", colab.content / "labkit-main"
    if kind == "folder on Drive":
        zipfile.ZipFile(bundle).extractall(colab.store / "MyDrive" / "courses" / "dl")
        return "", colab.content / "drive" / "MyDrive" / "courses" / "dl" / "labkit"
    return request.getfixturevalue("git_url"), colab.content / "labkit"  # git clone


def _distinct_setup_cells():
    """One notebook per distinct setup cell (the lab notebooks share one text, the report has its own):
    running one runs them all."""
    first = {}
    for nb in NOTEBOOKS:
        first.setdefault(setup_source(nb), nb)
    return sorted(first.values())


@pytest.mark.parametrize("kind", ["zip in /content", "GitHub zip on Drive", "folder on Drive", "git clone"])
@pytest.mark.parametrize("nb", _distinct_setup_cells())
def test_setup_cell_routes(nb, kind, colab, bundle, request):
    repo, root = _route(kind, colab, bundle, request)
    p = colab.run_cell(setup_source(nb, repo))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert f"LABKIT_FILE {root / 'labkit' / '__init__.py'}\n" in p.stdout
    assert f"labkit: {root}\n" in p.stdout
    # runs go to Drive (mounted once for the search and the runs), the device and precision are printed
    assert f"RUNS {colab.store / 'MyDrive' / 'labkit_runs'}\n" in p.stdout
    assert colab.mounts() == [str(colab.content / "drive")]
    assert "runs: runs/ -> " in p.stdout and "| precision: " in p.stdout


@pytest.mark.parametrize("nb", NOTEBOOKS)
def test_setup_cell_fixes(nb, colab):
    """No labkit anywhere: a placeholder URL, then no URL. Each fails with one line naming the fix,
    after the list of places it looked in."""
    placeholder = colab.run_cell(setup_source(nb, "https://github.com/<org>/labkit"))
    missing = colab.run_cell(setup_source(nb))
    for p in (placeholder, missing):
        assert p.returncode != 0
        last = p.stderr.strip().splitlines()[-1]
        assert last.startswith("SetupError: ") and "run" in last and "labkit.zip" in last, p.stderr[-2000:]
        assert f"Looked for labkit in:\n  {colab.content} and its parent" in p.stdout
        assert str(colab.store / "MyDrive") not in p.stdout  # the mount point's path is what is shown
        assert f"{colab.content / 'drive' / 'MyDrive'} (and 3 folder levels below)" in p.stdout
    assert "LABKIT_REPO is still a placeholder (https://github.com/<org>/labkit)" in placeholder.stderr
    assert "--repo URL" in placeholder.stderr.strip().splitlines()[-1]
    assert "SetupError: labkit not found: upload labkit.zip" in missing.stderr
    assert "git clone: LABKIT_REPO is not set" in missing.stdout


def test_clone_failure_shows_git_output(colab, tmp_path):
    p = colab.run_cell(setup_source(NOTEBOOKS[0], f"file://{tmp_path}/no-such-repo"))
    assert p.returncode != 0
    assert "fatal:" in p.stdout and "git clone of LABKIT_REPO" in p.stdout  # git's own words, captured
    assert "SetupError: git clone of LABKIT_REPO failed (its output is above)" in p.stderr.strip().splitlines()[-1]


def test_run_captured_shows_output_on_failure():
    with pytest.raises(bootstrap.SetupError, match=r"(?s)pip install failed \(exit 3\).*boom: no such package"):
        bootstrap.run_captured([sys.executable, "-c", "import sys; print('boom: no such package'); sys.exit(3)"],
                               "pip install")


def test_outside_colab_no_labkit(tmp_path, monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bootstrap.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(bootstrap.SetupError, match="open this notebook inside the labkit folder"):
        bootstrap.find_labkit("")


def test_bundle_contents(bundle):
    names = zipfile.ZipFile(bundle).namelist()
    assert all(n.startswith("labkit/") for n in names) and not any("__pycache__" in n for n in names)
    for need in ("labkit/labkit/__init__.py", "labkit/labkit/bootstrap.py", "labkit/labkit/models/simplecnn.py",
                 "labkit/resnet18.py", "labkit/requirements-colab.txt", "labkit/requirements-pdf.txt",
                 "labkit/reports/lab2_report.ipynb", "labkit/README.md"):
        assert need in names
    assert {f"labkit/{nb}" for nb in NOTEBOOKS} <= set(names)
    # the same files give the same zip (a TA can rebuild and compare)
    again = make_bundle(bundle + ".again.zip", root=REPO, verbose=False)
    assert open(bundle, "rb").read() == open(again, "rb").read()


def test_notebooks_inline_the_bootstrap_and_hold_no_placeholder():
    with open(os.path.join(REPO, "labkit", "bootstrap.py"), encoding="utf-8") as f:
        source = f.read().rstrip("\n")
    for nb in NOTEBOOKS:
        text = setup_source(nb)
        assert source in text, f"{nb}: rebuild it (notebooks/build_notebooks.py, reports/build_report.py)"
        assert "<org>" not in open(os.path.join(REPO, nb), encoding="utf-8").read()
    with open(os.path.join(REPO, "requirements-colab.txt")) as f:
        colab_reqs = [line.split("==")[0] for line in f.read().splitlines() if line and not line.startswith("#")]
    assert colab_reqs == ["torchsummary", "ultralytics-thop"]  # the lab notebooks' needs; no PDF tools


def test_build_repo_option_refuses_a_placeholder(capsys):
    sys.path.insert(0, os.path.join(REPO, "notebooks"))
    try:
        import build_notebooks
    finally:
        sys.path.remove(os.path.join(REPO, "notebooks"))
    assert build_notebooks.main(["--repo", "https://github.com/<org>/labkit"]) == 2
    assert "is a placeholder" in capsys.readouterr().out
    cell = build_notebooks.setup_cell("pass", repo="https://github.com/course/labkit")
    assert 'LABKIT_REPO = "https://github.com/course/labkit"  # @param' in cell


# ---- runs on Google Drive -----------------------------------------------------------------------------------
@pytest.fixture
def fake_drive(colab, monkeypatch):
    """google.colab in this process (the same fake mount); LABKIT_CONTENT set to the fresh /content."""
    drive = types.ModuleType("google.colab.drive")
    exec(FAKE_DRIVE, drive.__dict__)
    pkg = types.ModuleType("google.colab")
    pkg.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", pkg)
    monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    for k, v in colab.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("LABKIT_DRIVE", raising=False)
    monkeypatch.chdir(colab.content)
    return colab


def test_keep_runs_on_drive_never_moves_existing_runs(fake_drive, capsys):
    runs = fake_drive.content / "runs"
    (runs / "simplecnn-1").mkdir(parents=True)
    assert keep_runs_on_drive() == str(runs) and not runs.is_symlink()
    assert "already holds runs" in capsys.readouterr().out
    shutil.rmtree(runs / "simplecnn-1")  # empty now: replaced by the link
    target = str(fake_drive.store / "MyDrive" / "labkit_runs")
    assert os.path.realpath(keep_runs_on_drive()) == target and os.path.realpath(runs) == target
    assert os.path.realpath(keep_runs_on_drive()) == target  # again: unchanged
    assert fake_drive.mounts() == [str(fake_drive.content / "drive")]


def test_drive_mount_point_from_env(fake_drive, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DRIVE", str(tmp_path / "gd"))
    target = os.path.realpath(keep_runs_on_drive(verbose=False))
    assert fake_drive.mounts() == [str(tmp_path / "gd")] and target == str(fake_drive.store / "MyDrive" / "labkit_runs")


def test_keep_runs_on_drive_when_mount_fails(fake_drive, monkeypatch, capsys):
    def refuse(mountpoint, **kw):
        raise ValueError("mount failed")

    monkeypatch.setattr(sys.modules["google.colab.drive"], "mount", refuse)
    assert keep_runs_on_drive() == str(fake_drive.content / "runs")
    assert "WARNING: Google Drive is not mounted (ValueError: mount failed)" in capsys.readouterr().out


def test_runs_on_drive_survive_a_disconnect(fake_drive, subset_root, tmp_path, monkeypatch):
    """A run interrupted after epoch 1 (the VM disconnects); on a new VM, setup links runs/ to Drive
    again, resume continues after epoch 1, and the report reads the run from there."""
    import labkit.train
    from labkit import report

    keep_runs_on_drive(verbose=False)
    real_evaluate, calls = labkit.train.evaluate, []

    def disconnect_in_epoch_2(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("disconnected")
        return real_evaluate(*a, **k)

    monkeypatch.setattr(labkit.train, "evaluate", disconnect_in_epoch_2)
    params = dict(epochs=2, batch_size=64, lr=0.02, progress=False, verbose=False, device="cpu")
    small = labkit.load_cifar10(subset_root, limit=256, test_limit=64, normalize="fixed", device="cpu",
                                verbose=False)
    with pytest.raises(KeyboardInterrupt):
        labkit.fit("simplecnn", small, run_dir="runs", **params)
    monkeypatch.setattr(labkit.train, "evaluate", real_evaluate)
    new_vm = tmp_path / "vm2"
    new_vm.mkdir()
    monkeypatch.setenv("LABKIT_CONTENT", str(new_vm))
    monkeypatch.chdir(new_vm)
    keep_runs_on_drive(verbose=False)
    run = labkit.fit("simplecnn", small, run_dir="runs", resume=True, **params)
    assert [h["epoch"] for h in run.history] == [1, 2]
    log = open(os.path.join(run.run_dir, "log.txt")).read()
    assert "Resuming" in log and "after epoch 1 of 2" in log
    assert os.path.realpath(run.run_dir).startswith(str(fake_drive.store / "MyDrive" / "labkit_runs"))
    assert fake_drive.mounts() == [str(fake_drive.content / "drive"), str(new_vm / "drive")]
    cfg = json.load(open(os.path.join(run.run_dir, "config.json")))
    assert cfg["gpu"] is None and cfg["gpu_capability"] is None and cfg["precision"] in ("bf16", "fp32")
    assert report.latest_runs("runs", "simplecnn")[0].test_acc == run.test_acc


# ---- precision by compute capability (no GPU here: torch.cuda mocked) ---------------------------------------
@pytest.fixture(params=[((7, 5), "Tesla T4"), ((8, 0), "NVIDIA A100-SXM4-40GB")], ids=["T4", "A100"])
def fake_gpu(request, monkeypatch):
    capability, name = request.param
    props = types.SimpleNamespace(name=name, total_memory=15 * 2**30, major=capability[0], minor=capability[1])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # True on a T4 too (emulation)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    return capability, name


def test_precision_by_compute_capability(fake_gpu):
    capability, name = fake_gpu
    cuda = torch.device("cuda")
    native = capability >= (8, 0)
    assert resolve_amp("auto", cuda) == ((torch.bfloat16, False) if native else (torch.float16, True))
    assert resolve_amp("fp16", cuda) == (torch.float16, True)
    assert resolve_amp("off", cuda) == (None, False)
    if not native:
        with pytest.warns(UserWarning, match="emulated"):
            assert resolve_amp("bf16", cuda) == (torch.bfloat16, False)
    rec = device_record(cuda, *resolve_amp("auto", cuda))
    assert rec == {"gpu": name, "gpu_capability": "{}.{}".format(*capability),
                   "precision": "bf16" if native else "fp16 + GradScaler"}
    info = device_info()
    assert info["device"] == "cuda" and info["gpu_memory_gib"] == 15.0 and info["precision"] == rec["precision"]
    line = device_report(info)
    assert f"GPU: {name} (15.0 GiB, compute capability {rec['gpu_capability']}) | precision: {rec['precision']}" in line


def test_pip_failure_shows_its_output_and_the_fix(monkeypatch, capsys):
    from labkit import notebook

    monkeypatch.setitem(notebook.COLAB_NEEDS, "labkit_no_such_module", "labkit-no-such-package")
    monkeypatch.setattr(notebook, "run_captured", lambda cmd, what: bootstrap.run_captured(
        [sys.executable, "-c", "import sys; print('ERROR: No matching distribution'); sys.exit(1)"], what))
    with pytest.raises(bootstrap.SetupError, match=r"^pip could not install labkit-no-such-package .*online"):
        notebook.install_missing(None, install=True)
    assert "ERROR: No matching distribution" in capsys.readouterr().out


def test_build_repo_option_sets_every_notebook(tmp_path):
    """`build_notebooks.py --repo URL` (in a copy of the repository): every notebook's setup cell gets
    the URL, stored in one file, and the builders' --check then passes."""
    copy = tmp_path / "repo"
    for d in ("labkit", "notebooks", "reports"):
        shutil.copytree(os.path.join(REPO, d), copy / d, ignore=shutil.ignore_patterns("__pycache__", "*.tmp"))
    url = "https://github.com/course/labkit"
    p = subprocess.run([sys.executable, "notebooks/build_notebooks.py", "--repo", url], cwd=copy,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (copy / "notebooks" / "labkit_repo.txt").read_text().strip() == url
    for nb in NOTEBOOKS:
        assert f'LABKIT_REPO = "{url}"  # @param' in nbformat.read(str(copy / nb), as_version=4).cells[1].source, nb
    for script in ("notebooks/build_notebooks.py", "notebooks/build_transfer_notebook.py", "reports/build_report.py"):
        assert subprocess.run([sys.executable, script, "--check"], cwd=copy, capture_output=True).returncode == 0
