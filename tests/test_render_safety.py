"""Rendering that a notebook cannot turn against the renderer (issue 29 item 5, issue 31 row 19).

A student's notebook is printed on a TA's machine: its HTML outputs and Markdown must not run scripts,
load the renderer's files, leave the page or hide the notebook's content, on both routes (playwright's
``webpdf`` and ``chromium --print-to-pdf``). Three layers are tested: the sanitizer (everything on), the
browser lock alone (the sanitizer switched off: script, frame, object still inert), and the check of the
PDF's text (a page blanked or replaced is refused). A page that crashes the browser names its cell."""
import base64
import io
import os
import shutil
import subprocess

import nbformat
import pytest

import labkit.handin.pdf as pdfmod
import labkit.handin.template as template
from labkit.handin.browser import find_browser
from labkit.handin.errors import ExportError, SubmissionError
from labkit.handin.pdf import export_pdf, key_prints

BROWSER = find_browser()
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome installed "
                                   "(apt-get install chromium fonts-noto-cjk poppler-utils)")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
METHODS = ["webpdf", "chromium"]
SECRET = "TOPSECRET-7f3a9"  # what a file of the renderer's machine holds
KEY_LINES = "Epoch: 1\nTrain loss: 2.301 | Train acc: 0.101 Val loss: 2.298 | Val acc: 0.112\n" \
            "Finished Training\nTest Accuracy: 12.34%\n"
JS_MARK = "JS" + "RAN"  # what a script that ran writes; the payload's own text never holds it joined


def payloads(secret):
    """The five hostile payloads of issue 29 (item 4), aimed at the file ``secret``."""
    ran = "document.body.insertAdjacentText('afterbegin', 'JS' + 'RAN')"
    return {"script": f"<script>{ran}</script><img src=x onerror=\"{ran}\">",
            "iframe": f'<iframe src="file://{secret}" width="400" height="80"></iframe>',
            "object": f'<object data="file://{secret}" type="text/plain" width="400" height="80"></object>',
            "meta": f'<meta http-equiv="refresh" content="0;url=file://{secret}">',
            "style": "<style>.jp-Cell, .jp-Notebook, body { display: none !important }</style>"}


def hostile_notebook(folder, names, math=False):
    """A notebook (as executed: outputs written in) with each payload of ``names`` in a Markdown cell and in an
    HTML output, each beside a visible marker, and the key prints of a training run. ``math``: a formula too
    (the page then runs MathJax: scripts on)."""
    secret = folder / "secret.txt"
    secret.write_text(SECRET + "\n")
    cells = [nbformat.v4.new_markdown_cell("# Hostile notebook\n\nPlain text stays." + (" $a^2$" if math else ""))]
    for name in names:
        html = payloads(secret)[name]
        cells.append(nbformat.v4.new_markdown_cell(f"Markdown {name} marker\n\n{html}"))
        code = nbformat.v4.new_code_cell(f"display(HTML(payload_{name}))", execution_count=len(cells))
        code.outputs = [nbformat.v4.new_output("display_data", data={
            "text/html": f"<p>Output {name} marker</p>{html}", "text/plain": "<IPython.core.display.HTML object>"})]
        cells.append(code)
    run = nbformat.v4.new_code_cell("fit(...)", execution_count=len(cells) + 1)
    run.outputs = [nbformat.v4.new_output("stream", name="stdout", text=KEY_LINES)]
    cells.append(run)
    path = folder / "hostile.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(path))
    return str(path)


def pdf_text(pdf):
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def _route(method):
    if method == "webpdf":
        pytest.importorskip("playwright", reason="playwright not installed (pip install 'nbconvert[webpdf]')")


# ---- everything on: each payload inert, the content all there ----------------------------------------------
@pytest.mark.slow
@needs_browser
@needs_poppler
@pytest.mark.parametrize("name", list(payloads("x")))
@pytest.mark.parametrize("method", METHODS)
def test_payload_is_inert(tmp_path, method, name):
    _route(method)
    pdf = export_pdf(hostile_notebook(tmp_path, [name]), tmp_path / "out.pdf", method=method, verbose=False)
    text = pdf_text(pdf)
    flat = "".join(text.split())
    assert SECRET not in text  # no file of the renderer's machine printed
    assert JS_MARK not in text  # no script ran
    assert f"Markdown{name}marker" in flat and f"Output{name}marker" in flat  # not blanked, not replaced
    assert "Plain text stays." in text and "Test Accuracy: 12.34%" in text


# ---- the browser lock alone (sanitizer off): no script, no file, no request -------------------------------------
@pytest.mark.slow
@needs_browser
@needs_poppler
@pytest.mark.parametrize("math", [False, True], ids=["no-math", "math"])
@pytest.mark.parametrize("method", METHODS)
def test_browser_lock_holds_without_the_sanitizer(tmp_path, method, math, monkeypatch):
    """No script, frame or object even with the sanitizer off: with math too, where MathJax's scripts run."""
    _route(method)
    monkeypatch.setattr(template.SafeHTMLPreprocessor, "sanitize_html_tags", lambda self, html: html)
    nb = hostile_notebook(tmp_path, ["script", "iframe", "object"], math)
    assert "<iframe" in open(nb).read()
    text = pdf_text(export_pdf(nb, tmp_path / "out.pdf", method=method, verbose=False))
    assert SECRET not in text and JS_MARK not in text
    assert "Output iframe marker" in text and "Test Accuracy: 12.34%" in text
    if math and template.mathjax_url():  # labkit's own MathJax still typeset the formula
        assert "$a^2$" not in text and "Plain text stays." in text


@pytest.mark.slow
@needs_browser
@pytest.mark.parametrize("method", METHODS)
def test_a_blanked_or_replaced_page_is_refused(tmp_path, method, monkeypatch):
    """Should a style or a refresh get past the sanitizer, the PDF's text check (or, on the playwright route,
    the refused navigation) refuses the PDF: nothing is written."""
    _route(method)
    monkeypatch.setattr(template.SafeHTMLPreprocessor, "sanitize_html_tags", lambda self, html: html)
    for name, said in [("style", "does not show 4 of the lines"),
                       ("meta", "tried to go to file://" if method == "webpdf" else "does not show 4 of the lines")]:
        out = tmp_path / f"{name}.pdf"
        with pytest.raises(ExportError, match=said) as e:
            export_pdf(hostile_notebook(tmp_path, [name]), out, method=method, verbose=False)
        assert not out.exists()
        if name == "style":
            assert "'Epoch: 1'; 'Train loss: 2.301" in str(e.value) and "'Finished Training' and 1 more" in str(e.value)


# ---- the sanitizer keeps labkit's own content -----------------------------------------------------------------
def _png():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    plt.plot([1, 2], [2, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def test_sanitizer_keeps_labkit_content(tmp_path):
    import pandas as pd
    from traitlets.config import Config

    png = _png()
    table = pd.DataFrame({"test acc": [61.2, 70.4]}, index=["baseline", "augmentation"])
    md = ("# Report\n\n## 1. Results\n\nSee [the results](#1.-Results) and [labkit](https://example.org).\n\n"
          "| run | acc |\n|---|---|\n| a | 1 |\n\n$a^2 + b^2 < c^2$\n\n```python\nif a < b:\n    pass\n```\n\n> a note")
    cells = [nbformat.v4.new_markdown_cell(md), nbformat.v4.new_code_cell("show(table)", execution_count=1)]
    cells[1].outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": table._repr_html_(), "text/plain": "table"}),
        nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
        nbformat.v4.new_output("display_data", data={"text/html": f'<img src="data:image/png;base64,{png}">',
                                                     "text/plain": "img"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "### Tier\n\n**> 80 %**: [up](#Report)",
                                                     "text/plain": "md"})]
    nb = nbformat.v4.new_notebook(cells=cells)
    cfg = template.nbconvert_config(False, "auto", template.write_template(str(tmp_path)))
    html, _ = template.SafeHTMLExporter(config=Config(cfg)).from_notebook_node(nb)
    body = html.split("<body", 1)[1]
    assert '<table class="dataframe">' in body and "<td>61.2</td>" in body and "augmentation" in body
    assert ".dataframe tbody" not in body  # pandas' style sheet is gone with its text
    assert body.count(f"data:image/png;base64,{png[:40]}") == 2  # the figure and the HTML picture
    assert '<h2 id="1.-Results">' in body and 'href="#1.-Results"' in body and 'href="https://example.org"' in body
    assert 'class="anchor-link"' in body and '<h3 id="Tier">' in body and 'href="#Report"' in body
    assert "<th>run</th>" in body and "$a^2 + b^2 &lt; c^2$" in body and "<blockquote>" in body
    assert '<span class="o">&lt;</span>' in body  # code blocks keep their "<" (cleaned after rendering)
    assert "<script" not in body


def test_run_records_are_not_printed(tmp_path):
    """The runs a cell used are recorded in its outputs (RUNS_MIME, for the hand-in's manifest): the PDF's HTML
    leaves them out, without nbconvert's warning that it cannot show them, and keeps the cell's prints."""
    import warnings

    from traitlets.config import Config

    from labkit.notebook import RUNS_MIME
    cell = nbformat.v4.new_code_cell("res = fit(cfg)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Test Accuracy: 71.30%\n"),
                    nbformat.v4.new_output("display_data", data={RUNS_MIME: {"runs": [{"path": "runs/x"}]}})]
    nb = nbformat.v4.new_notebook(cells=[cell])
    cfg = template.nbconvert_config(False, "auto", template.write_template(str(tmp_path)))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*not able to be represented")
        html, _ = template.SafeHTMLExporter(config=Config(cfg)).from_notebook_node(nb)
    body = html.split("<body", 1)[1]
    assert "Test Accuracy: 71.30%" in body and "runs/x" not in body
    assert len(nb.cells[0].outputs) == 2  # the notebook itself (the hand-in's .ipynb) keeps its record


def test_sanitizer_removes_what_a_browser_would_run_or_load():
    clean = template.SafeHTMLPreprocessor().sanitize_html_tags
    for html in payloads("/etc/passwd").values():
        out = clean(html).lower()
        for bad in ("<script", "onerror", "<iframe", "<object", "<meta", "<style", "file:", "display"):
            assert bad not in out, (html, out)
    for html in ['<embed src="file:///etc/passwd">', '<link rel="stylesheet" href="file:///x.css">',
                 '<base href="file:///etc/">', '<form action="https://x"><input name="a"></form>',
                 '<a href="javascript:alert(1)">x</a>', '<img src="file:///etc/passwd.png">',
                 '<svg><script>alert(1)</script></svg>', '<div class="jp-Cell lm-mod-hidden" style="position: fixed; '
                 'display: none; text-align: right">x</div>']:
        out = clean(html).lower()
        for bad in ("<embed", "<link", "<base", "<form", "<input", "javascript:", "file:", "<svg", "<script",
                    "jp-cell", "position", "display"):
            assert bad not in out, (html, out)
    assert 'style="text-align: right;"' in clean('<div style="display: none; text-align: right">x</div>')


def test_outputs_a_browser_would_run_are_dropped():
    cell = nbformat.v4.new_code_cell("x", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "application/javascript": "alert(1)", "text/vnd.mermaid": "graph TD; A-->B", "text/plain": "x",
        "text/html": "<b>kept</b><script>alert(1)</script>"})]
    raw = nbformat.v4.new_raw_cell('<meta http-equiv="refresh" content="0;url=file:///etc/passwd">raw text')
    nb = nbformat.v4.new_notebook(cells=[cell, raw])
    nb, _ = template.SafeHTMLPreprocessor().preprocess(nb, {})
    assert set(nb.cells[0].outputs[0].data) == {"text/plain", "text/html"}
    assert nb.cells[0].outputs[0].data["text/html"] == "<b>kept</b>"
    assert nb.cells[1].source == "raw text"


def test_page_policy_comes_first_and_allows_only_mathjax_and_the_template():
    html = ('<html><head><meta charset="utf-8"><script>init()</script></head>'
            '<body><script>evil()</script></body></html>')
    out = template.with_content_policy(html, "file:///usr/share/javascript/mathjax/MathJax.js?config=X")
    assert out.startswith('<html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\';')
    policy = out.split('content="', 1)[1].split('"', 1)[0]
    h = base64.b64encode(__import__("hashlib").sha256(b"init()").digest()).decode()
    assert f"'sha256-{h}'" in policy and policy.count("'sha256-") == 1  # the head's script only
    assert "img-src data:;" in policy and "frame" not in policy and "'self'" in policy
    cdn = template.content_policy(html, "https://cdn.example/mathjax/2.7.7/MathJax.js?config=X")
    assert "https://cdn.example/mathjax/2.7.7/" in cdn and "'self'" not in cdn
    assert "script-src 'none';" in template.content_policy(html)  # no math: no script at all


# ---- the key prints must be in the PDF --------------------------------------------------------------------------
def test_key_prints_are_the_training_lines():
    cell = nbformat.v4.new_code_cell("fit()", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\nEpoch: 1\n" + KEY_LINES),
                    nbformat.v4.new_output("stream", name="stderr", text="Test Accuracy: 99.00%\n")]
    removed = nbformat.v4.new_code_cell("x", execution_count=2)
    removed.metadata["tags"] = ["remove-cell"]
    removed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Test Accuracy: 50.00%\n")]
    nb = nbformat.v4.new_notebook(cells=[cell, removed])
    assert key_prints(nb) == ["Epoch: 1", "Train loss: 2.301 | Train acc: 0.101 Val loss: 2.298 | Val acc: 0.112",
                              "Finished Training", "Test Accuracy: 12.34%"]


@pytest.mark.slow
@needs_browser
def test_a_given_pdf_without_the_notebooks_prints_is_refused(tmp_path):
    from labkit.handin.submit import _check_pdf

    good = hostile_notebook(tmp_path, [])
    pdf = export_pdf(good, tmp_path / "good.pdf", method="chromium", verbose=False)
    assert _check_pdf(pdf, [good]) == []
    edited = nbformat.read(good, 4)
    edited.cells[-1].outputs[0].text = KEY_LINES.replace("12.34%", "85.20%")
    other = tmp_path / "edited.ipynb"
    nbformat.write(edited, str(other))
    with pytest.raises(SubmissionError, match=r"does not show 1 of the lines .*'Test Accuracy: 85.20%'"):
        _check_pdf(pdf, [str(other)])


# ---- a page that crashes the browser (issue 31 row 19) ----------------------------------------------------------
def _crash_notebook(folder, formula):
    cells = [nbformat.v4.new_markdown_cell("# Crash\n\nfine"), nbformat.v4.new_markdown_cell("also fine"),
             nbformat.v4.new_markdown_cell(f"$${formula}$$"), nbformat.v4.new_markdown_cell("after")]
    path = folder / "crash.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(path))
    return str(path)


def test_a_crashed_page_names_its_cell_without_an_install_hint(tmp_path, monkeypatch):
    """Simulated: a route whose page crashes on one cell's content (no browser needed)."""
    def fake_route(html, workdir, browser, timeout, scripts=None):
        if "CRASHME" in open(html, encoding="utf-8").read():
            raise pdfmod._PageCrashed("the browser's page crashed")
        pdf = os.path.join(workdir, "out.pdf")
        with open(pdf, "wb") as f:
            f.write(b"%PDF-1.4 printed")
        return pdf, "a fake route"

    monkeypatch.setattr(pdfmod, "_chromium", fake_route)
    monkeypatch.setattr(pdfmod, "_webpdf", lambda *a: (_ for _ in ()).throw(AssertionError("not tried after a crash")))
    nb = _crash_notebook(tmp_path, "CRASHME")
    with pytest.raises(ExportError) as e:
        export_pdf(nb, tmp_path / "x.pdf", method="chromium", verbose=False)
    msg = str(e.value)
    assert msg.startswith("the page crashed while rendering cell 3 of 4 (markdown, starting '$$CRASHME$$')")
    assert "apt-get" not in msg and "install" not in msg and not (tmp_path / "x.pdf").exists()


@pytest.mark.slow
@needs_browser
@pytest.mark.parametrize("method", ["auto", "chromium"])
def test_a_real_page_crash_names_its_cell(tmp_path, method):
    """A formula nested 200 deep crashes Chromium's page (MathJax's layout): named, quickly, no install hint,
    and on ``auto`` the second route is not tried (it would crash too)."""
    if not template.mathjax_url():
        pytest.skip("no local MathJax (apt-get install libjs-mathjax): the CDN is not reached offline")
    nb = _crash_notebook(tmp_path, "\\frac{1}{" * 200 + "x" + "}" * 200)
    with pytest.raises(ExportError) as e:
        export_pdf(nb, tmp_path / "x.pdf", method=method, verbose=False, timeout=120)
    msg = str(e.value)
    assert msg.startswith("the page crashed while rendering cell 3 of 4 (markdown, starting '$$\\\\frac{1}")
    assert "install" not in msg and "took more than" not in msg


def test_a_notebook_title_stays_inside_its_css_string(tmp_path):
    """The title printed at the top of each page comes from the notebook's metadata: a line break, quote or
    backslash in it cannot end the CSS string and add rules (hide every cell)."""
    from traitlets.config import Config

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("text")])
    nb.metadata["title"] = 'a\\b"c<d\n}} .jp-Cell { display: none }\r\fz'
    cfg = template.nbconvert_config(False, "auto", template.write_template(str(tmp_path)))
    html, _ = template.SafeHTMLExporter(config=Config(cfg)).from_notebook_node(nb)
    assert '@top-right { content: "abcd }} .jp-Cell { display: none }  z"; font:' in html
