"""Notebook -> PDF through nbconvert and a headless Chromium (the report and the hand-in PDF).

Two routes, tried in this order by ``export_pdf(..., method="auto")``:

1. ``webpdf``: nbconvert's HTML printed by a Chromium driven through playwright (what ``jupyter nbconvert
   --to webpdf`` does, with the page options it cannot pass: A4 from the CSS, bookmarks, a tagged PDF;
   printer.py). It uses playwright's own browser when ``playwright install chromium`` has put one in
   place (Colab), and otherwise a system Chromium (Debian's ``chromium``), presented to playwright
   through a symlink in a private folder (``~/.cache/labkit/playwright-browsers``) so nothing has to be
   downloaded.
2. ``chromium``: the same HTML printed by ``chromium --headless --print-to-pdf
   --generate-pdf-document-outline``; no playwright needed.

Both give the same PDF: A4 pages numbered "3 / 26" at the bottom (CSS ``@page`` margin boxes), the
notebook's title as the document title, bookmarks for the headings (added with pypdf where the browser
made none: bookmarks.py).

Both run offline: MathJax comes from Debian's ``libjs-mathjax`` when installed (else the CDN),
Chromium gets its background-networking switches off, and ``--no-sandbox`` is passed where
Chromium needs it (root, containers, Colab). Cells tagged ``hide-input`` / ``remove-input``
lose their code in the PDF, ``remove-cell`` cells disappear, progress bars (tqdm) are left out
(template.py). The PDF is written atomically; the notebook is never changed. With no usable browser
the error says what to install (browser.py finds the browser).

Command line::

    python -m labkit.handin.pdf NOTEBOOK.ipynb [-o OUT.pdf] [--method auto|webpdf|chromium] [--hide-code]
    python -m labkit.handin.pdf --check     # which routes work on this machine
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings

from nbconvert import HTMLExporter
from traitlets.config import Config

from ..errors import cli_main
from ..files import atomic_write_bytes
from .bookmarks import finish_pdf
from .browser import OFFLINE_ARGS, find_browser, install_hint, playwright_env, sandbox_off
from .errors import ExportError
from .notebooks import heading_anchor, markdown_headings, read_notebook, text_headings
from .template import has_font, mathjax_url, missing_cjk_fonts, nbconvert_config, write_template

METHODS = ("auto", "webpdf", "chromium")


class _Unavailable(Exception):
    """A route cannot run here (no playwright, no browser): try the next one."""


# ---- running a command ---------------------------------------------------------------------------
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
    if "sandbox" in (text or "").lower() and not sandbox_off():
        gist += " (Chromium's sandbox cannot start here: set LABKIT_CHROMIUM_SANDBOX=0 to run without it)"
    return gist


# ---- the two routes: each prints ``html`` to a PDF in ``workdir`` and returns (its path, how it was made) ------
def _webpdf(html, workdir, browser, timeout):
    """Chromium through playwright (nbconvert's webpdf way), in its own process (printer.py)."""
    env, how = playwright_env(browser)
    if env is None:
        raise _Unavailable(how)
    pdf = os.path.join(workdir, "out.pdf")
    args = [f"--browser-arg={a}" for a in OFFLINE_ARGS + (["--no-sandbox"] if sandbox_off() else [])]
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "printer.py"), html, pdf, *args]
    rc, out, err = _run(cmd, timeout, env=env, cwd=workdir)
    if rc != 0 or not os.path.isfile(pdf):
        raise ExportError(f"printing through playwright with {how} failed (exit {rc}): {_tail(err)}")
    return pdf, f"webpdf via {how}"


def _chromium(html, workdir, browser, timeout):
    """chromium --headless --print-to-pdf, no playwright needed."""
    exe = find_browser(browser)
    if exe is None:
        raise _Unavailable("no Chromium/Chrome found")
    pdf = os.path.join(workdir, "out.pdf")
    cmd = [exe, "--headless", *(["--no-sandbox"] if sandbox_off() else []), *OFFLINE_ARGS,
           f"--user-data-dir={os.path.join(workdir, 'profile')}", "--no-pdf-header-footer",
           "--generate-pdf-document-outline", "--run-all-compositor-stages-before-draw",
           "--virtual-time-budget=20000", f"--print-to-pdf={pdf}", "file://" + html]
    rc, out, err = _run(cmd, timeout, cwd=workdir)
    if rc != 0 or not os.path.isfile(pdf) or os.path.getsize(pdf) == 0:
        raise ExportError(f"{exe} --print-to-pdf failed (exit {rc}): {_tail(err)}")
    return pdf, f"HTML + {exe} --print-to-pdf"


def _write_html(nb, notebook, workdir, cfg):
    """The notebook as the HTML both routes print (nbconvert's HTMLExporter with labkit's template)."""
    folder = os.path.dirname(os.path.abspath(notebook))  # where pictures a Markdown cell links to are
    html, _ = HTMLExporter(config=Config(cfg)).from_notebook_node(nb, resources={"metadata": {"path": folder}})
    path = os.path.join(workdir, "out.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(html)
    return path


def outline_headings(nb):
    """The headings the PDF's bookmarks must hold: the notebook's metadata ``labkit.outline`` (the hand-in's
    table of contents), else its Markdown headings of level 1 and 2."""
    listed = (nb.metadata.get("labkit") or {}).get("outline")
    if listed:
        return list(listed)
    return [heading_anchor(text, level)[0] for level, text in markdown_headings(nb, 2)]


def all_headings(nb):
    """The printed text of every heading in the notebook: its Markdown cells' and its Markdown outputs' (the
    report's title block)."""
    texts = [heading_anchor(text, level)[0] for level, text in markdown_headings(nb)]
    for cell in nb.cells:
        for o in cell.get("outputs", []) or []:
            md = (o.get("data") or {}).get("text/markdown", "")
            texts += [heading_anchor(t, lv)[0] for lv, t in text_headings(md)]
    return texts


# ---- the export ------------------------------------------------------------------------------------
def export_pdf(notebook, output=None, *, method="auto", browser=None, hide_code=None, mathjax="auto",
               timeout=300, verbose=True, title=None):
    """Write ``notebook`` (an .ipynb, normally executed) as a PDF; returns the PDF's path.

    ``output``: the PDF path (default: the notebook's path with ``.pdf``); an existing file there is
    replaced atomically (it is derived from the notebook). ``method``: ``auto`` (webpdf, then the
    HTML + Chromium print), ``webpdf`` or ``chromium``. ``browser``: a Chromium/Chrome executable
    to use (also ``$LABKIT_CHROMIUM``). ``hide_code``: leave out every code cell's input and the
    In/Out prompts (default: the notebook's metadata ``labkit.hide_code``, else False; cells tagged
    ``hide-input`` always lose their input). ``mathjax``: a MathJax URL; ``auto`` uses Debian's
    libjs-mathjax when installed (offline), else nbconvert's CDN. ``title``: the PDF's document title
    (default: the notebook's metadata ``title``, else its file name). Every PDF is A4 with page numbers
    and has bookmarks for its headings.
    """
    notebook = os.fspath(notebook)
    if method not in METHODS:
        raise ExportError(f"unknown export method {method!r}; use one of {', '.join(METHODS)}")
    nb = read_notebook(notebook, ExportError)
    output = os.fspath(output) if output else os.path.splitext(notebook)[0] + ".pdf"
    if os.path.isdir(output):
        raise ExportError(f"output {output!r} is a folder; give a file name ending in .pdf")
    _warn_missing_fonts(nb, verbose)
    if hide_code is None:  # a notebook may ask for it: metadata {"labkit": {"hide_code": true}} (the report template)
        hide_code = bool((nb.metadata.get("labkit") or {}).get("hide_code", False))
    nb.metadata["title"] = title or nb.metadata.get("title") or os.path.splitext(os.path.basename(notebook))[0]
    if browser:
        find_browser(browser)  # a browser that was asked for and does not start: say so now, once
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="labkit-export-") as workdir:
        html = _write_html(nb, notebook, workdir, nbconvert_config(hide_code, mathjax, write_template(workdir)))
        data, how = _first_route(method, html, workdir, browser, timeout, verbose)
    data, notes = finish_pdf(data, nb.metadata["title"], outline_headings(nb), all_headings(nb))
    replaced = os.path.exists(output)
    atomic_write_bytes(output, data)
    if verbose:
        for n in notes:
            print(f"note: {n}")
        print(f"PDF written: {output} ({len(data) / 1024:.0f} KiB, {time.time() - t0:.1f} s, {how})"
              + (" - replaced the earlier PDF" if replaced else ""))
    return output


def _warn_missing_fonts(nb, verbose):
    """A warning (to export_pdf's caller) for text that no installed font covers."""
    missing = missing_cjk_fonts(nb)
    if missing:
        msg = (f"the notebook has {'/'.join(missing)} text but no font for it is installed: it will print as "
               f"empty boxes. Install one: apt-get install fonts-noto-cjk")
        warnings.warn(msg, stacklevel=3)
        if verbose:
            print("warning: " + msg)


def _first_route(method, html, workdir, browser, timeout, verbose):
    """(the PDF's bytes, how it was made) from the first of ``method``'s routes that works. ``auto`` goes on
    to the next route when one cannot run here or fails; with no route left the error lists every reason."""
    routes = {"webpdf": [_webpdf], "chromium": [_chromium], "auto": [_webpdf, _chromium]}[method]
    reasons = []
    for route in routes:
        try:
            pdf, how = route(html, workdir, browser, timeout)
        except _Unavailable as e:
            reasons.append(f"{route.__name__.strip('_')}: {e}")
            continue
        except ExportError as e:
            if method != "auto":
                raise
            reasons.append(f"{route.__name__.strip('_')}: {e}")
            if verbose and route is not routes[-1]:
                print(f"note: {e}; trying the next route")
            continue
        with open(pdf, "rb") as f:
            data = f.read()
        if not data.startswith(b"%PDF-"):
            raise ExportError(f"{how} produced a file that is not a PDF ({len(data)} bytes)")
        return data, how
    raise ExportError("could not make the PDF:\n  - " + "\n  - ".join(reasons) + "\n" + install_hint())


# ---- what works here, and the command line ----------------------------------------------------------
def check(browser=None):
    """What the export can use on this machine: {'browser', 'webpdf', 'mathjax', 'cjk_fonts'}."""
    exe = find_browser(browser)
    env, how = playwright_env(browser)
    return {"browser": exe, "webpdf": how if env is not None else None, "webpdf_unavailable": None if env else how,
            "mathjax": mathjax_url(), "cjk_fonts": has_font("zh")}


def _print_check(info):
    print(f"browser:    {info['browser'] or 'none found - ' + install_hint()}")
    print(f"webpdf:     {info['webpdf'] or 'unavailable: ' + str(info['webpdf_unavailable'])}")
    print(f"mathjax:    {info['mathjax'] or 'CDN (needs internet; offline: apt-get install libjs-mathjax)'}")
    fonts = {True: "yes", False: "none - apt-get install fonts-noto-cjk", None: "unknown (no fc-list)"}
    print(f"CJK fonts:  {fonts[info['cjk_fonts']]}")


def _parser():
    p = argparse.ArgumentParser(prog="python -m labkit.handin.pdf", description="Export a Jupyter notebook (with "
                                "its outputs) to PDF via nbconvert + Chromium.")
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
    return p


@cli_main
def main(argv=None):
    p = _parser()
    a = p.parse_args(argv)
    if a.check:
        info = check(a.browser)
        _print_check(info)
        return 0 if info["browser"] or info["webpdf"] else 1
    if not a.notebook:
        p.error("give the notebook to export (or --check)")
    export_pdf(a.notebook, a.output, method=a.method, browser=a.browser, hide_code=a.hide_code,
               timeout=a.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
