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
    if os.environ.get("FAKE_DRIVE_REFUSE"):  # the student declines the permission
        raise ValueError("mount failed")
    if not os.path.exists(mountpoint):
        os.symlink(store, mountpoint)
    print("Mounted at " + mountpoint)
'''
# no labkit before the cell: the editable install goes, its finder or (compat mode) the repository root on
# sys.path (PYTHONPATH holds only the fake google)
PRELUDE = f'''\
import importlib.util, os, sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != {os.path.realpath(REPO)!r}]
_spec = importlib.util.find_spec("labkit")
assert _spec is None or _spec.origin is None, f"labkit importable before the setup cell: {{_spec.origin}}"
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
    assert f"labkit: {root} (version {labkit.__version__}, labkit/ modified " in p.stdout  # path, version, date
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
        assert source in text, f"{nb}: rebuild it (notebooks/build_notebooks.py)"
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
    monkeypatch.delenv(bootstrap.DRIVE_REFUSED, raising=False)  # a refused mount is remembered there: not past the test
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


def test_a_refused_drive_is_not_asked_again(fake_drive, monkeypatch, capsys):
    """Declined once (by the Drive search of the setup cell), keep_runs_on_drive does not ask again and says
    runs stay on the VM; the next run of the setup cell (find_labkit) asks again."""
    monkeypatch.setenv("FAKE_DRIVE_REFUSE", "1")
    with pytest.raises(ValueError, match="mount failed"):
        bootstrap.mount_drive(verbose=False)
    assert keep_runs_on_drive() == str(fake_drive.content / "runs")
    out = capsys.readouterr().out
    assert "not asked again" in out and "runs stay on this VM" in out
    assert fake_drive.mounts() == [str(fake_drive.content / "drive")]
    bootstrap.find_labkit("")  # the setup cell again (labkit importable here: nothing else happens)
    keep_runs_on_drive()
    assert len(fake_drive.mounts()) == 2


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
    assert subprocess.run([sys.executable, "notebooks/build_notebooks.py", "--check"], cwd=copy,
                          capture_output=True).returncode == 0  # the one builder (notebooks and report)


# ---- several copies, a changed zip, unpack failures --------------------------------------------------------
def _last(p):
    return p.stderr.strip().splitlines()[-1]


def _versioned(bundle, dest, version, when=None):
    """The bundle with labkit.__version__ = ``version`` (another labkit), its file dated ``when``."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "labkit/labkit/__init__.py":
                assert f'__version__ = "{labkit.__version__}"'.encode() in data
                data = data.replace(f'__version__ = "{labkit.__version__}"'.encode(), f'__version__ = "{version}"'.encode())
            out.writestr(info, data)
    if when is not None:
        os.utime(dest, (when, when))
    return dest


def _date(text):  # the dates the setup cell prints, at noon UTC so that every time zone shows the same day
    import calendar
    return calendar.timegm(tuple(int(x) for x in text.split("-")) + (12, 0, 0))


def test_a_newer_zip_is_unpacked_again(colab, bundle):
    """labkit.zip unpacked, then a newer labkit.zip uploaded in its place: the second run unpacks it again
    (before: the folder from the old zip was used, silently)."""
    zip_path = colab.content / "labkit.zip"
    _versioned(bundle, zip_path, "0.1.0", _date("2026-01-05"))
    first = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert first.returncode == 0 and f"unpacked {zip_path} into " in first.stdout, first.stderr
    _versioned(bundle, zip_path, "0.2.0", _date("2026-02-05"))
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert f"unpacked {zip_path} into {colab.content / 'labkit'}" in p.stdout
    assert f"labkit: {colab.content / 'labkit'} (version 0.2.0, labkit/ modified 2026-02-05" in p.stdout
    assert "labkit 0.2.0 | torch" in p.stdout
    assert sorted(os.listdir(colab.content)) == ["drive", "labkit", "labkit.zip", "runs"]  # no temporary folder left
    again = colab.run_cell(setup_source(NOTEBOOKS[0]))  # unchanged: not unpacked a third time
    assert again.returncode == 0 and f"unpacked {zip_path}" not in again.stdout and "version 0.2.0" in again.stdout


def test_two_zips_the_newest_is_used(colab, bundle):
    older = _versioned(bundle, colab.content / "labkit.zip", "0.1.0", _date("2026-01-05"))
    newer = _versioned(bundle, colab.content / "labkit (1).zip", "0.3.0", _date("2026-03-05"))
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert f"2 labkit copies found in {colab.content}:" in p.stdout
    assert f"{older}: version 0.1.0, modified 2026-01-05" in p.stdout
    assert f"{newer}: version 0.3.0, modified 2026-03-05" in p.stdout
    assert f"using the newest, {newer}: to use another, set LABKIT_REPO to its folder, or remove or rename" in p.stdout
    assert f"labkit: {colab.content / 'labkit'} (version 0.3.0, " in p.stdout


def test_several_copies_on_drive_the_newest_is_used(colab, bundle):
    """An old My Drive/labkit (a clone) and the My Drive/Colab Notebooks/labkit-main the notebook was opened
    from: both are listed (path, version, date, commit), the newest is used (before: the shallower one)."""
    my_drive = colab.store / "MyDrive"
    zipfile.ZipFile(bundle).extractall(my_drive)
    git = my_drive / "labkit" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text("0123456789abcdef0123456789abcdef01234567\n")
    for folder, _, files in os.walk(my_drive / "labkit" / "labkit"):
        for name in files:
            os.utime(os.path.join(folder, name), (_date("2025-09-15"),) * 2)
    (my_drive / "Colab Notebooks").mkdir()
    _github_zip(bundle, colab.content / "gh.zip")
    zipfile.ZipFile(colab.content / "gh.zip").extractall(my_drive / "Colab Notebooks")
    os.remove(colab.content / "gh.zip")
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    seen = colab.content / "drive" / "MyDrive"
    assert f"2 labkit copies found in {seen}:" in p.stdout
    assert f"{seen / 'labkit'}: version {labkit.__version__}, modified 2025-09-15 " in p.stdout
    assert ", git 0123456" in p.stdout
    assert f"labkit: {seen / 'Colab Notebooks' / 'labkit-main'} (version {labkit.__version__}, " in p.stdout


def _damaged(bundle, dest, member="labkit/labkit/train.py"):
    """The bundle with bytes in the middle of one member's compressed data changed (a broken download)."""
    shutil.copy(bundle, dest)
    with zipfile.ZipFile(dest) as z:
        info = z.getinfo(member)
    with open(dest, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(f.read(2), "little") for _ in range(2))
        f.seek(info.header_offset + 30 + name_len + extra_len + info.compress_size // 2)
        f.write(b"\x00\xff" * 8)
    return dest


def test_damaged_zip_unpacks_nothing_and_says_so(colab, bundle):
    """A damaged member (a raw zlib.error before, after half the zip was unpacked into /content/labkit):
    one line naming the zip, the cause and the fix; nothing unpacked. The zip downloaded again works."""
    zip_path = _damaged(bundle, colab.content / "labkit.zip")
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode != 0
    assert _last(p).startswith(f"SetupError: cannot unpack {zip_path} (") and "download it again" in _last(p), p.stderr
    assert os.listdir(colab.content) == ["labkit.zip"]
    shutil.copy(bundle, zip_path)
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode == 0 and f"labkit: {colab.content / 'labkit'} (" in p.stdout, p.stdout[-2000:] + p.stderr[-3000:]


FULL_DISK = """
import errno, shutil
_calls = []
def _copy(src, dst, *a, **k):  # the disk fills up in the 10th file
    _calls.append(1)
    dst.write(src.read(100))
    if len(_calls) == 10:
        raise OSError(errno.ENOSPC, "No space left on device")
shutil.copyfileobj = _copy
"""
READ_ONLY = """
import errno, os
def _mkdir(path, *a, **k):
    raise OSError(errno.EROFS, "Read-only file system", path)
os.mkdir = _mkdir
"""


@pytest.mark.parametrize("failure, fix", [(FULL_DISK, "the disk is full: free space"),
                                          (READ_ONLY, "is not writable: unpack the zip into a writable folder")],
                         ids=["disk full", "read-only /content"])
def test_unpack_failure_leaves_nothing_and_names_the_fix(colab, bundle, failure, fix):
    zip_path = colab.content / "labkit.zip"
    shutil.copy(bundle, zip_path)
    p = colab.run_cell(failure + setup_source(NOTEBOOKS[0]))
    assert p.returncode != 0
    assert _last(p).startswith(f"SetupError: cannot unpack {zip_path} (OSError: [Errno "), p.stderr[-3000:]
    assert fix in _last(p)
    assert os.listdir(colab.content) == ["labkit.zip"]


def test_half_unpacked_folder_is_never_imported(colab, bundle):
    """What an unpack that failed half-way left in /content/labkit (labkit/__init__.py, not the rest, no
    completion marker): alone, one line saying the copy is incomplete (before: ModuleNotFoundError); with
    its zip next to it, it is replaced by a whole unpack."""
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        z.extractall(colab.content, names[:names.index("labkit/labkit/bundle.py")])
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode != 0
    assert _last(p).startswith(f"SetupError: labkit in {colab.content / 'labkit'} cannot be imported "
                               "(ModuleNotFoundError: "), p.stderr[-3000:]
    assert "incomplete or damaged" in _last(p) and "labkit.zip" in _last(p)
    shutil.copy(bundle, colab.content / "labkit.zip")
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert f"unpacked {colab.content / 'labkit.zip'} into {colab.content / 'labkit'}" in p.stdout


def test_a_zip_without_labkit_and_a_folder_without_init(colab):
    with zipfile.ZipFile(colab.content / "labkit-notebooks.zip", "w") as z:
        z.writestr("notebooks/task1_simplecnn.ipynb", "{}")
    (colab.content / "labkit" / "labkit").mkdir(parents=True)
    (colab.content / "labkit" / "labkit" / "config.py").write_text("")
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode != 0
    assert f"{colab.content / 'labkit-notebooks.zip'}: holds no labkit/ folder" in p.stdout
    assert f"{colab.content / 'labkit'}: labkit/ holds no __init__.py (an incomplete copy" in p.stdout
    assert _last(p).startswith("SetupError: labkit not found: upload labkit.zip") and "holds no" in _last(p)


def test_drive_copy_deeper_than_the_search(colab, bundle):
    """A labkit folder 4 levels below My Drive is not found: the message says how deep the search goes and
    how to use it anyway; LABKIT_REPO set to its folder then does."""
    zipfile.ZipFile(bundle).extractall(colab.store / "MyDrive" / "a" / "b" / "c" / "d")
    p = colab.run_cell(setup_source(NOTEBOOKS[0]))
    assert p.returncode != 0
    assert "(and 3 folder levels below): no labkit/ folder" in p.stdout
    assert "move it up, or set LABKIT_REPO to its folder" in p.stdout
    assert "3 folders deep" in _last(p), p.stderr[-2000:]
    folder = colab.content / "drive" / "MyDrive" / "a" / "b" / "c" / "d" / "labkit"
    p = colab.run_cell(setup_source(NOTEBOOKS[0], str(folder)))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert f"labkit: {folder} (" in p.stdout and f"LABKIT_FILE {folder / 'labkit' / '__init__.py'}\n" in p.stdout


def test_repo_set_clones_first_and_a_refused_drive_is_asked_once(colab, bundle, git_url):
    """LABKIT_REPO set, nothing in /content, an old copy on Drive, the Drive permission declined: the clone
    is used without searching Drive, and Drive is asked for once (before: twice, the first time to walk
    Drive before cloning); runs stay on the VM, said so."""
    zipfile.ZipFile(bundle).extractall(colab.store / "MyDrive")
    colab.env["FAKE_DRIVE_REFUSE"] = "1"
    p = colab.run_cell(setup_source(NOTEBOOKS[0], git_url))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert f"LABKIT_FILE {colab.content / 'labkit' / 'labkit' / '__init__.py'}\n" in p.stdout
    assert "folder levels below" not in p.stdout
    assert colab.mounts() == [str(colab.content / "drive")]
    assert "WARNING: Google Drive is not mounted (ValueError: mount failed); runs stay on this VM" in p.stdout
    assert f"RUNS {colab.content / 'runs'}\n" in p.stdout


# ---- the CLIs run from the folder above a checkout named labkit ---------------------------------------------
def test_cli_from_the_folder_above_a_checkout_named_labkit(tmp_path):
    """`cd ..; labkit/.venv/bin/python -m labkit.handin.submit --help` where the checkout folder is itself
    named labkit: installed by scripts/setup.sh's editable-install line (run as it is, in a copy of the
    checkout with its own .venv), the package wins over the checkout folder, which the working directory
    on sys.path offers as a namespace portion of the same name (before the fix the editable finder came
    after it: ImportError: cannot import name '__version__' from 'labkit' (unknown location))."""
    import sysconfig

    with open(os.path.join(REPO, "scripts", "setup.sh"), encoding="utf-8") as f:
        install = next(line for line in f if "pip install" in line and " -e ." in line)
    checkout = tmp_path / "labkit"
    shutil.copytree(os.path.join(REPO, "labkit"), checkout / "labkit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("resnet18.py", "pyproject.toml"):
        shutil.copy(os.path.join(REPO, name), checkout / name)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(checkout / ".venv")], check=True, timeout=300)
    venv_python = str(checkout / ".venv" / "bin" / "python")
    site = subprocess.run([venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # this .venv's packages (pip, setuptools, torch...): a plain path line, so none of its .pth files (its
    # own labkit install) runs there
    with open(os.path.join(site, "_shared_test_packages.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    p = subprocess.run(["bash", "-c", "set -euo pipefail\n" + install], cwd=checkout, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    for cmd in (["-m", "labkit.handin.submit", "--help"], ["-c", "import labkit; print(labkit.__file__)"]):
        p = subprocess.run([os.path.join("labkit", ".venv", "bin", "python"), *cmd], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert p.stdout.strip() == str(checkout / "labkit" / "__init__.py")
