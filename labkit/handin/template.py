"""How a notebook looks as a PDF: nbconvert's configuration and HTML template.

The template is nbconvert's ``lab`` look with print fixes (CSS below); cells tagged ``hide-input`` /
``remove-input`` lose their code, ``remove-cell`` cells disappear, progress bars (tqdm) are left out.
MathJax comes from Debian's ``libjs-mathjax`` when installed (offline), else nbconvert's CDN.
``missing_cjk_fonts`` finds Chinese/Korean/Japanese text that no installed font covers.
"""
import base64
import json
import os
import re
import shutil
import struct
import subprocess

from nbconvert.preprocessors import Preprocessor

from .notebooks import REMOVE_CELL_TAGS, REMOVE_INPUT_TAGS, StripProgressPreprocessor
from .notebooks import text_of as _text

MATHJAX_LOCAL = "/usr/share/javascript/mathjax/MathJax.js"
MATHJAX_CONFIG = "?config=TeX-AMS_CHTML-full,Safe"
# progress bars stay on the screen, not in the PDF (nbconvert imports the preprocessor by this name)
STRIP_PROGRESS = f"{StripProgressPreprocessor.__module__}.{StripProgressPreprocessor.__qualname__}"


def mathjax_url(mathjax="auto"):
    """The MathJax the HTML loads: Debian's libjs-mathjax (offline) when installed, else nbconvert's CDN."""
    if mathjax not in (None, "auto"):
        return mathjax
    if os.path.isfile(MATHJAX_LOCAL):
        return "file://" + MATHJAX_LOCAL + MATHJAX_CONFIG
    return None


_CJK = {"zh": re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]"), "ko": re.compile(r"[\uac00-\ud7af\u1100-\u11ff]"),
        "ja": re.compile(r"[\u3040-\u30ff]")}


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


def has_font(lang):
    """True if fontconfig lists a font for the language ``lang`` ('zh', 'ko', 'ja'...), False if it lists
    none, None when it cannot tell (no fc-list, or fc-list fails)."""
    if shutil.which("fc-list") is None:
        return None
    try:
        out = subprocess.run(["fc-list", f":lang={lang}", "family"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def missing_cjk_fonts(nb):
    """Languages ('zh', 'ko', 'ja') present in the notebook for which fontconfig lists no font
    (their text would print as empty boxes). Empty when all are covered or fc-list is absent."""
    text = _notebook_text(nb)
    return [lang for lang, rx in _CJK.items() if rx.search(text) and has_font(lang) is False]


# The page: A4 with the page number ("3 / 26") at the bottom and the document title at the top of every page
# (CSS margin boxes: Chromium >= 131 prints them on both routes). The estimate of what fits on a page uses the
# same numbers.
PAGE_MM = (210, 297)
MARGIN_MM = (14, 13, 16, 13)  # top, right, bottom, left
PX_PER_MM = 96 / 25.4
PAGE_HEIGHT_PX = (PAGE_MM[1] - MARGIN_MM[0] - MARGIN_MM[2]) * PX_PER_MM  # about 1,010 CSS px
FIGURE_MAX_MM = 105  # a figure takes at most about half a page (CSS below)

# The webpdf look (nbconvert's lab template) with print fixes, after the lab CSS so they win: code and text
# outputs wrapped at spaces (never cut at the page edge, never mid-word) in a smaller monospace font, wide
# tables in a smaller font, figures at most half a page and never split; a heading or a caption stays with
# what follows it, a code cell with its output when the two fit on a page (tag labkit-keep, set by
# PageFitPreprocessor below); anything longer may break anywhere between lines, so no avoid rule on a large
# block leaves a half-empty page. The report's cells show no In/Out prompts; each appendix starts a page.
TEMPLATE_NAME = "labkit_pdf"
TEMPLATE_CONF = {"base_template": "lab", "mimetypes": {"text/html": True, "application/pdf": True}}
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{% block html_head_css %}
{%- set page_title = nb.metadata.get('title', '') | replace('\\\\', '') | replace('"', '') | replace('<', '') -%}
<style type="text/css">
@page {
  size: A4; margin: MARGINS;
  @bottom-center { content: counter(page) " / " counter(pages); font: 9px sans-serif; color: #444; }
  {% if page_title %}@top-right { content: "{{ page_title }}"; font: 8px sans-serif; color: #777; }{% endif %}
}
@media print {
  /* JupyterLab's areas scroll (overflow auto/hidden): Chromium prints a scroll container as one unbreakable
     block, moved whole to the next page. Visible overflow lets a long code cell or print break between lines. */
  .jp-Cell, .jp-Cell-inputWrapper, .jp-Cell-outputWrapper, .jp-InputArea, .jp-InputArea-editor, .jp-CodeMirrorEditor,
  .jp-InputArea-editor .highlight, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output, .jp-MarkdownOutput,
  .jp-RenderedHTMLCommon { overflow: visible !important; }
  /* ...and it keeps a table row (JupyterLab lays the prompt and the code out as one) on one page if it can:
     flex rows break between lines */
  .jp-InputArea, .jp-OutputArea-child { display: flex !important; }
  .jp-InputArea-editor, .jp-OutputArea-output { flex: 1 1 auto; min-width: 0; display: block; }
  .jp-OutputArea-output pre, .jp-InputArea-editor pre, .jp-InputArea-editor .highlight pre {
    white-space: pre-wrap !important; word-break: normal !important; overflow-wrap: break-word !important;
    font-size: 8.6px !important; line-height: 1.3 !important; orphans: 3; widows: 3; }
  .jp-InputPrompt, .jp-OutputPrompt { flex: 0 0 44px !important; min-width: 44px !important;
    font-size: 8px !important; }
  .jp-mod-noInput .jp-OutputPrompt { visibility: hidden; }
  .jp-OutputArea-output.jp-RenderedHTMLCommon table { font-size: 9.5px !important; table-layout: auto !important;
    max-width: 100% !important; }
  .jp-OutputArea-output.jp-RenderedHTMLCommon td, .jp-OutputArea-output.jp-RenderedHTMLCommon th {
    padding: 0.2em 0.45em !important; }
  .jp-RenderedMarkdown table { font-size: 10.5px; }
  /* code shown as text (the source appendix's fenced blocks): wrapped like code cells, free to break between
     lines; a table or figure caption stays with what it names */
  .jp-RenderedMarkdown pre { white-space: pre-wrap !important; overflow-wrap: break-word !important;
    font-size: 8.2px !important; line-height: 1.25 !important; padding: 4px 6px !important; overflow: visible !important;
    break-inside: auto !important; orphans: 3; widows: 3; }
  .jp-RenderedMarkdown pre code { font-size: inherit !important; white-space: inherit !important; }
  .jp-RenderedMarkdown p:has(+ table) { break-after: avoid-page; }
  .jp-OutputArea-output img { width: auto !important; height: auto !important; max-width: 100% !important;
    max-height: FIGURE_MAXmm !important; object-fit: contain; }
  .jp-RenderedImage, .jp-OutputArea-output img, tr, .jp-RenderedLatex { break-inside: avoid; }
  /* JupyterLab avoids breaks inside every output: a long print then starts a new page, leaving half of one empty */
  .jp-OutputArea-child { break-inside: auto !important; }
  .jp-Cell.celltag_labkit-keep { break-inside: avoid-page; }
  .jp-CodeCell:not(.jp-mod-noOutputs) > .jp-Cell-inputWrapper { break-after: avoid-page; }
  h1, h2, h3, h4, h5, h6 { break-after: avoid-page; break-inside: avoid; }
  .jp-MarkdownCell:has(.celltag_labkit-keep-next) { break-after: avoid-page; }
  .jp-MarkdownCell:has(.celltag_labkit-appendix) { break-before: page; }
  .jp-Cell.celltag_labkit-report .jp-InputPrompt, .jp-Cell.celltag_labkit-report .jp-OutputPrompt,
  .jp-MarkdownCell:has(.celltag_labkit-report) .jp-InputPrompt, .jp-Cell.celltag_labkit-source .jp-InputPrompt {
    display: none !important; }
  .celltag_labkit-contents ul { list-style: none; padding-left: 0.5em; }
  .celltag_labkit-contents a { text-decoration: none; }
}
</style>
{% endblock html_head_css %}
""".replace("MARGINS", " ".join(f"{m}mm" for m in MARGIN_MM)).replace("FIGURE_MAX", str(FIGURE_MAX_MM))


# ---- what fits on a page: an estimate from the notebook (the HTML is laid out only in the browser) ----------
KEEP_TAG, KEEP_NEXT_TAG = "labkit-keep", "labkit-keep-next"
_LINE_PX, _CHARS_PER_LINE = 11.2, 118  # 8.6 px monospace at line-height 1.3; the code column's width
# A cell is kept whole up to half a page: a larger one moved to the next page would leave up to half a page
# empty. A figure with its table (an image output and a table output in one cell) is kept up to a page.
_KEEP_PX, _KEEP_FIGURE_PX = 0.5 * PAGE_HEIGHT_PX, 0.85 * PAGE_HEIGHT_PX


def _lines(text, per_line=_CHARS_PER_LINE):
    """Printed lines of ``text`` once wrapped at ``per_line`` characters."""
    return sum(max(1, -(-len(ln) // per_line)) for ln in str(text).split("\n"))


def _image_px(data, meta):
    """The printed height of a PNG/JPEG output: its pixel size scaled to the column, at most FIGURE_MAX_MM."""
    w, h = meta.get("width"), meta.get("height")
    if not (w and h) and isinstance(data, str):
        head = base64.b64decode(data[:48] + "=" * (-len(data[:48]) % 4), validate=False)
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            w, h = struct.unpack(">II", head[16:24])
    if not (w and h):
        return FIGURE_MAX_MM * PX_PER_MM
    column = 650
    return min(h * min(1.0, column / w), FIGURE_MAX_MM * PX_PER_MM)


def _output_px(o):
    """The printed height of one output (CSS px, roughly)."""
    if o.get("output_type") == "stream":
        return _lines(_text(o.get("text"))) * _LINE_PX + 6
    if o.get("output_type") == "error":
        return _lines("\n".join(o.get("traceback") or [])) * _LINE_PX + 6
    data, meta = o.get("data") or {}, o.get("metadata") or {}
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            return _image_px(data[mime], meta.get(mime) or {}) + 8
    html = _text(data.get("text/html", ""))
    if "<table" in html or "<img" in html:  # an embedded picture: as large as a figure may be
        return html.count("<tr") * 17 + 24 + html.count("<img") * FIGURE_MAX_MM * PX_PER_MM
    if "text/markdown" in data:
        return _lines(_text(data["text/markdown"]), 100) * 20 + 10
    return _lines(_text(data.get("text/plain", ""))) * _LINE_PX + 6


def cell_height_px(cell, show_input=True):
    """The printed height of a code cell, its code (unless hidden) and its outputs (CSS px, roughly)."""
    hidden = (not show_input or (cell.get("transient") or {}).get("remove_source")
              or set(cell.metadata.get("tags", [])) & set(REMOVE_INPUT_TAGS))
    code = 0 if hidden else _lines(_text(cell.source)) * _LINE_PX + 14
    return code + sum(_output_px(o) for o in cell.get("outputs", []) or [])


def _is_figure_with_table(cell):
    """True for a cell whose outputs hold a figure and a table (the confusion matrix and its per-class
    accuracy): the two are read together."""
    outs = [o.get("data") or {} for o in cell.get("outputs", []) or []]
    html = [_text(d.get("text/html", "")) for d in outs]
    return (any("image/png" in d or "image/jpeg" in d for d in outs) or any("<img" in h for h in html)) \
        and any("<table" in h for h in html)


def keep_whole(cell, show_input=True):
    """True when the code cell should print unbroken (see _KEEP_PX)."""
    height = cell_height_px(cell, show_input)
    return height <= _KEEP_PX or (height <= _KEEP_FIGURE_PX and _is_figure_with_table(cell))


def _is_lead_in(cell):
    """A Markdown cell that introduces what follows: it ends with a heading, or it is a short caption."""
    lines = [ln for ln in _text(cell.source).strip().split("\n") if ln.strip()]
    return bool(lines) and (lines[-1].lstrip().startswith("#") or (len(lines) <= 3 and len(cell.source) <= 400))


def _add_tag(cell, tag):
    tags = list(cell.metadata.get("tags", []))
    if tag not in tags:
        cell.metadata["tags"] = tags + [tag]


class PageFitPreprocessor(Preprocessor):
    """nbconvert preprocessor for the PDF: tags a code cell of at most half a page (a figure with its table:
    a page) with labkit-keep (printed unbroken, code with its outputs) and a heading or caption cell with
    labkit-keep-next (never left alone at a page's bottom). Larger cells get no tag: they break where the
    page ends, their code still followed by the start of their output on the same page."""

    def preprocess(self, nb, resources):
        show_input = (resources.get("global_content_filter") or {}).get("include_input", True)
        for cell in nb.cells:
            if cell.cell_type == "code" and keep_whole(cell, show_input):
                _add_tag(cell, KEEP_TAG)
            elif cell.cell_type == "markdown" and _is_lead_in(cell):
                _add_tag(cell, KEEP_NEXT_TAG)
        return nb, resources


PAGE_FIT = f"{PageFitPreprocessor.__module__}.{PageFitPreprocessor.__qualname__}"


def write_template(workdir):
    """nbconvert template folder (in the export's temporary folder); returns its base directory."""
    base = os.path.join(workdir, "templates")
    folder = os.path.join(base, TEMPLATE_NAME)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "conf.json"), "w", encoding="utf-8") as f:
        json.dump(TEMPLATE_CONF, f)
    with open(os.path.join(folder, "index.html.j2"), "w", encoding="utf-8") as f:
        f.write(TEMPLATE)
    return base


def nbconvert_config(hide_code, mathjax, template_dir):
    """nbconvert's settings for the export: the template in ``template_dir``, tagged cells and progress bars
    out, every input left out when ``hide_code``, the MathJax of ``mathjax_url(mathjax)``."""
    cfg = {"TagRemovePreprocessor": {"enabled": True, "remove_input_tags": REMOVE_INPUT_TAGS,
                                     "remove_cell_tags": REMOVE_CELL_TAGS},
           # embed_images: pictures a Markdown cell links (![](fig.png) next to the notebook) go into the HTML,
           # which is printed from a temporary folder
           "HTMLExporter": {"template_name": TEMPLATE_NAME, "extra_template_basedirs": [template_dir],
                            "embed_images": True, "preprocessors": [STRIP_PROGRESS, PAGE_FIT]},
           "TemplateExporter": {"exclude_input": bool(hide_code), "exclude_input_prompt": bool(hide_code),
                                 "exclude_output_prompt": bool(hide_code)}}
    url = mathjax_url(mathjax)
    if url:
        cfg["HTMLExporter"]["mathjax_url"] = url
    return cfg

