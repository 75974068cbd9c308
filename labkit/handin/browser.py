"""Finding a Chromium for the PDF export, and how it is started.

A browser is looked for in this order: the one asked for (``browser=`` / ``$LABKIT_CHROMIUM``), one
on the PATH (chromium, google-chrome...), playwright's own (``playwright install chromium``).
Playwright (nbconvert's webpdf) uses its own headless shell when installed, and otherwise a system
Chromium, shown to it through a symlink in a private folder (``~/.cache/labkit/playwright-browsers``)
so nothing has to be downloaded. Chromium runs with its background networking off (``OFFLINE_ARGS``)
and without its sandbox where the sandbox cannot start (root, containers, Colab). With no browser,
``install_hint`` says what to install on this kind of machine.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile

from ..colab import in_colab
from .errors import ExportError

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Chromium with no internet: no update checks, sync, metrics, translate... (they only fail and wait)
OFFLINE_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                "--disable-extensions", "--disable-sync", "--disable-domain-reliability",
                "--disable-client-side-phishing-detection", "--disable-breakpad", "--metrics-recording-only",
                "--no-first-run", "--no-default-browser-check", "--disable-features=Translate,MediaRouter,"
                "OptimizationHints", "--mute-audio", "--hide-scrollbars", "--disable-dev-shm-usage",
                "--disable-gpu"]


def install_hint():
    """What to install for the PDF export, for this kind of machine."""
    if in_colab():
        return ("in Colab run:  !pip install -q 'nbconvert[webpdf]' && playwright install --with-deps --only-shell "
                "chromium && apt-get -qq install -y fonts-noto-cjk")
    return ("install Chromium and the CJK fonts:  apt-get install chromium fonts-noto-cjk  (Debian, as root; "
            "Ubuntu's chromium-browser is a snap stub: use Google Chrome or playwright there), or playwright's "
            "browser:  pip install 'nbconvert[webpdf]' && playwright install --with-deps --only-shell chromium")


def _runs(path):
    """True if ``path`` is an executable browser that starts (Ubuntu's chromium-browser snap stub does not)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and bool(re.search(r"\d+\.\d+", out.stdout))


def _playwright_locations(env=None):
    """{browser name: expected executable} from ``playwright install --dry-run`` (the public way to ask
    playwright where it looks). Empty when playwright is not installed."""
    try:
        out = subprocess.run([sys.executable, "-m", "playwright", "install", "--dry-run", "chromium",
                              "chromium-headless-shell"], capture_output=True, text=True, timeout=60,
                             env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0:
        return {}
    found, name, loc = {}, None, None
    for line in out.stdout.splitlines():
        m = re.search(r"\(playwright ([\w-]+) v\d+\)", line)
        if m:
            name, loc = m.group(1), None
            continue
        m = re.match(r"\s*Install location:\s*(.+)$", line)
        if m and name:
            loc = m.group(1).strip()
            continue
        m = re.match(r"\s*Download url:\s*(\S+)$", line)
        if m and name and loc and name not in found:
            stem = os.path.basename(m.group(1))
            stem = stem[:-4] if stem.endswith(".zip") else stem
            exe = {"chromium-headless-shell": "chrome-headless-shell", "chromium": "chrome"}.get(name)
            if exe and stem.endswith(("linux64", "linux", "linux-arm64")):
                found[name] = os.path.join(loc, stem, exe)
    return found


def find_browser(browser=None):
    """A Chromium-family executable that starts: ``browser``, ``$LABKIT_CHROMIUM``, one on the PATH
    (chromium, google-chrome...), or playwright's own (``playwright install chromium``). None if none."""
    chosen = browser or os.environ.get("LABKIT_CHROMIUM")
    if chosen:  # asked for: that one or an error, never silently another
        if not _runs(chosen):
            raise ExportError(f"the browser {chosen!r} ({'--browser' if browser else '$LABKIT_CHROMIUM'}) does not "
                              f"start: check the path (try: {chosen} --version), or leave it out to use the one found "
                              f"on the PATH.")
        return chosen
    for c in [shutil.which(n) for n in BROWSER_NAMES]:
        if c and _runs(c):
            return c
    for key in ("chromium", "chromium-headless-shell"):
        exe = _playwright_locations().get(key)
        if exe and os.path.isfile(exe) and _runs(exe):
            return exe
    return None


def _shim_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "labkit", "playwright-browsers")
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    path = os.path.join(tempfile.gettempdir(), f"labkit-playwright-browsers-{os.getuid()}")
    os.makedirs(path, exist_ok=True)
    return path


def playwright_env(browser=None):
    """(environment for nbconvert's webpdf, description) or (None, reason) when playwright cannot run.

    Playwright's own headless shell is used when installed; otherwise a system Chromium is linked
    where playwright looks for its headless shell, in labkit's private ``PLAYWRIGHT_BROWSERS_PATH``."""
    if importlib.util.find_spec("playwright") is None:
        return None, "playwright is not installed (pip install 'nbconvert[webpdf]')"
    env = dict(os.environ)
    own = _playwright_locations(env).get("chromium-headless-shell")
    if own is None:
        return None, "playwright does not say where its browser lives (playwright install --dry-run failed)"
    if os.path.isfile(own) and not browser:
        return env, f"playwright's browser {own}"
    system = find_browser(browser)
    if system is None:
        return None, "no playwright browser and no system Chromium"
    env["PLAYWRIGHT_BROWSERS_PATH"] = _shim_dir()
    exe = _playwright_locations(env).get("chromium-headless-shell")
    if exe is None:
        return None, "playwright does not say where its browser lives (playwright install --dry-run failed)"
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    if os.path.realpath(exe) != os.path.realpath(system):
        tmp = f"{exe}.{os.getpid()}.tmp"
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(system, tmp)
        os.replace(tmp, exe)  # atomic: a concurrent export sees the old or the new link
    return env, f"{system} (through playwright)"


def sandbox_off():
    """Chromium's sandbox fails as root and in most containers (Docker, Colab); elsewhere it stays on.
    ``LABKIT_CHROMIUM_SANDBOX=0`` / ``=1`` forces it off / on."""
    forced = os.environ.get("LABKIT_CHROMIUM_SANDBOX", "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return False
    if forced in ("0", "false", "no", "off"):
        return True
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return root or in_colab() or os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")

