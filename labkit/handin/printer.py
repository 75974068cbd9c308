"""The webpdf route's printer: an HTML file printed to PDF by Chromium through playwright, in its own process.

    python labkit/handin/printer.py PAGE.html OUT.pdf [--browser-arg=--no-sandbox ...] [--wait-ms 500]
        [--javascript] [--allow URL_PREFIX ...]

nbconvert's WebPDFExporter (``jupyter nbconvert --to webpdf``) does the same two steps, the notebook's
HTML then playwright's ``page.pdf``, but passes ``page.pdf`` only ``print_background``: its PDF is US
Letter whatever the CSS ``@page`` says, without bookmarks. labkit makes the HTML itself (the same
nbconvert exporter and template as the other route) and calls playwright's public ``page.pdf`` with the
options a hand-in needs: the CSS page size (A4), the document outline (bookmarks from the headings) and a
tagged PDF. An older playwright without ``outline``/``tagged`` prints without them (labkit.handin.bookmarks
adds the bookmarks afterwards). The page is loaded with print media emulated and given ``--wait-ms``
to render (MathJax), as nbconvert does. Its own process: the export can stop it (and its browser) on a
timeout, and a notebook kernel's running event loop does not meet playwright's. It is run as a script
(by its path) and imports nothing from labkit, so printing does not wait for labkit's import of torch.

The page is locked: JavaScript is off unless ``--javascript`` (labkit's MathJax, for a notebook with math),
and every request is refused but the page itself and the URLs under an ``--allow`` prefix (MathJax's
folder); ``data:`` pictures need no request. A crash of the page exits with status 3 and says so.
"""
import argparse
import sys

PDF_OPTIONS = {"print_background": True, "prefer_css_page_size": True, "format": "A4"}
NEWER_OPTIONS = {"outline": True, "tagged": True}  # playwright >= 1.42


PAGE_CRASHED = 3  # the exit status when the browser's page crashed


class PageLeft(Exception):
    """The page tried to go to another address (a refresh, a link followed): what it printed is not the notebook."""


def _gate(page_url, allowed, left):
    """playwright's route handler: the page itself and URLs under ``allowed`` load, every other request fails;
    an attempt to go to another page is added to ``left``."""
    def handle(route):
        url = route.request.url
        if url == page_url or any(url.startswith(a) for a in allowed):
            route.continue_()
            return
        if route.request.is_navigation_request() and route.request.frame.parent_frame is None:
            left.append(url)
        route.abort("blockedbyclient")
    return handle


def print_pdf(html_path, pdf_path, browser_args=(), wait_ms=500, javascript=False, allowed=()):
    """Print ``html_path`` to ``pdf_path`` with playwright's Chromium started with ``browser_args`` (JavaScript
    only if ``javascript``, requests only to the page and under ``allowed``); returns the PDF's size in bytes."""
    from playwright.sync_api import sync_playwright

    page_url = "file://" + html_path
    with sync_playwright() as p:
        browser = p.chromium.launch(args=list(browser_args),
                                    handle_sigint=False, handle_sigterm=False, handle_sighup=False)
        try:
            page = browser.new_page(java_script_enabled=bool(javascript), accept_downloads=False)
            left = []
            page.route("**/*", _gate(page_url, tuple(allowed), left))
            page.emulate_media(media="print")
            page.goto(page_url, wait_until="networkidle")
            page.wait_for_timeout(wait_ms)
            if left:
                raise PageLeft(f"the page tried to go to {left[0][:200]} (refused): something in the notebook "
                               f"asks the browser to leave it")
            try:
                data = page.pdf(**PDF_OPTIONS, **NEWER_OPTIONS)
            except TypeError:  # a playwright from before outline/tagged: the bookmarks are added afterwards
                data = page.pdf(**PDF_OPTIONS)
        finally:
            browser.close()
    with open(pdf_path, "wb") as f:
        f.write(data)
    return len(data)


def main(argv=None):
    p = argparse.ArgumentParser(prog="printer.py", description=__doc__.split("\n\n")[0])
    p.add_argument("html")
    p.add_argument("pdf")
    p.add_argument("--browser-arg", action="append", default=[], help="a Chromium switch (repeat for more)")
    p.add_argument("--wait-ms", type=int, default=500, help="time the page gets to render after loading")
    p.add_argument("--javascript", action="store_true", help="let the page's scripts run (labkit's MathJax)")
    p.add_argument("--allow", action="append", default=[], help="a URL prefix the page may load (repeat for more)")
    a = p.parse_args(argv)
    try:
        print_pdf(a.html, a.pdf, a.browser_arg, a.wait_ms, a.javascript, a.allow)
    except PageLeft as e:
        print(f"PageLeft: {e}", file=sys.stderr)
        return 4
    except Exception as e:  # playwright's Error: only its message tells a crashed page from other failures
        if "crash" in str(e).lower():
            print(f"PageCrashed: {str(e).splitlines()[0]}", file=sys.stderr)
            return PAGE_CRASHED
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
