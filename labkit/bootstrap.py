# labkit/bootstrap.py: makes `import labkit` work in a fresh kernel (Colab), before labkit can be
# imported. Standard library only: notebooks/build_notebooks.py copies this file into the first cell
# of every notebook (edit it here, then rebuild). Routes, in order: labkit already importable; the
# checkout around the working directory; in /content a labkit folder (a clone, GitHub's "Download
# ZIP" labkit-main/) or a labkit*.zip (python -m labkit.bundle), unpacked there; the same on Google
# Drive (mounted, searched a few folders deep); a clone of LABKIT_REPO. LABKIT_CONTENT and
# LABKIT_DRIVE move /content and the Drive mount point (tests use them).
import glob, importlib, importlib.util, os, re, subprocess, sys, zipfile  # noqa: E401


class SetupError(RuntimeError):
    """labkit could not be made importable; the message is the one thing to do next."""


def in_colab():
    """True in a Colab kernel, and in the commands (``!python -m ...``) it starts."""
    return "google.colab" in sys.modules or bool(os.environ.get("COLAB_RELEASE_TAG"))


def content_dir():
    return os.environ.get("LABKIT_CONTENT", "/content")


def drive_dir():
    return os.environ.get("LABKIT_DRIVE", os.path.join(content_dir(), "drive"))


def mount_drive(verbose=True):
    """Mount Google Drive once (Colab asks for permission the first time); returns My Drive's path."""
    my_drive = os.path.join(drive_dir(), "MyDrive")
    if not os.path.isdir(my_drive):
        if "google.colab" not in sys.modules:  # a command or papermill kernel Colab started: it cannot ask
            raise SetupError(f"Google Drive is not mounted at {drive_dir()}: run a notebook's setup cell first")
        from google.colab import drive
        if verbose:
            print("Mounting Google Drive (labkit may be there; runs are kept there): allow access when asked.")
        drive.mount(drive_dir())
    return my_drive


def is_placeholder(url):
    return bool(re.search(r"[<>{}\s]|your[-_]|example\.", url))


def run_captured(cmd, what):
    """Run a command with its output captured; on failure raise SetupError with the output's end."""
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if p.returncode:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n{tail}")
    return p


def _has_labkit(folder):
    return os.path.isfile(os.path.join(folder, "labkit", "__init__.py"))


def _subfolders(folder):
    try:
        return sorted(e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")
                      and e.name not in ("drive", "labkit_runs", "runs", "data", "sample_data"))
    except OSError:
        return []


def _unpack(zip_path, tried):
    """Unpack a labkit zip into /content; its folder holding labkit/ (None if it holds none)."""
    try:
        with zipfile.ZipFile(zip_path) as z:
            tops = [m[:-len("labkit/__init__.py")] for m in z.namelist()
                    if re.fullmatch(r"([^/]+/)?labkit/__init__\.py", m)]
            if not tops:
                tried.append(f"{zip_path}: holds no labkit/ folder")
                return None
            top = min(tops, key=len)
            dest = content_dir() if top else os.path.join(content_dir(), "labkit-bundle")
            z.extractall(dest)
    except (zipfile.BadZipFile, OSError) as e:
        tried.append(f"{zip_path}: cannot be unpacked ({e}); download it again")
        return None
    print(f"unpacked {zip_path} into {dest}")
    return os.path.join(dest, top.rstrip("/")) if top else dest


def search(folder, depth, tried, limit=2000):
    """A folder holding labkit/ in ``folder`` or up to ``depth`` levels below it, else a labkit*.zip
    found there (the newest), unpacked; None if neither."""
    if not os.path.isdir(folder):
        tried.append(f"{folder}: no such folder")
        return None
    level, zips, seen = [folder], [], 0
    for _ in range(depth + 1):
        found = [d for d in level if _has_labkit(d)]
        if found:
            return found[0]
        zips += [z for d in level for z in glob.glob(os.path.join(glob.escape(d), "[Ll]abkit*.zip"))]
        seen += len(level)
        level = [s for d in level for s in _subfolders(d)] if seen < limit else []
    tried.append(f"{folder} (and {depth} folder levels below): no labkit/ folder, "
                 + (f"zip {max(zips, key=os.path.getmtime)}" if zips else "no labkit*.zip"))
    return _unpack(max(zips, key=os.path.getmtime), tried) if zips else None


def clone(repo, tried):
    """Clone ``repo`` into /content/labkit (another free name if taken); its folder, or None."""
    repo = (repo or "").strip()
    if not repo or is_placeholder(repo):
        tried.append(f"git clone: LABKIT_REPO is {'not set' if not repo else f'the placeholder {repo!r}'}")
        return None
    dest, k = os.path.join(content_dir(), "labkit"), 1
    while os.path.exists(dest):
        k += 1
        dest = os.path.join(content_dir(), f"labkit-{k}")
    try:
        run_captured(["git", "clone", "-q", "--depth", "1", repo, dest], f"git clone of LABKIT_REPO {repo!r}")
    except SetupError as e:
        print(e)
        tried.append(f"git clone {repo}: failed (its output is above)")
        return None
    if not _has_labkit(dest):
        tried.append(f"git clone {repo}: the repository has no labkit/ folder")
        return None
    return dest


def next_step(repo, drive, tried):
    repo = (repo or "").strip()
    where = "/content (Files panel) or to My Drive" if in_colab() else "this folder"
    upload = f"upload labkit.zip (from your course, or GitHub's Download ZIP of labkit) to {where}"
    if tried and tried[-1].startswith("git clone") and "failed" in tried[-1]:
        return (f"git clone of LABKIT_REPO failed (its output is above): check the URL ({repo}) and that the "
                f"repository is public, or {upload}, then run this cell again.")
    if repo and is_placeholder(repo):
        return (f"LABKIT_REPO is still a placeholder ({repo}): put your course's labkit repository URL "
                f"in this cell (TA: python notebooks/build_notebooks.py --repo URL), or {upload}, then run it again.")
    if not in_colab():
        return "labkit not found: open this notebook inside the labkit folder, or pip install -e <labkit folder>."
    if not drive:
        return f"labkit not found: {upload}, or tick runs_on_drive to search Google Drive, then run this cell again."
    return f"labkit not found: {upload}, then run this cell again."


def find_labkit(repo="", drive=True, verbose=True):
    """Make ``import labkit`` work (see the routes at the top); returns the folder it imports from.
    ``drive``: in Colab, also mount and search Google Drive. Raises SetupError naming the next step."""
    spec = importlib.util.find_spec("labkit")
    if spec is not None and spec.origin:  # installed, or on sys.path already (not a namespace package)
        return os.path.dirname(os.path.dirname(spec.origin))
    tried = []
    root = next((d for d in (os.getcwd(), os.path.dirname(os.getcwd())) if _has_labkit(d)), None)
    if root is None:
        tried.append(f"{os.getcwd()} and its parent: not a labkit checkout")
    if root is None and in_colab():
        root = search(content_dir(), 1, tried)
        if root is None and drive:
            try:
                root = search(mount_drive(verbose), 3, tried)
            except Exception as e:  # noqa: BLE001  (a refused or failed mount: the next route)
                tried.append(f"Google Drive: not mounted ({type(e).__name__}: {e})")
        root = root or clone(repo, tried)
    if root is None:
        print("Looked for labkit in:\n  " + "\n  ".join(tried))
        raise SetupError(next_step(repo, drive, tried))
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    sys.modules.pop("labkit", None)  # a namespace package picked up from a folder named labkit
    importlib.import_module("labkit")
    if verbose:
        print(f"labkit: {root}")
    return root
