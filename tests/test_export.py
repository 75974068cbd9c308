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


def test_a_browser_that_does_not_start_is_named(demo_nb, tmp_path):
    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(ExportError, match="does not start: check the path"):
        export_pdf(demo_nb, tmp_path / "x.pdf", browser=str(fake), verbose=False)
    assert not (tmp_path / "x.pdf").exists()
