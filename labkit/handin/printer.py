"""The webpdf route's printer: an HTML file printed to PDF by Chromium through playwright, in its own process.

    python labkit/handin/printer.py PAGE.html OUT.pdf [--browser-arg=--no-sandbox ...] [--wait-ms 500]

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
"""
import argparse
import sys

PDF_OPTIONS = {"print_background": True, "prefer_css_page_size": True, "format": "A4"}
NEWER_OPTIONS = {"outline": True, "tagged": True}  # playwright >= 1.42


def print_pdf(html_path, pdf_path, browser_args=(), wait_ms=500):
    """Print ``html_path`` to ``pdf_path`` with playwright's Chromium started with ``browser_args``; returns
    the PDF's size in bytes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(args=list(browser_args),
                                    handle_sigint=False, handle_sigterm=False, handle_sighup=False)
        try:
            page = browser.new_page()
            page.emulate_media(media="print")
            page.goto("file://" + html_path, wait_until="networkidle")
            page.wait_for_timeout(wait_ms)
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
    a = p.parse_args(argv)
    print_pdf(a.html, a.pdf, a.browser_arg, a.wait_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
