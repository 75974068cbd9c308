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

What the notebook holds is not trusted (a TA prints students' notebooks): its HTML and Markdown are
sanitized and the page carries a Content-Security-Policy (template.py); playwright runs it with JavaScript
off unless the notebook has math (then only MathJax's files load) and refuses every other request and any
attempt to leave the page (printer.py). The PDF is refused when its text lacks a key line the notebook
printed (``key_prints``: the per-epoch lines, ``Finished Training``, ``Test Accuracy``): its content was
hidden or replaced. A page that crashes the browser is reported with the cell that crashes it.

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

import nbformat
from traitlets.config import Config

from ..errors import cli_main
from ..files import atomic_write_bytes
from .bookmarks import finish_pdf, missing_lines
from .browser import OFFLINE_ARGS, find_browser, install_hint, playwright_env, sandbox_off
from .errors import ExportError
from .notebooks import REMOVE_CELL_TAGS, heading_anchor, markdown_headings, read_notebook, text_of, text_headings
from .template import (SafeHTMLExporter, has_font, mathjax_folder, mathjax_url, missing_cjk_fonts, nbconvert_config,
                       with_content_policy, write_template)

METHODS = ("auto", "webpdf", "chromium")


class _Unavailable(Exception):
    """A route cannot run here (no playwright, no browser): try the next one."""


class _PageCrashed(ExportError):
    """The browser's page crashed on the notebook's content: no other route will do better."""


# ---- running a command ---------------------------------------------------------------------------
_CRASH = re.compile(rb"crashpad|renderer process crashed|page crashed", re.I)  # Chromium's stderr when its page dies
_CRASH_GRACE_S = 5


def _stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _written(f):
    """What a running command wrote so far to the file ``f`` (its stdout/stderr), read without moving the
    offset it writes at."""
    return os.pread(f.fileno(), os.fstat(f.fileno()).st_size, 0)


def _run(cmd, timeout, env=None, cwd=None):
    """Run a command in its own process group; (exit status, stdout, stderr). On a timeout, or when its stderr
    says the browser's page crashed (Chromium then waits for ever), that group (our own children only) is
    killed: ExportError / _PageCrashed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        deadline, crashed = time.monotonic() + timeout, None
        while proc.poll() is None:
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if crashed is None:
                    crashed = time.monotonic() if _CRASH.search(_written(err)) else None
                # a crash Chromium survives (a helper process's) lets it finish within the grace time
                if crashed is not None and time.monotonic() > crashed + _CRASH_GRACE_S:
                    _stop(proc)
                    raise _PageCrashed("the browser's page crashed") from None
                if time.monotonic() > deadline:
                    _stop(proc)
                    raise ExportError(f"{os.path.basename(cmd[0])} took more than {timeout} s and was stopped; "
                                      f"pass a larger timeout for very long notebooks.") from None
        return proc.returncode, _written(out).decode(errors="replace"), _written(err).decode(errors="replace")


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
# ``scripts``: the folder of the MathJax the page may run (a notebook with math), else None: no script at all.
def _webpdf(html, workdir, browser, timeout, scripts=None):
    """Chromium through playwright (nbconvert's webpdf way), in its own process (printer.py)."""
    env, how = playwright_env(browser)
    if env is None:
        raise _Unavailable(how)
    pdf = os.path.join(workdir, "out.pdf")
    args = [f"--browser-arg={a}" for a in OFFLINE_ARGS + (["--no-sandbox"] if sandbox_off() else [])]
    args += ["--javascript", f"--allow={scripts}"] if scripts else []
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "printer.py"), html, pdf, *args]
    rc, out, err = _run(cmd, timeout, env=env, cwd=workdir)
    if rc == 3 and "PageCrashed" in err:  # printer.py's status for a crashed page
        raise _PageCrashed("the browser's page crashed")
    if rc != 0 or not os.path.isfile(pdf):
        raise ExportError(f"printing through playwright with {how} failed (exit {rc}): {_tail(err)}")
    return pdf, f"webpdf via {how}"


def _chromium(html, workdir, browser, timeout, scripts=None):
    """chromium --headless --print-to-pdf, no playwright needed. Scripts: the page's policy says which run
    (chromium's own switch to turn them off also stops its printing)."""
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


_MATH = re.compile(r"\$|\\\(|\\\[|\\begin\{")


def _write_html(nb, notebook, workdir, cfg):
    """The notebook as the HTML both routes print (labkit's template, its content sanitized, the page's
    Content-Security-Policy first): (its path, the folder of the MathJax it may run or None without math)."""
    folder = os.path.dirname(os.path.abspath(notebook))  # where pictures a Markdown cell links to are
    exporter = SafeHTMLExporter(config=Config(cfg))
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": folder}})
    mathjax = exporter.mathjax_url if _MATH.search(html.split("<body", 1)[-1]) else None
    path = os.path.join(workdir, "out.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(with_content_policy(html, mathjax))
    return path, mathjax_folder(mathjax)


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


# ---- what the PDF must show: the lines a lab's notebook prints (labkit.train's handout lines) --------------
KEY_PRINT = re.compile(r"\s*(Test Accuracy: \S+|Finished Training|Epoch: \d+|Train loss: .*\S)\s*$")


def key_prints(nb):
    """The key lines the notebook's code printed (per-epoch lines, ``Finished Training``, ``Test Accuracy``),
    each once, in order, from the cells that are printed (not those tagged remove-cell)."""
    found = {}
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or set(cell.get("metadata", {}).get("tags", [])) & set(REMOVE_CELL_TAGS):
            continue
        for o in cell.get("outputs", []) or []:
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                for line in text_of(o.get("text")).splitlines():
                    m = KEY_PRINT.match(line.rsplit("\r", 1)[-1])
                    if m:
                        found.setdefault(m.group(1), None)
    return list(found)


def unprinted_message(missing, source):
    """The refusal when the PDF lacks some of the notebooks' key prints (``source``: what they came from)."""
    shown = "; ".join(repr(m) for m in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return (f"the PDF does not show {len(missing)} of the lines {source} printed: {shown}. Something hid "
            f"or replaced the notebook's content in it (an HTML output or Markdown with style, a refresh...).")


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
        cfg = nbconvert_config(hide_code, mathjax, write_template(workdir))
        html, scripts = _write_html(nb, notebook, workdir, cfg)
        try:
            data, how = _first_route(method, (html, workdir, browser, timeout, scripts), verbose)
        except _PageCrashed as e:
            if verbose:
                print("note: the browser's page crashed; looking for the cell that crashes it")
            raise ExportError(crash_message(nb, notebook, workdir, cfg, (e.route, browser, timeout))) from None
    data, notes = finish_pdf(data, nb.metadata["title"], outline_headings(nb), all_headings(nb))
    missing = missing_lines(data, key_prints(nb))
    if missing:
        raise ExportError(unprinted_message(missing, f"the notebook {os.path.basename(notebook)!r}")
                          + " Remove what hides it and export again; the PDF was not written.")
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


def _first_route(method, page, verbose):
    """(the PDF's bytes, how it was made) from the first of ``method``'s routes that works, each called with
    ``page`` (html, workdir, browser, timeout, scripts). ``auto`` goes on to the next route when one cannot
    run here or fails; with no route left the error lists every reason."""
    routes = {"webpdf": [_webpdf], "chromium": [_chromium], "auto": [_webpdf, _chromium]}[method]
    reasons, ran = [], False
    for route in routes:
        try:
            pdf, how = route(*page)
        except _PageCrashed as e:  # the content, not the route: the next route would crash too
            e.route = route
            raise
        except _Unavailable as e:
            reasons.append(f"{route.__name__.strip('_')}: {e}")
            continue
        except ExportError as e:
            if method != "auto":
                raise
            ran = True
            reasons.append(f"{route.__name__.strip('_')}: {e}")
            if verbose and route is not routes[-1]:
                print(f"note: {e}; trying the next route")
            continue
        with open(pdf, "rb") as f:
            data = f.read()
        if not data.startswith(b"%PDF-"):
            raise ExportError(f"{how} produced a file that is not a PDF ({len(data)} bytes)")
        return data, how
    hint = "" if ran else "\n" + install_hint()  # a browser that was found and failed needs no installing
    raise ExportError("could not make the PDF:\n  - " + "\n  - ".join(reasons) + hint)


def _crashes(nb, count, notebook, workdir, cfg, page):
    """True if the page of the notebook's first ``count`` cells crashes the browser (``page``: (route, browser,
    timeout)), printed in a folder of its own."""
    route, browser, timeout = page
    folder = tempfile.mkdtemp(prefix=f"cells-{count}-", dir=workdir)
    part = nbformat.from_dict(dict(nb, cells=nb.cells[:count]))
    html, scripts = _write_html(part, notebook, folder, cfg)
    try:
        route(html, folder, browser, timeout, scripts)
    except _PageCrashed:
        return True
    except ExportError:
        return False
    return False


def crash_message(nb, notebook, workdir, cfg, page):
    """What to say when the browser's page crashed: the first cell whose page crashes it (a binary search on
    the notebook's first cells, a print each), that it is the content and not the browser, and the fix."""
    lo, hi = 1, len(nb.cells)  # the first ``hi`` cells crash the page; the first ``lo - 1`` do not
    while lo < hi:
        mid = (lo + hi) // 2
        if _crashes(nb, mid, notebook, workdir, cfg, page):
            hi = mid
        else:
            lo = mid + 1
    cell = nb.cells[lo - 1] if nb.cells else None
    start = " ".join(str(cell.source).split())[:60] if cell is not None else ""
    what = f"cell {lo} of {len(nb.cells)} ({cell.cell_type}, starting {start!r})" if cell is not None else "the notebook"
    return (f"the page crashed while rendering {what} of {os.path.basename(notebook)}. The browser was found and "
            f"works: that content is more than it can lay out (a formula nested hundreds deep, a huge output). "
            f"Simplify or remove it, or tag the cell remove-cell to leave it out of the PDF.")


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
