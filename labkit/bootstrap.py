# labkit/bootstrap.py: makes `import labkit` work in a fresh kernel (Colab), before labkit can be
# imported. Standard library only: notebooks/build_notebooks.py copies this file into the first cell
# of every notebook (edit it here, then rebuild). Routes, in order: labkit already importable;
# LABKIT_REPO naming a folder (a copy chosen by hand); the checkout around the working directory; the
# newest labkit copy in /content (a clone, GitHub's "Download ZIP" labkit-main/, a labkit*.zip from
# python -m labkit.bundle, unpacked there); a clone of LABKIT_REPO (a git URL); the newest copy on Google
# Drive (mounted, searched a few folders deep). A zip is unpacked all or nothing and its folder records
# which zip it came from, so a changed zip is unpacked again. LABKIT_CONTENT and LABKIT_DRIVE move
# /content and the Drive mount point (tests use them).
import errno, glob, importlib, importlib.util, json, os, re, shutil, subprocess, sys, tempfile, time, zipfile  # noqa: E401

MARKER = ".labkit-unpacked.json"  # written last into a folder unpacked from a zip: it is whole, and from which zip
DRIVE_REFUSED = "LABKIT_DRIVE_REFUSED"  # a refused or failed mount, remembered so that one cell run asks once


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
    """Mount Google Drive once (Colab asks for permission the first time); returns My Drive's path.
    A refused or failed mount is remembered in the environment (DRIVE_REFUSED, shared by this cell's copy
    of this file and labkit.bootstrap; each run of the setup cell clears it), so a later caller in the
    same run (labkit.notebook.keep_runs_on_drive) does not ask the student a second time."""
    my_drive = os.path.join(drive_dir(), "MyDrive")
    if os.path.isdir(my_drive):
        return my_drive
    if os.environ.get(DRIVE_REFUSED):
        raise SetupError(f"declined or failed above ({os.environ[DRIVE_REFUSED]}), not asked again")
    if "google.colab" not in sys.modules:  # a command or papermill kernel Colab started: it cannot ask
        raise SetupError(f"Google Drive is not mounted at {drive_dir()}: run a notebook's setup cell first")
    from google.colab import drive
    if verbose:
        print("Mounting Google Drive (labkit may be there; runs are kept there): allow access when asked.")
    try:
        drive.mount(drive_dir())
    except Exception as e:  # noqa: BLE001  (declined or timed out: remembered, then the caller's fallback)
        os.environ[DRIVE_REFUSED] = f"{type(e).__name__}: {e}"
        raise
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


def _incomplete(folder):
    """A labkit/ package folder with modules but no __init__.py (an upload or an old unpack cut short)."""
    pkg = os.path.join(folder, "labkit")
    return not _has_labkit(folder) and bool(glob.glob(os.path.join(glob.escape(pkg), "*.py")))


def _subfolders(folder):
    try:
        return sorted(e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")
                      and e.name not in ("drive", "labkit_runs", "runs", "data", "sample_data"))
    except OSError:
        return []


def _version(init_text):
    m = re.search(r"""__version__\s*=\s*["']([^"']+)""", init_text)
    return m.group(1) if m else "unknown"


def _git_commit(folder):
    """The commit a clone is at, read from .git (git itself may be missing); None if not a clone."""
    git = os.path.join(folder, ".git")
    try:
        with open(os.path.join(git, "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref: "):
            ref, head = head[5:], ""
            if os.path.isfile(os.path.join(git, ref)):
                with open(os.path.join(git, ref)) as f:
                    head = f.read().strip()
            elif os.path.isfile(os.path.join(git, "packed-refs")):
                with open(os.path.join(git, "packed-refs")) as f:
                    head = next((ln.split()[0] for ln in f if ln.rstrip().endswith(" " + ref)), "")
        return head[:7] or None
    except OSError:
        return None


def _folder_copy(folder):
    """A folder holding labkit/ as a copy: version, date (the newest file in labkit/), git commit."""
    dates = []
    for d, subs, files in os.walk(os.path.join(folder, "labkit")):
        subs[:] = [s for s in subs if s != "__pycache__"]  # written by the import itself: not a change
        for name in files:
            try:
                dates.append(os.path.getmtime(os.path.join(d, name)))
            except OSError:
                pass
    with open(os.path.join(folder, "labkit", "__init__.py"), encoding="utf-8", errors="replace") as f:
        version = _version(f.read())
    return {"path": folder, "zip": None, "date": max(dates, default=0.0), "version": version,
            "commit": _git_commit(folder)}


def _labkit_prefix(z):
    """The folder in zip ``z`` that holds labkit/__init__.py ("" at its top; the shallowest); None if none."""
    tops = [m[:-len("labkit/__init__.py")] for m in z.namelist()
            if m == "labkit/__init__.py" or m.endswith("/labkit/__init__.py")]
    return min(tops, key=len) if tops else None


def _unpack_dest(prefix):
    """Where a zip's labkit folder goes: /content/<its name in the zip>, another name if a clone has it."""
    name = os.path.basename(prefix.rstrip("/")) or "labkit-bundle"
    dest, k = os.path.abspath(os.path.join(content_dir(), name)), 1
    while os.path.isdir(os.path.join(dest, ".git")) and not os.path.isfile(os.path.join(dest, MARKER)):
        k += 1  # a clone is never replaced by an unpack
        dest = os.path.abspath(os.path.join(content_dir(), f"{name}-{k}"))
    return dest


def _stamp(zip_path):
    """What identifies a zip in its unpacked folder's marker: a re-upload changes size or date."""
    st = os.stat(zip_path)
    return {"zip": os.path.abspath(zip_path), "size": st.st_size, "mtime": round(st.st_mtime)}


def _marker(folder):
    try:
        with open(os.path.join(folder, MARKER), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _fresh(folder, zip_path):
    """``folder`` is a whole unpack of ``zip_path`` as it is now."""
    m, stamp = _marker(folder), _stamp(zip_path)
    return bool(m) and _has_labkit(folder) and {k: m.get(k) for k in stamp} == stamp


def _zip_copy(zip_path, tried):
    """A labkit zip as a copy (dated by the zip file), or None (said in ``tried``) if it holds no labkit."""
    zip_path = os.path.abspath(zip_path)
    try:
        with zipfile.ZipFile(zip_path) as z:
            prefix = _labkit_prefix(z)
            init = z.read(prefix + "labkit/__init__.py").decode("utf-8", "replace") if prefix is not None else ""
        version, dest = _version(init), _unpack_dest(prefix or "")
    except Exception as e:  # noqa: BLE001  (damaged: still a copy; unpacking it, if it is the newest, says so)
        prefix, version, dest = "", f"unreadable ({type(e).__name__})", None
    if prefix is None:
        tried.append(f"{zip_path}: holds no labkit/ folder (not the labkit zip: the course's labkit.zip, or "
                     f"GitHub's Download ZIP of labkit, holds labkit/__init__.py)")
        return None
    return {"path": zip_path, "zip": zip_path, "dest": dest, "date": os.path.getmtime(zip_path),
            "version": version, "commit": None}


def _scan(folder, depth, tried, limit=2000):
    """The folders holding labkit/ and the labkit*.zip files in ``folder`` and up to ``depth`` levels below
    (not inside a copy); incomplete copies and a search cut short are said in ``tried``."""
    level, folders, zips, seen = [folder], [], [], 0
    for _ in range(depth + 1):
        folders += [d for d in level if _has_labkit(d)]
        tried.extend(f"{d}: labkit/ holds no __init__.py (an incomplete copy: delete it, then upload labkit.zip "
                     f"again)" for d in level if _incomplete(d))
        zips += sorted(z for d in level for z in glob.glob(os.path.join(glob.escape(d), "[Ll]abkit*.zip")))
        seen += len(level)
        level = [s for d in level if not _has_labkit(d) for s in _subfolders(d)]
        if seen >= limit and level:
            tried.append(f"{folder}: stopped after {seen} folders (move labkit up, or set LABKIT_REPO to its folder)")
            break
    return folders, zips


def copies(folder, depth, tried):
    """The labkit copies in ``folder`` and up to ``depth`` levels below: folders, and zips not unpacked yet
    or changed since. A folder unpacked from a zip stands for it while the zip is unchanged; a folder the
    zip's unpack replaces (from a changed zip, or with no completion marker: an unpack cut short) is none."""
    if not os.path.isdir(folder):
        tried.append(f"{folder}: no such folder")
        return []
    folders, zips = _scan(folder, depth, tried)
    found = [c for c in (_zip_copy(z, tried) for z in zips) if c]
    for d in map(os.path.abspath, folders):
        m = _marker(d)
        src = m.get("zip") if isinstance(m, dict) else None
        if src and os.path.isfile(src):
            if not _fresh(d, src):  # its zip changed since: the zip is the copy
                found += [c for c in [_zip_copy(src, tried)] if c and all(f["path"] != src for f in found)]
                continue
            found = [c for c in found if c["path"] != src]
        elif not m and not os.path.isdir(os.path.join(d, ".git")) and any(c.get("dest") == d for c in found):
            tried.append(f"{d}: not a whole unpack (no {MARKER}): replaced when its zip is unpacked")
            continue
        found.append({**_folder_copy(d), "source": src})
    return found


def describe(copy):
    """One line for a copy: path, version, last modification, git commit, the zip it came from."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(copy["date"]))
    return (f"{copy['path']}: version {copy['version']}, modified {when}"
            + (f", git {copy['commit']}" if copy.get("commit") else "")
            + (f", unpacked from {copy['source']}" if copy.get("source") else "")
            + (", a zip (unpacked into /content when used)" if copy["zip"] else ""))


def newest_copy(folder, depth, tried, verbose=True):
    """The newest labkit copy in ``folder`` or up to ``depth`` levels below (by the date of its labkit/,
    or of the zip), unpacked if a zip; all of them listed when there are several. None if none."""
    found = sorted(copies(folder, depth, tried), key=lambda c: c["date"], reverse=True)
    if not found:
        tried.append(f"{folder} (and {depth} folder levels below): no labkit/ folder, no labkit*.zip (a copy "
                     f"deeper than that is not found: move it up, or set LABKIT_REPO to its folder)")
        return None
    if len(found) > 1 and verbose:
        print(f"{len(found)} labkit copies found in {folder}:\n" + "\n".join(f"  {describe(c)}" for c in found))
        print(f"using the newest, {found[0]['path']}: to use another, set LABKIT_REPO to its folder, or remove "
              f"or rename the others")
    return unpack(found[0]["path"]) if found[0]["zip"] else found[0]["path"]


def _unpack_failed(zip_path, e):
    """The one line for a failed unpack: the zip, the cause, the fix."""
    code = getattr(e, "errno", None) if isinstance(e, OSError) else None
    if code == errno.ENOSPC:
        fix = (f"the disk is full: free space (delete big files in {content_dir()}, or Runtime > Disconnect and "
               f"delete runtime), then run this cell again")
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = (f"{content_dir()} is not writable: unpack the zip into a writable folder yourself and set "
               f"LABKIT_REPO to that folder, then run this cell again")
    else:  # zlib.error, BadZipFile (a CRC mismatch), EOFError (cut short), a read error
        fix = "the zip is damaged or incomplete: download it again (or delete it), then run this cell again"
    return f"cannot unpack {zip_path} ({type(e).__name__}: {e}): {fix}."


def unpack(zip_path):
    """Unpack a labkit zip into /content, all or nothing: the zip is tested first (every member's CRC),
    unpacked into a temporary folder beside its place, checked, marked with the zip it came from, then
    swapped in. Returns its folder (as it is if unchanged since the last unpack). Any failure is a
    SetupError of one line: the zip, the cause, the fix."""
    try:
        with zipfile.ZipFile(zip_path) as z:
            prefix = _labkit_prefix(z)
            if prefix is None:
                raise zipfile.BadZipFile("it holds no labkit/__init__.py")
            dest = _unpack_dest(prefix)
            if _fresh(dest, zip_path):
                return dest
            bad = z.testzip()  # reads every member before anything is written: a broken download fails here
            if bad:
                raise zipfile.BadZipFile(f"{bad} is damaged: CRC check failed")
            replaced = _unpack_into(z, prefix, zip_path, dest)
    except Exception as e:  # noqa: BLE001  (zlib.error, BadZipFile, OSError ENOSPC or EROFS, EOFError...)
        raise SetupError(_unpack_failed(zip_path, e)) from None
    print(f"unpacked {zip_path} into {dest}" + (" (replacing the folder there)" if replaced else ""))
    return dest


def _unpack_into(z, prefix, zip_path, dest):
    """Unpack the zip's ``prefix`` folder to ``dest`` through a temporary sibling (what fails leaves
    nothing); True if it replaced a folder."""
    parent = os.path.dirname(dest)
    for stale in glob.glob(os.path.join(glob.escape(parent), ".labkit-unpack-*")) + \
            glob.glob(os.path.join(glob.escape(parent), ".labkit-old-*")):  # left by a killed unpack
        shutil.rmtree(stale, ignore_errors=True)
    tmp, stamp = tempfile.mkdtemp(prefix=".labkit-unpack-", dir=parent), _stamp(zip_path)
    try:
        for member in z.infolist():
            if member.filename.startswith(prefix):
                z.extract(member, tmp)
        new = os.path.normpath(os.path.join(tmp, prefix))
        if not _has_labkit(new):
            raise zipfile.BadZipFile(f"no {prefix}labkit/__init__.py after unpacking")
        for d, _, files in os.walk(new):  # the copy's date is the zip's (a zip does not keep real dates)
            for name in files:
                os.utime(os.path.join(d, name), (stamp["mtime"], stamp["mtime"]))
        with open(os.path.join(new, MARKER), "w", encoding="utf-8") as f:
            json.dump(stamp, f)  # last: the marker says the unpack is whole
        return _swap(new, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap(new, dest):
    """Put folder ``new`` at ``dest``; what was there is moved aside first and removed after."""
    old = None
    if os.path.lexists(dest):
        old = tempfile.mkdtemp(prefix=".labkit-old-", dir=os.path.dirname(dest))
        os.rename(dest, os.path.join(old, "copy"))
    try:
        os.rename(new, dest)
    except OSError:
        if old:
            os.rename(os.path.join(old, "copy"), dest)  # the previous copy back
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)
    return old is not None


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


def chosen_folder(repo, verbose=True):
    """LABKIT_REPO naming a folder (an absolute path, not a git URL): that copy, chosen by hand; else None."""
    folder = os.path.expanduser((repo or "").strip())
    if not os.path.isabs(folder):
        return None
    if folder.startswith(drive_dir() + os.sep) and not os.path.exists(folder) and in_colab():
        try:
            mount_drive(verbose)
        except Exception as e:  # noqa: BLE001  (refused or failed: the one thing to do next)
            raise SetupError(f"LABKIT_REPO is the folder {folder} on Google Drive, which is not mounted "
                             f"({type(e).__name__}: {e}): run this cell again and allow access.") from None
    if not _has_labkit(folder):
        raise SetupError(f"LABKIT_REPO is the folder {folder}, which holds no labkit/__init__.py: set it to a "
                         f"folder that holds labkit/ (or to a git URL, or empty), then run this cell again.")
    return folder


def colab_copy(repo, drive, verbose, tried):
    """Colab: the newest copy in /content; else a clone of LABKIT_REPO (before Drive: the TA's URL needs no
    walk through Drive, nor its permission); else the newest copy on Google Drive."""
    root = newest_copy(content_dir(), 1, tried, verbose)
    url = (repo or "").strip()
    clone_first = bool(url) and not is_placeholder(url)
    if root is None and clone_first:
        root = clone(url, tried)
    my_drive = None
    if root is None and drive:
        try:
            my_drive = mount_drive(verbose)
        except Exception as e:  # noqa: BLE001  (a refused or failed mount: the next route)
            tried.append(f"Google Drive: not mounted ({type(e).__name__}: {e})")
    if my_drive:
        root = newest_copy(my_drive, 3, tried, verbose)
    if root is None and not clone_first:
        clone(url, tried)  # says why there is no clone
    return root


def next_step(repo, drive, tried):
    repo = (repo or "").strip()
    where = "/content (Files panel) or to My Drive" if in_colab() else "this folder"
    upload = f"upload labkit.zip (from your course, or GitHub's Download ZIP of labkit) to {where}"
    if any(t.startswith("git clone") and "failed" in t for t in tried):
        return (f"git clone of LABKIT_REPO failed (its output is above): check the URL ({repo}) and that the "
                f"repository is public, or {upload}, then run this cell again.")
    if repo and is_placeholder(repo):
        return (f"LABKIT_REPO is still a placeholder ({repo}): put your course's labkit repository URL "
                f"in this cell (TA: python notebooks/build_notebooks.py --repo URL), or {upload}, then run it again.")
    if not in_colab():
        return "labkit not found: open this notebook inside the labkit folder, or pip install -e <labkit folder>."
    problem = next((t for t in tried if "holds no" in t or "stopped after" in t), None)
    note = f" Note: {problem}." if problem else ""  # what was found but is not a copy: the likely mistake
    if not drive:
        return f"labkit not found: {upload}, or tick runs_on_drive to search Google Drive, then run this cell again.{note}"
    return f"labkit not found: {upload} (at most 3 folders deep in My Drive), then run this cell again.{note}"


def import_from(root, verbose=True):
    """Import labkit from ``root``; a copy that cannot be imported (cut short) is a SetupError naming it."""
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m == "labkit" or m.startswith("labkit.")]:
        del sys.modules[name]  # a namespace package picked up from a folder named labkit, or a failed import
    try:
        labkit = importlib.import_module("labkit")
    except Exception as e:  # noqa: BLE001  (a half copy: ModuleNotFoundError, SyntaxError in a cut file...)
        sys.path.remove(root)
        fix = (f"delete it (!rm -rf '{root}') and upload labkit.zip again (or download it again)"
               if in_colab() and os.path.abspath(root).startswith(os.path.abspath(content_dir()) + os.sep)
               else "replace it with a whole copy (git pull, or labkit.zip unpacked again)")
        raise SetupError(f"labkit in {root} cannot be imported ({type(e).__name__}: {e}): an incomplete or "
                         f"damaged copy? {fix[0].upper() + fix[1:]}, then run this cell again.") from None
    if verbose:
        copy = _folder_copy(root)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(copy["date"]))
        print(f"labkit: {root} (version {getattr(labkit, '__version__', '?')}, labkit/ modified {when}"
              + (f", git {copy['commit']})" if copy["commit"] else ")"))
    return root


def find_labkit(repo="", drive=True, verbose=True):
    """Make ``import labkit`` work (see the routes at the top); returns the folder it imports from.
    ``drive``: in Colab, also mount and search Google Drive. Raises SetupError naming the next step."""
    os.environ.pop(DRIVE_REFUSED, None)  # a new run of the setup cell may ask for Drive again
    spec = importlib.util.find_spec("labkit")
    if spec is not None and spec.origin:  # installed, or on sys.path already (not a namespace package)
        return os.path.dirname(os.path.dirname(spec.origin))
    tried = []
    root = chosen_folder(repo, verbose) or next(
        (d for d in (os.getcwd(), os.path.dirname(os.getcwd())) if _has_labkit(d)), None)
    if root is None:
        tried.append(f"{os.getcwd()} and its parent: not a labkit checkout")
        root = colab_copy(repo, drive, verbose, tried) if in_colab() else None
    if root is None:
        print("Looked for labkit in:\n  " + "\n  ".join(tried))
        raise SetupError(next_step(repo, drive, tried))
    return import_from(root, verbose)
