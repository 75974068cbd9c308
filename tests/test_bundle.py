"""The Colab bundle (labkit.bundle): only what git tracks, never an executed notebook; checked on a clone of
this repository with a TA's scratch files added, and on a copy outside git."""
import json
import os
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from labkit.bundle import BundleError, bundle_files, make_bundle

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(shutil.which("git") is None or not os.path.isdir(os.path.join(REPO, ".git")),
                                reason="needs git and this repository's .git")


def git(root, *args):
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture()
def clone(tmp_path):
    """A fresh clone of this repository's committed state (what a TA's checkout holds)."""
    dest = tmp_path / "labkit"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", REPO, str(dest)], check=True, capture_output=True)
    return dest


def executed_copy(src, dest):
    """``src`` (a lab notebook) as a TA saves it after running it: with an output."""
    nb = nbformat.read(str(src), as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.execution_count = 1
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Test Accuracy: 91.00%\n")]
    nbformat.write(nb, str(dest))


def names(zip_path):
    with zipfile.ZipFile(zip_path) as z:
        return sorted(n.split("/", 1)[1] for n in z.namelist())


@pytest.mark.slow
def test_untracked_files_stay_out(clone, tmp_path, capsys):
    (clone / "labkit" / "ta_scratch.py").write_text("SECRET = 'answers'\n")
    executed_copy(clone / "notebooks" / "task1_simplecnn.ipynb", clone / "notebooks" / "task1_solution.ipynb")
    out = make_bundle(str(tmp_path / "labkit.zip"), root=str(clone))
    shipped = names(out)
    assert "labkit/ta_scratch.py" not in shipped and "notebooks/task1_solution.ipynb" not in shipped
    printed = capsys.readouterr().out
    assert "not tracked by git" in printed and "labkit/ta_scratch.py" in printed
    tracked = set(git(clone, "ls-files").split())
    assert set(shipped) <= tracked  # nothing git does not know
    for needed in ("labkit/__init__.py", "labkit/train.py", "notebooks/task1_simplecnn.ipynb", "resnet18.py",
                   "requirements.txt", "reports/lab2_report.ipynb"):
        assert needed in shipped, needed


@pytest.mark.slow
def test_a_tracked_executed_notebook_is_refused(clone, tmp_path):
    nb = clone / "notebooks" / "task1_simplecnn.ipynb"
    executed_copy(nb, nb)  # run in place and saved
    with pytest.raises(BundleError, match=r"notebooks/task1_simplecnn.ipynb.*outputs.*clear-output"):
        make_bundle(str(tmp_path / "labkit.zip"), root=str(clone), verbose=False)
    assert not (tmp_path / "labkit.zip").exists()
    r = subprocess.run([sys.executable, "-m", "labkit.bundle", "-o", str(tmp_path / "x.zip"), "--root", str(clone)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "task1_simplecnn.ipynb" in r.stderr


@pytest.mark.slow
def test_outside_git_executed_notebooks_are_left_out(clone, tmp_path, capsys):
    plain = tmp_path / "unpacked"
    shutil.copytree(clone, plain, ignore=shutil.ignore_patterns(".git"))
    executed_copy(plain / "notebooks" / "task2_resnet18.ipynb", plain / "notebooks" / "task2_resnet18.ipynb")
    (plain / "labkit" / "extra.py").write_text("X = 1\n")
    files = bundle_files(str(plain), verbose=True)
    assert "notebooks/task2_resnet18.ipynb" not in files and "notebooks/task1_simplecnn.ipynb" in files
    assert "labkit/extra.py" in files  # outside git every matching file goes, as before
    assert "left out (notebooks holding outputs): notebooks/task2_resnet18.ipynb" in capsys.readouterr().out
    with open(plain / "notebooks" / "task1_simplecnn.ipynb", encoding="utf-8") as f:
        assert not any(c.get("outputs") for c in json.load(f)["cells"] if c["cell_type"] == "code")
