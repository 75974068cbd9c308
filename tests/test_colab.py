"""Colab without Colab: the setup cell of every notebook run in a fresh process with a fake
``google.colab`` (its ``drive.mount`` links a temporary folder as the mount point), a fresh folder
standing in for /content (LABKIT_CONTENT), a fresh virtual environment standing in for Colab's Python
(torch and the rest from this one, no labkit) and each documented source of labkit: the course's git URL
(LABKIT_REPO), the folder My Drive/labkit/, My Drive/labkit.zip (the bundle, or GitHub's Download ZIP);
pip installs it. Also: its one-line fixes; runs and CIFAR-10 on Drive across a disconnect; Drive's free
space; a CPU runtime refusing a long study; the precision chosen by compute capability (mocked: no GPU here)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import types
import zipfile

import nbformat
import pytest
import torch

import labkit
from labkit import notebook
from labkit._version import RELEASE, git_commit
from labkit.bundle import make_bundle
from labkit.notebook import SetupError, device_info, device_report, keep_runs_on_drive
from labkit.device import device_record, resolve_amp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = ["notebooks/task1_simplecnn.ipynb", "notebooks/task2_resnet18.ipynb",
             "notebooks/task3_resnet_depth.ipynb", "notebooks/exercise_vgg.ipynb", "notebooks/task_transfer.ipynb",
             "reports/lab2_report.ipynb", "reports/resnet_report.ipynb", "reports/transfer_report.ipynb"]
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
PRELUDE = '''\
import importlib.util
_spec = importlib.util.find_spec("labkit")
assert _spec is None or _spec.origin is None, f"labkit importable before the setup cell: {_spec.origin}"
import google.colab
'''
AFTER = '''
import os, resnet18
print("LABKIT_FILE", labkit.__file__)
print("RESNET18_FILE", resnet18.__file__)
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
    """A git repository holding the bundle's files (what a course's labkit repository holds); its URL and
    the version labkit says there."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    src = tmp_path_factory.mktemp("git")
    zipfile.ZipFile(bundle).extractall(src)
    repo = src / "labkit"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "labkit"]):
        subprocess.run(git + cmd, cwd=repo, check=True, capture_output=True)
    return f"file://{repo}", f"{RELEASE}+g{git_commit(str(repo))}"


class Colab:
    """A fresh /content, Google Drive store and Python (a venv: this one's packages, no labkit; pip installs
    into it), and the fake google.colab package."""

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
        self.base, self.python = base, None  # the venv: made by the first cell run

    @staticmethod
    def new_vm(venv):
        """A fresh Python: a venv whose packages are this environment's, read as a plain path (so its .pth
        files, this checkout's editable labkit among them, do not run there)."""
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
        python = str(venv / "bin" / "python")
        site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(site, "_colab_packages.pth"), "w") as f:
            f.write(sysconfig.get_paths()["purelib"] + "\n")
        return python

    def run_cell(self, source, cwd=None, fresh=True):
        """The cell in a new process (``fresh``: labkit must not be importable before it, as in a new VM)."""
        env = {k: v for k, v in os.environ.items() if k not in ("LABKIT_DRIVE", "PYTHONPATH", "VIRTUAL_ENV")}
        env.update(self.env, PYTHONPATH=self.modules)
        self.python = self.python or self.new_vm(self.base / "vm")
        prelude = PRELUDE if fresh else "import google.colab\n"
        return subprocess.run([self.python, "-c", prelude + source + AFTER], cwd=cwd or self.content, env=env,
                              capture_output=True, text=True, timeout=600)

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
    """Put labkit where the setup cell's documentation says for ``kind``; returns (LABKIT_REPO, the folder
    labkit is imported from (None: pip's site-packages), the version it says)."""
    version = f"{RELEASE}+g{git_commit(REPO)}"  # the bundle's stamp: the commit it was made from
    my_drive = colab.store / "MyDrive"
    if kind == "labkit.zip on Drive":
        shutil.copy(bundle, my_drive / "labkit.zip")
        return "", None, version
    if kind == "GitHub zip on Drive":
        _github_zip(bundle, my_drive / "labkit.zip")
        return "", None, version
    if kind == "folder on Drive":
        zipfile.ZipFile(bundle).extractall(my_drive)
        return "", colab.content / "drive" / "MyDrive" / "labkit", version
    url, version = request.getfixturevalue("git_url")
    return url, colab.content / "labkit", version


def _distinct_setup_cells():
    """One notebook per distinct setup cell (the lab notebooks share one text, the report has its own)."""
    first = {}
    for nb in NOTEBOOKS:
        first.setdefault(setup_source(nb), nb)
    return sorted(first.values())


def _site_packages(colab):
    colab.python = colab.python or colab.new_vm(colab.base / "vm")
    return subprocess.run([colab.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["git URL", "folder on Drive", "labkit.zip on Drive", "GitHub zip on Drive"])
@pytest.mark.parametrize("nb", _distinct_setup_cells())
def test_setup_cell_installs_labkit_from_each_source(nb, kind, colab, bundle, request):
    """A fresh Colab-like kernel reaches `import labkit` through each documented source, pip installing it
    (editable for a git URL and a Drive folder: resnet18.py and labkit are read from that folder); the
    version (release + commit) is printed; runs go to Drive, mounted once."""
    repo, root, version = _route(kind, colab, bundle, request)
    p = colab.run_cell(setup_source(nb, repo))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    where = root if root is not None else _site_packages(colab)
    assert f"LABKIT_FILE {os.path.join(where, 'labkit', '__init__.py')}\n" in p.stdout
    assert f"RESNET18_FILE {os.path.join(where, 'resnet18.py')}\n" in p.stdout
    assert "pip install " in p.stdout and f"labkit {version} | torch " in p.stdout
    assert f"RUNS {colab.store / 'MyDrive' / 'labkit_runs'}\n" in p.stdout
    assert colab.mounts() == [str(colab.content / "drive")]
    assert "runs: runs/ -> " in p.stdout and "| precision: " in p.stdout
    if kind == "git URL":  # the kernel restarted: pip's install is there, nothing installed again
        again = colab.run_cell(setup_source(nb, repo), fresh=False)
        assert again.returncode == 0 and "pip install" not in again.stdout, again.stderr[-3000:]
        assert f"LABKIT_FILE {root / 'labkit' / '__init__.py'}\n" in again.stdout


@pytest.mark.slow
def test_a_students_edit_in_the_drive_folder_counts_on_the_next_vm(colab, bundle, tmp_path):
    """My Drive/labkit/ is installed editable: resnet18.py edited there is what the next VM imports."""
    zipfile.ZipFile(bundle).extractall(colab.store / "MyDrive")
    edited = colab.store / "MyDrive" / "labkit" / "resnet18.py"
    edited.write_text(edited.read_text() + "\nSTUDENT_EDIT = 'mine'\n")
    colab.content = tmp_path / "content2"
    colab.content.mkdir()
    colab.env["LABKIT_CONTENT"], colab.python = str(colab.content), Colab.new_vm(tmp_path / "vm2")
    p = colab.run_cell(setup_source(NOTEBOOKS[0]) + "\nimport resnet18\nprint('EDIT', resnet18.STUDENT_EDIT)\n")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "EDIT mine\n" in p.stdout


@pytest.mark.parametrize("nb", NOTEBOOKS)
def test_setup_cell_without_labkit_names_the_fix(nb, colab):
    """No labkit anywhere, no LABKIT_REPO: one line naming the places and the fix, Drive asked once."""
    p = colab.run_cell(setup_source(nb))
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: labkit not found: put the labkit folder (or labkit.zip) in My Drive"), last
    assert "LABKIT_REPO" in last and "run this cell again" in last
    assert colab.mounts() == [str(colab.content / "drive")]


def test_a_failing_pip_shows_its_output_and_the_fix(colab, tmp_path):
    p = colab.run_cell(setup_source(NOTEBOOKS[0], f"file://{tmp_path}/no-such-repo"))
    assert p.returncode != 0
    assert f"pip install -e git+file://{tmp_path}/no-such-repo#egg=labkit" in p.stdout
    assert "no-such-repo" in p.stderr and "error" in p.stderr.lower()  # pip's own words, captured
    assert f"pip could not install labkit (its output is above): check -e git+file://{tmp_path}/no-such-repo" \
        in p.stderr
    assert colab.mounts() == []  # a git URL needs no Drive to install


def test_setup_cell_holds_the_install_and_no_more_than_40_lines():
    shipped = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.ipynb"))
                     + glob.glob(os.path.join(REPO, "reports", "*.ipynb")))
    assert sorted(os.path.join(REPO, nb) for nb in NOTEBOOKS) == shipped  # every notebook labkit ships
    with open(os.path.join(REPO, "notebooks", "setup_cell.py"), encoding="utf-8") as f:
        code = f.read().rstrip("\n")
    for nb in NOTEBOOKS:
        text = setup_source(nb)
        assert code in text, f"{nb}: rebuild it (notebooks/build_notebooks.py)"
        assert len(text.splitlines()) <= 40, (nb, len(text.splitlines()))
        assert "<org>" not in open(os.path.join(REPO, nb), encoding="utf-8").read()
    with open(os.path.join(REPO, "requirements-colab.txt")) as f:
        colab_reqs = [line.split("==")[0] for line in f.read().splitlines() if line and not line.startswith("#")]
    assert colab_reqs == ["torchsummary", "ultralytics-thop"]  # the lab notebooks' needs; no PDF tools


def test_run_captured_shows_output_on_failure():
    with pytest.raises(SetupError, match=r"(?s)pip install failed \(exit 3\).*boom: no such package"):
        notebook.run_captured([sys.executable, "-c", "import sys; print('boom: no such package'); sys.exit(3)"],
                              "pip install")


def test_bundle_contents(bundle):
    names = zipfile.ZipFile(bundle).namelist()
    assert all(n.startswith("labkit/") for n in names) and not any("__pycache__" in n for n in names)
    for need in ("labkit/labkit/__init__.py", "labkit/labkit/_version.py", "labkit/labkit/models/simplecnn.py",
                 "labkit/resnet18.py", "labkit/requirements-colab.txt", "labkit/requirements-pdf.txt",
                 "labkit/reports/lab2_report.ipynb", "labkit/README.md", "labkit/pyproject.toml"):
        assert need in names
    assert {f"labkit/{nb}" for nb in NOTEBOOKS} <= set(names)
    stamped = zipfile.ZipFile(bundle).read("labkit/labkit/_version.py").decode()
    assert f'ARCHIVE_COMMIT = "{git_commit(REPO)}"' in stamped  # the commit it was made from
    # the same files give the same zip (a TA can rebuild and compare)
    again = make_bundle(bundle + ".again.zip", root=REPO, verbose=False)
    assert open(bundle, "rb").read() == open(again, "rb").read()


def test_version_names_the_commit():
    """labkit's version changes with every commit: the checkout's, else the one an archive was stamped with."""
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if commit:
        assert labkit.__version__ == f"{RELEASE}+g{commit[:7]}"
    archive = subprocess.run(["git", "-C", REPO, "archive", "HEAD", "labkit/_version.py", ".gitattributes"],
                             capture_output=True)
    if archive.returncode == 0 and b"export-subst" in archive.stdout:  # GitHub's Download ZIP does the same
        assert f'ARCHIVE_COMMIT = "{commit[:7]}'.encode() in archive.stdout


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


def test_setup_with_a_refused_drive_asks_once_and_says_runs_stay(fake_drive, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_DRIVE_REFUSE", "1")
    info = notebook.setup(install=False, verbose=False)
    assert info["runs"] == str(fake_drive.content / "runs")
    out = capsys.readouterr().out
    assert "WARNING: Google Drive is not mounted (ValueError: mount failed); runs stay on this VM" in out
    assert fake_drive.mounts() == [str(fake_drive.content / "drive")]


def test_drive_short_of_space_is_warned(fake_drive, monkeypatch, capsys):
    """The setup cell warns when Drive has less free space than the lab's runs and CIFAR-10 keep."""
    usage = types.SimpleNamespace(total=15 * 10**9, used=14.5 * 10**9, free=5 * 10**8)
    monkeypatch.setattr(notebook.shutil, "disk_usage", lambda path: usage)
    info = notebook.setup(install=False, verbose=False)
    out = capsys.readouterr().out
    assert "WARNING: Google Drive has 0.50 GB free; the lab's runs and CIFAR-10 keep about 2.0 GB" in out
    assert os.path.realpath(info["data"]) == str(fake_drive.store / "MyDrive" / "labkit_data")
    monkeypatch.setattr(notebook.shutil, "disk_usage", lambda path: types.SimpleNamespace(free=50 * 10**9))
    notebook.setup(install=False, verbose=False)
    assert "WARNING" not in capsys.readouterr().out


def test_cifar10_on_drive_is_read_on_a_second_vm_without_download(fake_drive, subset_root, tmp_path, monkeypatch):
    """The notebooks' default data_root ./data links to My Drive/labkit_data: the first VM downloads CIFAR-10
    there (faked: the subset copied, as torchvision's download would), a second VM reads it with no download."""
    import labkit.data

    downloads = []

    def fake_download(root):
        downloads.append(root)
        shutil.copytree(os.path.join(subset_root, "cifar-10-batches-py"), os.path.join(root, "cifar-10-batches-py"))

    monkeypatch.setattr(labkit.data, "download_cifar10", fake_download)
    load = dict(limit=100, test_limit=50, device="cpu", verbose=False)
    notebook.setup(install=False, verbose=False)
    first = labkit.load_cifar10("./data", **load)
    assert len(downloads) == 1 and os.path.isdir(fake_drive.store / "MyDrive" / "labkit_data" / "cifar-10-batches-py")
    new_vm = tmp_path / "vm2"
    new_vm.mkdir()
    monkeypatch.setenv("LABKIT_CONTENT", str(new_vm))
    monkeypatch.chdir(new_vm)
    info = notebook.setup(install=False)
    second = labkit.load_cifar10("./data", **load)
    assert len(downloads) == 1  # read from Drive
    assert second.describe() == first.describe() and os.path.realpath(info["data"]).startswith(str(fake_drive.store))


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
    assert cfg["labkit"] == labkit.__version__  # which labkit (release + commit) trained it
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
    run_captured = notebook.run_captured
    monkeypatch.setitem(notebook.COLAB_NEEDS, "labkit_no_such_module", "labkit-no-such-package")
    monkeypatch.setattr(notebook, "run_captured", lambda cmd, what: run_captured(
        [sys.executable, "-c", "import sys; print('ERROR: No matching distribution'); sys.exit(1)"], what))
    with pytest.raises(SetupError, match=r"^pip could not install labkit-no-such-package .*online"):
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


# ---- the CLIs run from the folder above a checkout named labkit ---------------------------------------------
@pytest.mark.slow
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


# ---- a Colab CPU runtime never trains for hours -------------------------------------------------------------
def _slow_steps(monkeypatch, seconds):
    """Training steps measured at ``seconds`` each (as a CPU's ResNet18 step is): the rest is measured for real."""
    from labkit import timing

    step = {"seconds": seconds}
    monkeypatch.setattr(timing, "time_steps", lambda *a, **k: [step["seconds"]])
    return step


def test_colab_cpu_runtime_stops_a_long_study_before_any_epoch(subset_root, tmp_path, monkeypatch):
    """Task 2's study in Colab without a GPU, estimated over an hour (steps measured at 2 s, as a CPU's ResNet18
    step is, over 2000 epochs of 2 steps), stops before its first epoch naming the fix; device='cpu' asked by
    name and a short study go ahead."""
    from labkit import timing
    from labkit.studies import run_ablations

    monkeypatch.setenv("COLAB_RELEASE_TAG", "fake")
    step = _slow_steps(monkeypatch, 2.0)
    data = labkit.load_cifar10(subset_root, limit=100, test_limit=32, device="cpu", verbose=False)
    kw = dict(model="simplecnn", ablations=["lr"], lr_values=[0.1], data=data, run_dir=tmp_path, epochs=2000,
              batch_size=50, progress=False, verbose=False)
    with pytest.raises(labkit.ConfigError, match=r"≈ \d+ h .*\(\d+ h .* to \d+ h .*\) on this CPU.*this Colab "
                                                 r"runtime has no GPU\. Runtime > Change runtime type > T4 GPU, then "
                                                 r"Run all again"):
        run_ablations(**kw)
    assert not list(tmp_path.rglob("history.json"))  # no epoch trained
    cpu = torch.device("cpu")
    assert timing.refuse_long_colab_cpu(9e4, cpu, [labkit.TrainConfig(device="cpu")], "Estimated") is None
    monkeypatch.delenv("COLAB_RELEASE_TAG")
    assert timing.refuse_long_colab_cpu(9e4, cpu, [labkit.TrainConfig()], "Estimated") is None  # a warning only
    monkeypatch.setenv("COLAB_RELEASE_TAG", "fake")
    step["seconds"] = 0.001
    assert len(run_ablations(**dict(kw, epochs=1)).runs) == 2


def test_colab_cpu_runtime_stops_a_long_single_fit_before_its_first_epoch(subset_root, tmp_path, monkeypatch):
    """Issue 34 item 4 for one run: task 1's plain fit in Colab without a GPU, its run estimated over an hour,
    stops before its first epoch with the fix (no run folder made); device='cpu' by name goes ahead; outside
    Colab nothing is measured."""
    from labkit import timing

    monkeypatch.setenv("COLAB_RELEASE_TAG", "fake")
    _slow_steps(monkeypatch, 2.0)
    data = labkit.load_cifar10(subset_root, limit=100, test_limit=32, device="cpu", verbose=False)
    kw = dict(epochs=1000, batch_size=50, progress=False, verbose=False)
    with pytest.raises(labkit.ConfigError, match=r"^Estimated: this run's 1000 epochs ≈ \d+ h \d+ min \(.*\) on this "
                                                 r"CPU: this Colab runtime has no GPU\. Runtime > Change runtime type "
                                                 r"> T4 GPU, then Run all again"):
        labkit.fit("simplecnn", data, run_dir=tmp_path / "runs", **kw)
    assert not (tmp_path / "runs").exists() or not os.listdir(tmp_path / "runs")  # no folder, no epoch
    measured = []
    monkeypatch.setattr(timing, "measure", lambda *a, **k: measured.append(1))
    run = labkit.fit("simplecnn", data, run_dir=tmp_path / "runs", device="cpu", **dict(kw, epochs=1))
    assert len(run.history) == 1 and measured == []  # asked for the CPU by name: not measured, trained
    monkeypatch.delenv("COLAB_RELEASE_TAG")
    assert len(labkit.fit("simplecnn", data, run_dir=tmp_path / "runs", **dict(kw, epochs=1)).history) == 1
    assert measured == []  # not Colab: nothing measured


def test_the_colab_cpu_check_leaves_a_run_exactly_as_without_it(subset_root, tmp_path, monkeypatch):
    """The check measures on parts of its own and restores the random state: a short run it lets through trains
    exactly as the same run outside Colab (history, weights, test accuracy)."""
    data = labkit.load_cifar10(subset_root, limit=130, test_limit=32, device="cpu", verbose=False)
    kw = dict(epochs=2, batch_size=40, progress=False, verbose=False, augment=True)
    plain = labkit.fit("simplecnn", data, run_dir=tmp_path / "plain", **kw)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "fake")
    from labkit import timing

    calls = []
    real = timing.measure
    monkeypatch.setattr(timing, "measure", lambda *a, **k: calls.append(1) or real(*a, **k))
    checked = labkit.fit("simplecnn", data, run_dir=tmp_path / "colab", **kw)
    assert calls == [1]
    keys = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")
    assert [{k: h[k] for k in keys} for h in checked.history] == [{k: h[k] for k in keys} for h in plain.history]
    assert checked.test_acc == plain.test_acc
    assert all(torch.equal(v, plain.model.state_dict()[k]) for k, v in checked.model.state_dict().items())


def test_setup_sh_refuses_to_run_inside_colab():
    """In a Colab cell `!bash scripts/setup.sh` would replace Colab's torch with the pinned CUDA build, which may
    not match Colab's driver: it stops at once, pointing at the setup cell."""
    env = {**os.environ, "COLAB_RELEASE_TAG": "fake"}
    p = subprocess.run(["bash", os.path.join(REPO, "scripts", "setup.sh")], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "not Colab" in p.stderr and "notebook's first cell" in p.stderr
    assert p.stdout == ""  # nothing installed, no venv made
