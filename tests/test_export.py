"""PDF export (labkit.handin.pdf): real notebooks, executed here, printed by a real Chromium.

Tests that need a browser are skipped with the reason where none is installed (setup.sh installs
Debian's chromium + fonts-noto-cjk + poppler-utils as root, so CI runs them)."""
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.handin.browser import find_browser
from labkit.handin.errors import ExportError
from labkit.handin.pdf import export_pdf
from labkit.handin.template import missing_cjk_fonts

CJK_HEADING = "實驗結果：卷積神經網路"
KOREAN = "한국어 보고서"

BROWSER = find_browser()
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome installed "
                                   "(apt-get install chromium fonts-noto-cjk poppler-utils)")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdfimages") is None,
                                   reason="poppler-utils (pdftotext, pdfimages) not installed")


def executed_notebook(path, cells, allow_errors=False):
    """Write ``cells`` [(kind, source, tags)] as a notebook and execute it for real (nbclient)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src, tags in cells:
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": os.path.dirname(str(path))}}).execute()
    nbformat.write(nb, str(path))
    return str(path)


@pytest.fixture(scope="module")
def demo_nb(tmp_path_factory):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = tmp_path_factory.mktemp("export")
    fig = plt.figure(figsize=(2, 2))
    plt.bar([1, 2], [2, 1])
    fig.savefig(d / "linked.png")  # a picture a Markdown cell links to, next to the notebook
    plt.close(fig)
    return executed_notebook(d / "demo.ipynb", [
        ("md", f"# {CJK_HEADING}\n\n{KOREAN}: 표와 그림. Math: $a^2 + b^2 = c^2$\n\n![linked](linked.png)", None),
        ("code", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('curve')\nplt.show()",
         None),
        ("code", "print('SECRET_CODE_MARKER' if False else 'printed 中文 output')", ["hide-input"]),
        ("code", "print('this cell is removed')", ["remove-cell"]),
    ])


def pdf_text(pdf):
    return subprocess.run(["pdftotext", "-enc", "UTF-8", pdf, "-"], capture_output=True, text=True,
                          check=True).stdout


def pdf_images(pdf):
    out = subprocess.run(["pdfimages", "-list", pdf], capture_output=True, text=True, check=True).stdout
    return [ln for ln in out.splitlines()[2:] if ln.strip()]


@pytest.mark.slow
@needs_browser
@needs_poppler
@pytest.mark.parametrize("method", ["webpdf", "chromium"])
def test_pdf_has_plot_and_cjk_text(demo_nb, tmp_path, method):
    if method == "webpdf":
        pytest.importorskip("playwright", reason="playwright not installed (pip install 'nbconvert[webpdf]')")
    out = export_pdf(demo_nb, tmp_path / f"{method}.pdf", method=method, verbose=False)
    with open(out, "rb") as f:
        data = f.read()
    assert data.startswith(b"%PDF-")
    assert len(data) > 20_000  # a page with a raster figure and embedded CJK fonts
    assert len(pdf_images(out)) >= 2  # the matplotlib output and the linked picture (embedded)
    text = pdf_text(out)
    flat = "".join(text.split())  # pdftotext breaks lines where the layout puts spans apart
    assert CJK_HEADING in flat
    assert KOREAN.replace(" ", "") in flat
    assert "printed中文output" in flat  # output of a hide-input cell stays...
    assert "SECRET_CODE_MARKER" not in text  # ...its code does not
    assert "this cell is removed" not in text  # remove-cell cells are gone
    assert "plt.plot" in text  # other code is shown by default


@pytest.mark.slow
@needs_browser
@needs_poppler
def test_hide_code_and_cli(demo_nb, tmp_path, capsys):
    out = tmp_path / "hidden.pdf"
    r = subprocess.run([sys.executable, "-m", "labkit.handin.pdf", demo_nb, "-o", str(out), "--hide-code"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "PDF written" in r.stdout
    text = pdf_text(str(out))
    assert "plt.plot" not in text and "In [" not in text
    assert CJK_HEADING in "".join(text.split())
    # a second export replaces the PDF (it is derived from the notebook) and says so
    export_pdf(demo_nb, out, method="chromium", hide_code=True)
    assert "replaced the earlier PDF" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["hidden.pdf"]  # no temporary files left


@pytest.mark.slow
def test_no_browser_names_what_to_install(demo_nb, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no chromium on the PATH
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(empty))  # no playwright browser either
    monkeypatch.delenv("LABKIT_CHROMIUM", raising=False)
    with pytest.raises(ExportError) as e:
        export_pdf(demo_nb, tmp_path / "x.pdf", verbose=False)
    msg = str(e.value)
    assert "apt-get install chromium fonts-noto-cjk" in msg and "playwright install" in msg
    assert not (tmp_path / "x.pdf").exists()


def test_bad_inputs(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json")
    with pytest.raises(ExportError, match="not a readable Jupyter notebook"):
        export_pdf(bad, verbose=False)
    with pytest.raises(ExportError, match="does not exist"):
        export_pdf(tmp_path / "missing.ipynb", verbose=False)
    nb = nbformat.v4.new_notebook()
    nbformat.write(nb, str(tmp_path / "ok.ipynb"))
    with pytest.raises(ExportError, match="unknown export method"):
        export_pdf(tmp_path / "ok.ipynb", method="latex", verbose=False)
    r = subprocess.run([sys.executable, "-m", "labkit.handin.pdf", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: ")


def test_missing_cjk_font_is_detected(monkeypatch, tmp_path):
    """Text in a script no installed font covers is reported (it would print as empty boxes)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "fc-list").write_text("#!/bin/sh\nexit 0\n")  # fontconfig that lists no font at all
    (fake / "fc-list").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"{CJK_HEADING} {KOREAN}")])
    assert missing_cjk_fonts(nb) == ["zh", "ko"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("only English")])
    assert missing_cjk_fonts(nb) == []


@pytest.mark.slow
@needs_browser
def test_auto_falls_back_to_chromium_print(demo_nb, tmp_path, monkeypatch, capsys):
    import labkit.handin.pdf as ex

    def broken(*a, **k):
        raise ExportError("nbconvert --to webpdf failed (exit 1): RuntimeError: simulated")

    monkeypatch.setattr(ex, "_webpdf", broken)
    out = export_pdf(demo_nb, tmp_path / "fallback.pdf")
    assert open(out, "rb").read(5) == b"%PDF-"
    printed = capsys.readouterr().out
    assert "simulated; trying the next route" in printed and "--print-to-pdf" in printed


@pytest.mark.slow
def test_a_browser_that_does_not_start_is_named(demo_nb, tmp_path):
    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(ExportError, match="does not start: check the path"):
        export_pdf(demo_nb, tmp_path / "x.pdf", browser=str(fake), verbose=False)
    assert not (tmp_path / "x.pdf").exists()


# ---- a PDF a TA navigates: A4, numbered pages, a title, bookmarks ------------------------------------------------
A4_PT = (595, 842)


def pdf_facts(path):
    """(page sizes in pt, page texts, document title, [(bookmark title, page index)] flattened)."""
    from pypdf import PdfReader

    reader = PdfReader(path)

    def flat(items):
        for it in items:
            if isinstance(it, list):
                yield from flat(it)
            else:
                yield it.title, reader.get_destination_page_number(it)

    sizes = [(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages]
    texts = [p.extract_text() or "" for p in reader.pages]
    return sizes, texts, (reader.metadata or {}).get("/Title"), list(flat(reader.outline))


@pytest.fixture(scope="module")
def long_nb(tmp_path_factory):
    """A notebook of several pages: headings, long prints, a figure with a table."""
    d = tmp_path_factory.mktemp("long")
    cells = [("md", "# Long notebook\n\nIntro text.", None)]
    for k in range(1, 4):
        cells += [("md", f"## Section {k} of the notebook", None),
                  # lines too wide for a column of a long print (test_long_print_is_set_in_columns): one column
                  ("code", f"for i in range(70):\n    print('section {k} line', i, '.' * 80)", None)]
    cells += [("code", "import matplotlib.pyplot as plt\nfrom IPython.display import HTML, display\n"
               "plt.plot([1, 2]); plt.show()\ndisplay(HTML('<table>' + '<tr><td>row</td></tr>' * 10 + '</table>'))",
               None)]
    return executed_notebook(d / "long.ipynb", cells)


@pytest.mark.slow
@needs_browser
@pytest.mark.parametrize("method", ["webpdf", "chromium"])
def test_pdf_is_a4_numbered_titled_and_bookmarked(long_nb, tmp_path, method):
    if method == "webpdf":
        pytest.importorskip("playwright", reason="playwright not installed (pip install 'nbconvert[webpdf]')")
    out = export_pdf(long_nb, tmp_path / "long.pdf", method=method, title="F74091234 Lab 2 report", verbose=False)
    sizes, texts, title, outline = pdf_facts(out)
    assert len(sizes) >= 3
    assert all(abs(w - A4_PT[0]) <= 1 and abs(h - A4_PT[1]) <= 1 for w, h in sizes)  # A4, not US Letter
    n = len(texts)
    assert all(f"{i} / {n}" in t for i, t in enumerate(texts, 1))  # "3 / 5" on every page
    assert title == "F74091234 Lab 2 report"
    titles = [t for t, _ in outline]
    assert titles[:4] == ["Long notebook", "Section 1 of the notebook", "Section 2 of the notebook",
                          "Section 3 of the notebook"]
    pages = dict(outline)
    assert all(f"Section {k} of the notebook" in texts[pages[f"Section {k} of the notebook"]] for k in (1, 2, 3))
    assert pages["Section 3 of the notebook"] > pages["Section 1 of the notebook"]


@pytest.mark.slow
@needs_browser
def test_default_title_is_the_notebook_title_or_name(demo_nb, tmp_path):
    _, _, title, outline = pdf_facts(export_pdf(demo_nb, tmp_path / "d.pdf", method="chromium", verbose=False))
    assert title == "demo" and [t for t, _ in outline] == [CJK_HEADING]


@pytest.mark.slow
@needs_browser
def test_bookmarks_are_added_where_the_browser_made_none(long_nb, tmp_path):
    """An older Chromium prints no outline: labkit.handin.bookmarks finds each heading's page in the text."""
    from pypdf import PdfReader, PdfWriter

    from labkit.handin.bookmarks import finish_pdf

    native = export_pdf(long_nb, tmp_path / "native.pdf", method="chromium", verbose=False)
    writer = PdfWriter()
    writer.append(PdfReader(native), import_outline=False)  # the same pages, no bookmarks, no title
    bare = tmp_path / "bare.pdf"
    with open(bare, "wb") as f:
        writer.write(f)
    assert pdf_facts(str(bare))[3] == []
    headings = ["Long notebook"] + [f"Section {k} of the notebook" for k in (1, 2, 3)]
    data, notes = finish_pdf(bare.read_bytes(), "My title", headings)
    fixed = tmp_path / "fixed.pdf"
    fixed.write_bytes(data)
    _, _, title, outline = pdf_facts(str(fixed))
    assert title == "My title" and "added 4 with pypdf" in notes[0]
    assert outline == [(t, p) for t, p in pdf_facts(native)[3] if t in headings]  # the browser's pages


def test_heading_pages_skip_the_table_of_contents():
    from labkit.handin.bookmarks import heading_pages

    heads = ["1. Introduction", "2. Results", "Appendix A: Task 1 notebook"]
    pages = ["Title\nContents\n1. Introduction\n2. Results\nAppendix A: Task 1 notebook\n1. Introduction\ntext",
             "more text\n2. Results\n", "Appendix A: Task 1\nnotebook\n"]  # a heading broken over two lines
    assert heading_pages(pages, heads) == {"1. Introduction": 0, "2. Results": 1, "Appendix A: Task 1 notebook": 2}


def test_page_fit_tags_what_stays_together():
    """Small code cells and a figure with its table print unbroken; long cells may break; headings and
    captions stay with what follows; the estimate sees only what is printed."""
    from labkit.handin.template import KEEP_NEXT_TAG, KEEP_TAG, PageFitPreprocessor

    import base64
    import struct

    # the start of a 600x400 PNG: its size is all the estimate reads
    head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 600, 400) + b"\x08\x02" * 8
    png = base64.b64encode(head).decode()
    small = nbformat.v4.new_code_cell("print(1)")
    small.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    long = nbformat.v4.new_code_cell("for i in range(200): print(i)")
    long.outputs = [nbformat.v4.new_output("stream", name="stdout", text="line\n" * 200)]
    figure = nbformat.v4.new_code_cell("plot_confusion(...)")
    figure.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
                      nbformat.v4.new_output("display_data", data={
                          "text/html": "<table>" + "<tr><td>class</td><td>9.0</td></tr>" * 11 + "</table>",
                          "text/plain": "table"})]
    heading = nbformat.v4.new_markdown_cell("## Curves")
    prose = nbformat.v4.new_markdown_cell("A long paragraph.\n\n" * 20)
    nb = nbformat.v4.new_notebook(cells=[heading, small, long, figure, prose])
    PageFitPreprocessor().preprocess(nb, {})
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert KEEP_NEXT_TAG in tags[0] and KEEP_TAG in tags[1] and KEEP_TAG not in tags[2]
    assert KEEP_TAG in tags[3] and KEEP_NEXT_TAG not in tags[4]
    # a heading with its sentence stays with the figure after it, not with another section (no chain of keeps)
    intro, section = nbformat.v4.new_markdown_cell("## 1. Intro\n\nOne line."), nbformat.v4.new_markdown_cell("## 2")
    lead = nbformat.v4.new_markdown_cell("### 3.3 Confusion\n\nFigure 2 shows them.")
    nb = nbformat.v4.new_notebook(cells=[intro, section, small, lead, figure])
    PageFitPreprocessor().preprocess(nb, {})
    keep_next = [KEEP_NEXT_TAG in c.metadata.get("tags", []) for c in nb.cells]
    assert keep_next[:2] == [False, True] and keep_next[3]


# ---- a long print (a 30-epoch run's per-epoch lines) in columns ---------------------------------------------
def _stdout(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def epoch_log_cell(epochs=30):
    """A training cell as papermill stores it: one stream output per print (the handout's per-epoch lines, the
    widest values they take: 72 characters)."""
    cell = nbformat.v4.new_code_cell("run = labkit.train(...)")
    cell.outputs = [_stdout("Run folder: runs/simplecnn-1 | device cpu | precision bf16 | channels_last True\n")]
    for e in range(1, epochs + 1):
        cell.outputs += [_stdout(f"Epoch: {e}\n"), _stdout("learning rate: 0.03\n"),
                         _stdout(f"Train loss: {10 + e / 7:.3f} | Train acc: 0.{400 + e} Val loss: {36 + e / 3:.3f} | "
                                 f"Val acc: 0.{500 + e}\n")]
    cell.outputs += [_stdout("Finished Training\n"), _stdout("Test Accuracy: 54.30%\n")]
    return cell


def log_notebook():
    """A short print, a 30-epoch log, a long print of wide lines (source), a long stderr print."""
    short = nbformat.v4.new_code_cell("print(1)")
    short.outputs = [_stdout("short print\n")]
    wide = nbformat.v4.new_code_cell("labkit.show_source(net)")
    wide.outputs = [_stdout("".join(f"    x = self.pool(F.relu(self.conv{i}(x)))  # a wide line of source code, "
                                    f"{i}\n" for i in range(40)))]
    err = nbformat.v4.new_code_cell("warn()")
    err.outputs = [nbformat.v4.new_output("stream", name="stderr", text="warning\n" * 40)]
    return nbformat.v4.new_notebook(cells=[short, epoch_log_cell(), wide, err], metadata={"title": "logs"})


def test_long_print_is_set_in_columns(tmp_path):
    """A cell's prints are joined as Jupyter shows them; a stdout print of more than LOG_LINES lines that fit a
    column gets 2 columns (the per-epoch line fits one), every other print is unchanged; the notebook is not."""
    import copy

    from traitlets.config import Config

    from labkit.handin.template import SafeHTMLExporter, log_columns, merged_streams, nbconvert_config, write_template

    nb = log_notebook()
    log = nb.cells[1]
    joined = merged_streams(log.outputs)
    assert len(joined) == 1 and joined[0].text == "".join(o.text for o in log.outputs)
    assert len(log.outputs) == 93 and log.outputs[0].text.startswith("Run folder")  # the cell's outputs unchanged
    assert log_columns(joined[0]) == 2 and log_columns(log.outputs[1]) == 1  # 93 lines; one line
    assert log_columns(nb.cells[2].outputs[0]) == 1 and log_columns(nb.cells[3].outputs[0]) == 1  # wide; stderr
    assert log_columns(_stdout("Epoch: 1\n" * 30)) == 3
    nb.cells[0].outputs[0]["labkit_columns"] = '3" onload="alert(1)'  # a notebook's own value is never printed
    before = copy.deepcopy(nb)
    cfg = nbconvert_config(False, None, write_template(str(tmp_path)))
    html, _ = SafeHTMLExporter(config=Config(cfg)).from_notebook_node(nb)
    assert nb == before
    body = html.split("<body", 1)[1]
    assert body.count("labkit-log labkit-log-2") == 1 and "labkit-log-3" not in body and "onload" not in body
    assert "short print" in body and "Epoch: 30" in body and body.count("jp-RenderedText") == 4


@pytest.mark.slow
@needs_browser
@needs_poppler
def test_long_print_in_columns_keeps_every_line(tmp_path):
    """Printed: the 30-epoch log runs in two columns (epoch 30 right of epoch 1), each per-epoch line on one
    line of its column, and the PDF's text holds every line of every print (the key-prints check passes)."""
    from pypdf import PdfReader

    from labkit.handin.bookmarks import missing_lines

    path = tmp_path / "logs.ipynb"
    nb = log_notebook()
    nbformat.write(nb, str(path))
    out = export_pdf(path, tmp_path / "logs.pdf", method="chromium", verbose=False)
    data = open(out, "rb").read()
    printed = [ln for c in nb.cells for o in c.outputs for ln in o.text.splitlines()]
    assert missing_lines(data, printed) == []
    text_lines = {ln.strip() for ln in pdf_text(out).splitlines()}
    assert all(ln in text_lines for ln in printed if ln.startswith("Train loss"))  # never wrapped
    x = {}

    def visit(text, cm, tm, font, size):
        if text.strip().startswith("Epoch: "):
            x.setdefault(text.strip(), tm[4] * cm[0] + cm[4])

    for page in PdfReader(out).pages:
        page.extract_text(visitor_text=visit)
    assert x["Epoch: 30"] - x["Epoch: 1"] > 150  # pt: the second column, not the first
