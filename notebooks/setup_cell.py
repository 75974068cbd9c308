import importlib.util, os, subprocess, sys  # noqa: E401


def install_labkit(repo, content=os.environ.get("LABKIT_CONTENT", "/content")):
    """labkit importable, or a checkout around this notebook: used as it is. Else (Colab) pip installs it from
    its one source: LABKIT_REPO, else the folder My Drive/labkit/ (both editable), else My Drive/labkit.zip."""
    here = [d for d in (os.getcwd(), os.path.dirname(os.getcwd())) if os.path.isfile(f"{d}/labkit/__init__.py")]
    if getattr(importlib.util.find_spec("labkit"), "origin", None) or here:  # a .venv, a checkout (notebooks/)
        return None if getattr(importlib.util.find_spec("labkit"), "origin", None) else sys.path.insert(0, here[0])
    if "google.colab" not in sys.modules:
        raise RuntimeError("labkit not found: in the labkit folder, bash scripts/setup.sh and its .venv's Jupyter "
                           "(or pip install -e <labkit folder>)")
    drive = os.environ.get("LABKIT_DRIVE", f"{content}/drive")
    if not repo and not os.path.isdir(f"{drive}/MyDrive"):
        __import__("google.colab.drive").colab.drive.mount(drive)  # labkit is on Drive (and runs go there)
    folder = f"{content}/labkit" if repo else f"{drive}/MyDrive/labkit"
    source = (["-e", f"git+{repo}#egg=labkit", "--src", content] if repo else ["-e", folder]
              if os.path.isfile(f"{folder}/labkit/__init__.py") else [f"{folder}.zip"])
    if not repo and not os.path.exists(source[-1]):
        raise RuntimeError("labkit not found: put the labkit folder (or labkit.zip) in My Drive, or set LABKIT_REPO to "
                           "the course's labkit git URL, then run this cell again.")
    print("pip install " + " ".join(source), flush=True)
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--exists-action", "b", "--config-settings", "editable_mode=compat", *source],
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"{p.stdout}{p.stderr}\npip could not install labkit (its output is above): check "
                           f"{' '.join(source)} and that this session is online, then run this cell again.")
    sys.path[:0] = [folder] if "-e" in source else []  # this kernel too (the next one reads pip's .pth)
    importlib.invalidate_caches()
