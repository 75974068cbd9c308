"""A normal (non-editable) install holds the whole package: every module under labkit/ is in the wheel,
and the command-line tools and sub-packages work from an installed copy outside the checkout."""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    return p


def _left_out(folder, names):
    """What the clean copy leaves out: caches and environments anywhere; run folders, data and build outputs only
    at the checkout's top (``labkit/runs/`` is a package, not a run folder)."""
    skip = set(shutil.ignore_patterns(".git", ".venv*", "*.egg-info", "__pycache__", ".pytest_cache")(folder, names))
    if os.path.samefile(folder, REPO):
        skip |= {n for n in names if n in ("runs", "build", "dist", "data")}
    return skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """labkit built as a wheel and pip-installed into a fresh venv whose only other packages are the test
    environment's dependencies (torch, nbformat...; not its editable labkit)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # a clean copy: a build/ folder left in the checkout would hide missing packages
    shutil.copytree(REPO, src, ignore=_left_out)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp), str(src)])
    (wheel,) = glob.glob(str(tmp / "labkit-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    # the dependencies, as a plain path entry: .pth files there (the editable labkit's finder) are not run
    with open(os.path.join(site, "test-deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])
    return wheel, py, tmp


@pytest.mark.slow
def test_wheel_holds_every_module(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {os.path.relpath(p, REPO).replace(os.sep, "/")
               for p in glob.glob(os.path.join(REPO, "labkit", "**", "*.py"), recursive=True)}
    assert modules and modules <= names, sorted(modules - names)
    assert "resnet18.py" in names


@pytest.mark.slow
@pytest.mark.parametrize("cli", ["labkit.handin.submit", "labkit.handin.pdf", "labkit.bundle"])
def test_cli_help_from_an_installed_copy(installed, cli):
    _, py, tmp = installed
    p = _run([py, "-m", cli, "--help"], cwd=tmp)
    assert "usage:" in p.stdout


@pytest.mark.slow
def test_subpackages_import_from_an_installed_copy(installed):
    _, py, tmp = installed
    code = ("import labkit, labkit.folder_data, labkit.handin.submit, resnet18; "
            "print(labkit.__file__); print(resnet18.ResNet18().linear.out_features)")
    out = _run([py, "-c", code], cwd=tmp).stdout.split()
    assert "site-packages" in out[0] and REPO not in out[0] and out[1] == "10"
