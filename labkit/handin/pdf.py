"""Notebook -> PDF through nbconvert and a headless Chromium (the report and the hand-in PDF).

Two routes, tried in this order by ``export_pdf(..., method="auto")``:

1. ``webpdf``: nbconvert's WebPDFExporter (``jupyter nbconvert --to webpdf``), which drives a
   Chromium through playwright. It uses playwright's own browser when ``playwright install
   chromium`` has put one in place (Colab), and otherwise a system Chromium (Debian's
   ``chromium``), presented to playwright through a symlink in a private folder
   (``~/.cache/labkit/playwright-browsers``) so nothing has to be downloaded.
2. ``chromium``: nbconvert's HTML (same ``webpdf`` template) printed by ``chromium --headless
   --print-to-pdf``; no playwright needed.

Both run offline: MathJax comes from Debian's ``libjs-mathjax`` when installed (else the CDN),
Chromium gets its background-networking switches off, and ``--no-sandbox`` is passed where
Chromium needs it (root, containers, Colab). Cells tagged ``hide-input`` / ``remove-input``
lose their code in the PDF, ``remove-cell`` cells disappear, progress bars (tqdm) are left out. The PDF is written atomically;
the notebook is never changed. With no usable browser the error says what to install.

Command line::

    python -m labkit.handin.pdf NOTEBOOK.ipynb [-o OUT.pdf] [--method auto|webpdf|chromium] [--hide-code]
    python -m labkit.handin.pdf --check     # which routes work on this machine
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings

from ..errors import LabkitError, cli_main
from ..files import REPO_ROOT, atomic_path
from ..notebook import in_colab

METHODS = ("auto", "webpdf", "chromium")
MATHJAX_LOCAL = "/usr/share/javascript/mathjax/MathJax.js"
MATHJAX_CONFIG = "?config=TeX-AMS_CHTML-full,Safe"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
REMOVE_INPUT_TAGS = ["hide-input", "hide_input", "remove-input", "remove_input"]
REMOVE_CELL_TAGS = ["remove-cell", "remove_cell"]
STRIP_PROGRESS = "labkit.handin.notebooks.StripProgressPreprocessor"  # progress bars stay on the screen, not in the PDF
# Chromium with no internet: no update checks, sync, metrics, translate... (they only fail and wait)
OFFLINE_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                "--disable-extensions", "--disable-sync", "--disable-domain-reliability",
                "--disable-client-side-phishing-detection", "--disable-breakpad", "--metrics-recording-only",
                "--no-first-run", "--no-default-browser-check", "--disable-features=Translate,MediaRouter,"
                "OptimizationHints", "--mute-audio", "--hide-scrollbars", "--disable-dev-shm-usage",
                "--disable-gpu"]


class ExportError(LabkitError, RuntimeError):
    """The notebook could not be turned into a PDF (no browser, a failing browser, a bad notebook)."""


def install_hint():
    """What to install for the PDF export, for this kind of machine."""
    if in_colab():
        return ("in Colab run:  !pip install -q 'nbconvert[webpdf]' && playwright install --with-deps --only-shell "
                "chromium && apt-get -qq install -y fonts-noto-cjk")
    return ("install Chromium and the CJK fonts:  apt-get install chromium fonts-noto-cjk  (Debian, as root; "
            "Ubuntu's chromium-browser is a snap stub: use Google Chrome or playwright there), or playwright's "
            "browser:  pip install 'nbconvert[webpdf]' && playwright install --with-deps --only-shell chromium")


# ---- finding a browser ------------------------------------------------------------------------------
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
    import importlib.util

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


def _sandbox_off():
    """Chromium's sandbox fails as root and in most containers (Docker, Colab); elsewhere it stays on.
    ``LABKIT_CHROMIUM_SANDBOX=0`` / ``=1`` forces it off / on."""
    forced = os.environ.get("LABKIT_CHROMIUM_SANDBOX", "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return False
    if forced in ("0", "false", "no", "off"):
        return True
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return root or in_colab() or os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")


def mathjax_url(mathjax="auto"):
    """The MathJax the HTML loads: Debian's libjs-mathjax (offline) when installed, else nbconvert's CDN."""
    if mathjax not in (None, "auto"):
        return mathjax
    if os.path.isfile(MATHJAX_LOCAL):
        return "file://" + MATHJAX_LOCAL + MATHJAX_CONFIG
    return None


# ---- the notebook --------------------------------------------------------------------------------
_CJK = {"zh": re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]"), "ko": re.compile(r"[\uac00-\ud7af\u1100-\u11ff]"),
        "ja": re.compile(r"[\u3040-\u30ff]")}


def _read_notebook(path):
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise ExportError(f"notebook {path!r} does not exist.") from None
    except Exception as e:  # NotJSONError, validation errors, bad encodings
        raise ExportError(f"{path!r} is not a readable Jupyter notebook ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200] if str(e) else ''}).") from None


def _notebook_text(nb):
    parts = []
    for c in nb.cells:
        parts.append(c.get("source", ""))
        for o in c.get("outputs", []) or []:
            parts.append(o.get("text", "") if isinstance(o.get("text"), str) else "")
            data = o.get("data") or {}
            for k in ("text/plain", "text/markdown", "text/html"):
                v = data.get(k, "")
                parts.append(v if isinstance(v, str) else "".join(v))
    return "\n".join(parts)


def missing_cjk_fonts(nb):
    """Languages ('zh', 'ko', 'ja') present in the notebook for which fontconfig lists no font
    (their text would print as empty boxes). Empty when all are covered or fc-list is absent."""
    text = _notebook_text(nb)
    langs = [lang for lang, rx in _CJK.items() if rx.search(text)]
    if not langs or shutil.which("fc-list") is None:
        return []
    missing = []
    for lang in langs:
        try:
            out = subprocess.run(["fc-list", f":lang={lang}", "family"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return []
        if out.returncode == 0 and not out.stdout.strip():
            missing.append(lang)
    return missing


# The webpdf look (nbconvert's lab template) with print fixes: code and text outputs wrapped at spaces
# (never cut at the page edge, never mid-word) in a smaller monospace font, wide tables in a smaller
# font and wrapped, figures scaled to at most half a page and never split, a heading or a caption kept
# with what follows it; long text outputs may go on over a page break (no half-empty pages).
TEMPLATE_NAME = "labkit_pdf"
TEMPLATE_CONF = {"base_template": "lab", "mimetypes": {"text/html": True, "application/pdf": True}}
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{% block extra_css %}
<style type="text/css">
@media print {
  .jp-OutputArea-output, .jp-InputArea-editor, .jp-CodeMirrorEditor, .jp-InputArea-editor .highlight {
    overflow: visible !important; }
  .jp-OutputArea-output pre, .jp-InputArea-editor pre, .jp-InputArea-editor .highlight pre {
    white-space: pre-wrap !important; word-break: normal !important; overflow-wrap: break-word !important;
    font-size: 8.6px !important; line-height: 1.3 !important; }
  .jp-InputPrompt, .jp-OutputPrompt { flex: 0 0 44px !important; min-width: 44px !important; font-size: 8px !important; }
  .jp-mod-noInput .jp-OutputPrompt { visibility: hidden; }
  .jp-OutputArea-output.jp-RenderedHTMLCommon table { font-size: 9.5px !important; table-layout: auto !important;
    max-width: 100% !important; }
  .jp-OutputArea-output.jp-RenderedHTMLCommon td, .jp-OutputArea-output.jp-RenderedHTMLCommon th {
    padding: 0.2em 0.45em !important; }
  .jp-RenderedMarkdown table { font-size: 10.5px; }
  .jp-OutputArea-output img { width: auto !important; height: auto !important; max-width: 100% !important;
    max-height: 105mm !important; object-fit: contain; }
  .jp-RenderedImage, .jp-RenderedHTMLCommon table, .jp-RenderedMarkdown table, tr { break-inside: avoid; }
  .jp-OutputArea-child { break-inside: auto !important; }  /* JupyterLab avoids it: long prints left half pages */
  .jp-OutputArea-output pre { orphans: 4; widows: 4; }
  h1, h2, h3, h4, .jp-MarkdownCell { break-after: avoid; }
}
</style>
{% endblock extra_css %}
"""


def _write_template(workdir):
    """nbconvert template folder (in the export's temporary folder); returns its base directory."""
    base = os.path.join(workdir, "templates")
    folder = os.path.join(base, TEMPLATE_NAME)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "conf.json"), "w", encoding="utf-8") as f:
        json.dump(TEMPLATE_CONF, f)
    with open(os.path.join(folder, "index.html.j2"), "w", encoding="utf-8") as f:
        f.write(TEMPLATE)
    return base


def _nbconvert_config(hide_code, mathjax, template_dir):
    cfg = {"TagRemovePreprocessor": {"enabled": True, "remove_input_tags": REMOVE_INPUT_TAGS,
                                     "remove_cell_tags": REMOVE_CELL_TAGS},
           # embed_images: pictures a Markdown cell links (![](fig.png) next to the notebook) go into the HTML,
           # which is printed from a temporary folder
           "HTMLExporter": {"template_name": TEMPLATE_NAME, "extra_template_basedirs": [template_dir],
                            "embed_images": True, "preprocessors": [STRIP_PROGRESS]},
           "WebPDFExporter": {"template_name": TEMPLATE_NAME, "extra_template_basedirs": [template_dir],
                              "embed_images": True, "preprocessors": [STRIP_PROGRESS]},
           "TemplateExporter": {"exclude_input": bool(hide_code), "exclude_input_prompt": bool(hide_code),
                                 "exclude_output_prompt": bool(hide_code)}}
    url = mathjax_url(mathjax)
    if url:
        cfg["HTMLExporter"]["mathjax_url"] = url
    return cfg


# ---- the two routes ------------------------------------------------------------------------------
def _run(cmd, timeout, env=None, cwd=None):
    """Run a command in its own process group; on timeout kill that group (our own children only)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise ExportError(f"{os.path.basename(cmd[0])} took more than {timeout} s and was stopped; "
                          f"pass a larger timeout for very long notebooks.") from None
    return proc.returncode, out, err


def _tail(text, n=3):
    """The gist of a failing command's stderr: its last exception line, else its last lines."""
    lines = [ln.strip() for ln in (text or "").splitlines()
             if ln.strip() and "dbus" not in ln and "unexpected operator" not in ln]
    errors = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b.*:", ln)]
    gist = errors[-1] if errors else " | ".join(lines[-n:]) or "no error output"
    if "sandbox" in (text or "").lower() and not _sandbox_off():
        gist += " (Chromium's sandbox cannot start here: set LABKIT_CHROMIUM_SANDBOX=0 to run without it)"
    return gist


def _webpdf(notebook, workdir, cfg, browser, timeout):
    env, how = playwright_env(browser)
    if env is None:
        raise _Unavailable(how)
    cfg = json.loads(json.dumps(cfg))
    cfg["WebPDFExporter"].update(disable_sandbox=_sandbox_off(), browser_args=list(OFFLINE_ARGS),
                                 page_render_timeout=500)
    cfg_file = os.path.join(workdir, "nbconvert_config.json")
    with open(cfg_file, "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    # nbconvert's process imports labkit (the progress-bar preprocessor)
    env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "nbconvert", "--to", "webpdf", f"--config={cfg_file}", "--output-dir", workdir,
           "--output", "out", os.path.abspath(notebook)]
    rc, out, err = _run(cmd, timeout, env=env, cwd=workdir)
    pdf = os.path.join(workdir, "out.pdf")
    if rc != 0 or not os.path.isfile(pdf):
        raise ExportError(f"nbconvert --to webpdf with {how} failed (exit {rc}): {_tail(err)}")
    return pdf, f"webpdf via {how}"


def _chromium(notebook, workdir, cfg, browser, timeout):
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    exe = find_browser(browser)
    if exe is None:
        raise _Unavailable("no Chromium/Chrome found")
    c = Config(cfg)
    exporter = HTMLExporter(config=c)
    nb = _read_notebook(notebook)
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": os.path.dirname(
        os.path.abspath(notebook))}})
    html_path = os.path.join(workdir, "out.html")
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(html)
    pdf = os.path.join(workdir, "out.pdf")
    cmd = [exe, "--headless", *(["--no-sandbox"] if _sandbox_off() else []), *OFFLINE_ARGS,
           f"--user-data-dir={os.path.join(workdir, 'profile')}", "--no-pdf-header-footer",
           "--run-all-compositor-stages-before-draw", "--virtual-time-budget=20000",
           f"--print-to-pdf={pdf}", "file://" + html_path]
    rc, out, err = _run(cmd, timeout, cwd=workdir)
    if rc != 0 or not os.path.isfile(pdf) or os.path.getsize(pdf) == 0:
        raise ExportError(f"{exe} --print-to-pdf failed (exit {rc}): {_tail(err)}")
    return pdf, f"HTML + {exe} --print-to-pdf"


class _Unavailable(Exception):
    """A route cannot run here (no playwright, no browser): try the next one."""


def export_pdf(notebook, output=None, *, method="auto", browser=None, hide_code=None, mathjax="auto",
               timeout=300, verbose=True):
    """Write ``notebook`` (an .ipynb, normally executed) as a PDF; returns the PDF's path.

    ``output``: the PDF path (default: the notebook's path with ``.pdf``); an existing file there is
    replaced atomically (it is derived from the notebook). ``method``: ``auto`` (webpdf, then the
    HTML + Chromium print), ``webpdf`` or ``chromium``. ``browser``: a Chromium/Chrome executable
    to use (also ``$LABKIT_CHROMIUM``). ``hide_code``: leave out every code cell's input and the
    In/Out prompts (default: the notebook's metadata ``labkit.hide_code``, else False; cells tagged
    ``hide-input`` always lose their input). ``mathjax``: a MathJax URL; ``auto`` uses Debian's
    libjs-mathjax when installed (offline), else nbconvert's CDN.
    """
    notebook = os.fspath(notebook)
    if method not in METHODS:
        raise ExportError(f"unknown export method {method!r}; use one of {', '.join(METHODS)}")
    nb = _read_notebook(notebook)
    output = os.fspath(output) if output else os.path.splitext(notebook)[0] + ".pdf"
    if os.path.isdir(output):
        raise ExportError(f"output {output!r} is a folder; give a file name ending in .pdf")
    missing = missing_cjk_fonts(nb)
    if missing:
        msg = (f"the notebook has {'/'.join(missing)} text but no font for it is installed: it will print as "
               f"empty boxes. Install one: apt-get install fonts-noto-cjk")
        warnings.warn(msg, stacklevel=2)
        if verbose:
            print("warning: " + msg)
    if hide_code is None:  # a notebook may ask for it: metadata {"labkit": {"hide_code": true}} (the report template)
        hide_code = bool((nb.metadata.get("labkit") or {}).get("hide_code", False))
    routes = {"webpdf": [_webpdf], "chromium": [_chromium], "auto": [_webpdf, _chromium]}[method]
    if browser:
        find_browser(browser)  # a browser that was asked for and does not start: say so now, once
    t0 = time.time()
    reasons = []
    with tempfile.TemporaryDirectory(prefix="labkit-export-") as workdir:
        cfg = _nbconvert_config(hide_code, mathjax, _write_template(workdir))
        pdf = how = None
        for route in routes:
            try:
                pdf, how = route(notebook, workdir, cfg, browser, timeout)
                break
            except _Unavailable as e:
                reasons.append(f"{route.__name__.strip('_')}: {e}")
            except ExportError as e:
                if method != "auto":
                    raise
                reasons.append(f"{route.__name__.strip('_')}: {e}")
                if verbose and route is not routes[-1]:
                    print(f"note: {e}; trying the next route")
        if pdf is None:
            raise ExportError("could not make the PDF:\n  - " + "\n  - ".join(reasons) + "\n" + install_hint())
        with open(pdf, "rb") as f:
            data = f.read()
        if not data.startswith(b"%PDF-"):
            raise ExportError(f"{how} produced a file that is not a PDF ({len(data)} bytes)")
        replaced = os.path.exists(output)
        with atomic_path(output) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
    if verbose:
        print(f"PDF written: {output} ({len(data) / 1024:.0f} KiB, {time.time() - t0:.1f} s, {how})"
              + (" - replaced the earlier PDF" if replaced else ""))
    return output


def check(browser=None):
    """What the export can use on this machine: {'browser', 'webpdf', 'mathjax', 'cjk_fonts'}."""
    exe = find_browser(browser)
    env, how = playwright_env(browser)
    cjk = None
    if shutil.which("fc-list"):
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
        cjk = bool(out.stdout.strip())
    return {"browser": exe, "webpdf": how if env is not None else None, "webpdf_unavailable": None if env else how,
            "mathjax": mathjax_url(), "cjk_fonts": cjk}


@cli_main
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m labkit.handin.pdf",
                                description="Export a Jupyter notebook (with its outputs) to PDF via nbconvert + Chromium.")
    p.add_argument("notebook", nargs="?", help="the .ipynb to export (normally executed)")
    p.add_argument("-o", "--output", help="PDF path (default: the notebook's name with .pdf)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto: webpdf (playwright), else HTML + chromium --print-to-pdf")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--hide-code", dest="hide_code", action="store_const", const=True, default=None,
                   help="leave out the code of every cell (outputs only); default: the notebook's "
                        "metadata labkit.hide_code (set in the report template)")
    g.add_argument("--show-code", dest="hide_code", action="store_const", const=False,
                   help="keep every cell's code even where the notebook asks to hide it")
    p.add_argument("--browser", help="Chromium/Chrome executable to use (default: found on the PATH)")
    p.add_argument("--timeout", type=int, default=300, help="seconds before the browser is stopped (default 300)")
    p.add_argument("--check", action="store_true", help="only report which export routes work here")
    a = p.parse_args(argv)
    if a.check:
        info = check(a.browser)
        print(f"browser:    {info['browser'] or 'none found - ' + install_hint()}")
        print(f"webpdf:     {info['webpdf'] or 'unavailable: ' + str(info['webpdf_unavailable'])}")
        print(f"mathjax:    {info['mathjax'] or 'CDN (needs internet; offline: apt-get install libjs-mathjax)'}")
        print(f"CJK fonts:  {'yes' if info['cjk_fonts'] else 'unknown (no fc-list)' if info['cjk_fonts'] is None else 'none - apt-get install fonts-noto-cjk'}")
        return 0 if info["browser"] or info["webpdf"] else 1
    if not a.notebook:
        p.error("give the notebook to export (or --check)")
    export_pdf(a.notebook, a.output, method=a.method, browser=a.browser, hide_code=a.hide_code,
               timeout=a.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
