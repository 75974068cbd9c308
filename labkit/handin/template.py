"""How a notebook looks as a PDF: nbconvert's configuration and HTML template.

The template is nbconvert's ``lab`` look with print fixes (CSS below); cells tagged ``hide-input`` /
``remove-input`` lose their code, ``remove-cell`` cells disappear, progress bars (tqdm) are left out.
MathJax comes from Debian's ``libjs-mathjax`` when installed (offline), else nbconvert's CDN.
``missing_cjk_fonts`` finds Chinese/Korean/Japanese text that no installed font covers.

What a notebook brings is never trusted (a TA renders students' notebooks): its HTML outputs, raw cells and
rendered Markdown go through bleach (nbconvert's ``SanitizeHTML``, configured in ``SAFE_*`` below), which
keeps what a report needs (headings and their anchors, links, tables and pandas' HTML, pictures as
``data:`` URIs, math as text for MathJax) and strips every script, event handler, style sheet, frame,
object, embed, meta, link, base and form. The template carries none of nbconvert's scripts but MathJax's,
and the page gets a Content-Security-Policy (``content_policy``) as its first tag: no script but MathJax's
files and its configuration, no request but ``data:`` pictures and fonts.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess

from jinja2 import pass_context
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbconvert.preprocessors.sanitize import SanitizeHTML

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
# A print longer than LOG_LINES lines goes in columns of LOG_FONT_PX monospace when (nearly) all its lines fit one
# (log_columns): the per-epoch line "Train loss: 10.351 | Train acc: 0.487 Val loss: 36.061 | Val acc: 0.543" (72
# characters) fits a column of two, never wrapped.
LOG_LINES, LOG_FONT_PX = 24, 6.5
TEMPLATE_NAME = "labkit_pdf"
TEMPLATE_CONF = {"base_template": "lab", "mimetypes": {"text/html": True, "application/pdf": True}}
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{#- no script in the page but MathJax: not require.js, the widgets' state, Mermaid (CDN modules) -#}
{% block html_head_js %}{% endblock html_head_js %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{#- a long print in columns (labkit_columns: an int set by LogColumnsPreprocessor), its text unchanged -#}
{% block stream_stdout -%}
{%- set columns = output.get('labkit_columns', 1) | int -%}
{%- set log = ' labkit-log labkit-log-%d' % columns if columns > 1 else '' -%}
<div class="jp-RenderedText jp-OutputArea-output{{ log }}" data-mime-type="text/plain">
<pre>
{{- output.text | ansi2html -}}
</pre>
</div>
{%- endblock stream_stdout %}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
{% block html_head_css %}
{#- the title goes into a CSS string: no quote, backslash or line break may end it, no "<" the style element -#}
{%- set page_title = nb.metadata.get('title', '') | replace('\\\\', '') | replace('"', '') | replace('<', '')
    | replace('\\n', ' ') | replace('\\r', ' ') | replace('\\f', ' ') -%}
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
    font-size: 8.2px !important; line-height: 1.3 !important; orphans: 3; widows: 3; }
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
  /* the source appendix: piece after piece, each a small label line right above its code (a label in body
     text with its own cell's padding took a fifth of every page there) */
  .jp-MarkdownCell:has(.celltag_labkit-source:not(.celltag_labkit-appendix)) {
    padding-top: 0 !important; padding-bottom: 0 !important; margin: 0 !important; }
  .celltag_labkit-source:not(.celltag_labkit-appendix) p { font-size: 9px !important; line-height: 1.3 !important;
    margin: 0.7em 0 0.2em !important; break-after: avoid-page; }
  .celltag_labkit-source:not(.celltag_labkit-appendix) p code { font-size: 8.5px !important; padding: 0 2px !important; }
  .celltag_labkit-source:not(.celltag_labkit-appendix) pre { font-size: 7.3px !important; line-height: 1.18 !important;
    margin: 0 !important; }
  .celltag_labkit-source h2 { margin: 0.9em 0 0.2em !important; }
  /* a long print (more than LOG_LINES lines: the per-epoch lines of a 30-epoch run) in 2 or 3 columns in a smaller
     font, filled column by column and page by page; its text and line order are the print's */
  .labkit-log pre { font-size: LOG_FONTpx !important; line-height: 1.18 !important; column-gap: 12px;
    column-rule: 0.5px solid #ccc; column-fill: balance; }
  .labkit-log-2 pre { column-count: 2; }
  .labkit-log-3 pre { column-count: 3; }
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
  /* the appendices start on a new page after the report; each next one follows on (its heading kept with what
     follows): a page break before each left half a page empty twice in Lab 2 */
  .jp-MarkdownCell:has(.celltag_labkit-appendix) { break-before: page; }
  .jp-MarkdownCell:has(.celltag_labkit-appendix) ~ .jp-MarkdownCell:has(.celltag_labkit-appendix) {
    break-before: auto; margin-top: 2.2em !important; border-top: 1px solid #bbb; }
  .jp-Cell.celltag_labkit-report .jp-InputPrompt, .jp-Cell.celltag_labkit-report .jp-OutputPrompt,
  .jp-MarkdownCell:has(.celltag_labkit-report) .jp-InputPrompt, .jp-Cell.celltag_labkit-source .jp-InputPrompt {
    display: none !important; }
  .celltag_labkit-contents ul { list-style: none; padding-left: 0.5em; margin: 0.2em 0; }
  .celltag_labkit-contents li { margin: 0 !important; line-height: 1.35; }
  /* the cover's checklist and hand-in record: small, so the rubric fits the first page */
  .celltag_labkit-cover table { font-size: 8.5px !important; }
  .celltag_labkit-cover td, .celltag_labkit-cover th { padding: 0.1em 0.4em !important; }
  .celltag_labkit-cover p, .celltag_labkit-cover li { font-size: 9.5px; line-height: 1.35; margin: 0.15em 0; }
  .celltag_labkit-contents a { text-decoration: none; }
}
</style>
{% endblock html_head_css %}
""".replace("MARGINS", " ".join(f"{m}mm" for m in MARGIN_MM)).replace("FIGURE_MAX", str(FIGURE_MAX_MM)) \
    .replace("LOG_FONT", str(LOG_FONT_PX)).replace("LOG_LINES", str(LOG_LINES))


# ---- what fits on a page: an estimate from the notebook (the HTML is laid out only in the browser) ----------
KEEP_TAG, KEEP_NEXT_TAG = "labkit-keep", "labkit-keep-next"
_LINE_PX, _CHARS_PER_LINE = 10.7, 124  # 8.2 px monospace at line-height 1.3; the code column's width
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
        text, columns = _text(o.get("text")), log_columns(o)
        if columns > 1:
            return -(-_lines(text, _LOG_CHARS[columns]) // columns) * _LOG_LINE_PX + 6
        return _lines(text) * _LINE_PX + 6
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
    tables = any("<table" in h for h in html) or any("|---" in _text(d.get("text/markdown", "")) for d in outs)
    return (any("image/png" in d or "image/jpeg" in d for d in outs) or any("<img" in h for h in html)) and tables


def keep_whole(cell, show_input=True):
    """True when the code cell should print unbroken (see _KEEP_PX)."""
    height = cell_height_px(cell, show_input)
    return height <= _KEEP_PX or (height <= _KEEP_FIGURE_PX and _is_figure_with_table(cell))


def _is_lead_in(cell, following=None):
    """A Markdown cell that introduces what follows: it ends with a heading, or it is short (a caption, or a
    heading with a sentence) and what follows is no Markdown cell: a chain of short sections kept together would
    move a page's worth of cells to the next page."""
    lines = [ln for ln in _text(cell.source).strip().split("\n") if ln.strip()]
    if not lines:
        return False
    has_heading = any(ln.lstrip().startswith("#") for ln in lines)
    after_text = following is not None and following.cell_type == "markdown"
    if has_heading:  # a section's start: its heading and intro paragraph go with the figure or table after it
        return lines[-1].lstrip().startswith("#") or (not after_text and len(lines) <= 6 and len(cell.source) <= 700)
    return len(lines) <= 3 and len(cell.source) <= 400  # a caption


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
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and keep_whole(cell, show_input):
                _add_tag(cell, KEEP_TAG)
            elif cell.cell_type == "markdown" and _is_lead_in(cell, (nb.cells[i + 1:] or [None])[0]):
                _add_tag(cell, KEEP_NEXT_TAG)
        return nb, resources


PAGE_FIT = f"{PageFitPreprocessor.__module__}.{PageFitPreprocessor.__qualname__}"


# ---- long prints in columns ----------------------------------------------------------------------------
_LOG_CHARS = {3: 46, 2: 72}  # characters a column's line holds (LOG_FONT_PX monospace: about 3.9 px each; kept as measured at 6.8 px)
_LOG_LINE_PX = LOG_FONT_PX * 1.18
_LOG_FIT = 0.95  # the share of a print's lines that must fit a column (a longer line wraps in its column)


def log_columns(output):
    """How many columns the stream ``output`` prints in: 3 or 2 for a stdout print of more than LOG_LINES lines
    whose lines (all but 5 %) fit such a column, else 1 (unchanged)."""
    if output.get("output_type") != "stream" or output.get("name") != "stdout":
        return 1
    lines = _text(output.get("text")).splitlines()
    if len(lines) <= LOG_LINES:
        return 1
    for columns, chars in _LOG_CHARS.items():
        if sum(len(ln) <= chars for ln in lines) >= _LOG_FIT * len(lines):
            return columns
    return 1


def merged_streams(outputs):
    """``outputs`` with each run of consecutive stream outputs of one name (stdout, stderr) joined into one, as
    Jupyter shows them: a training loop's prints are one print per line in the notebook."""
    merged = []
    for o in outputs:
        last = merged[-1] if merged else None
        if (o.get("output_type") == "stream" and last is not None and last.get("output_type") == "stream"
                and last.get("name") == o.get("name")):
            last["text"] = _text(last.get("text")) + _text(o.get("text"))
        else:
            merged.append(type(o)(o) if o.get("output_type") == "stream" else o)  # a copy: its text may grow
    return merged


class LogColumnsPreprocessor(Preprocessor):
    """nbconvert preprocessor for the PDF: consecutive prints of a code cell joined (merged_streams), and each
    stream output given ``labkit_columns`` (log_columns; the template sets a print of 2 or 3 in columns). The
    text is the notebook's, unchanged: the PDF's text holds every line."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.get("outputs"):
            cell.outputs = merged_streams(cell.outputs)
            for o in cell.outputs:
                if o.get("output_type") == "stream":
                    o["labkit_columns"] = log_columns(o)
        return cell, resources


LOG_COLUMNS = f"{LogColumnsPreprocessor.__module__}.{LogColumnsPreprocessor.__qualname__}"


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
                            "embed_images": True, "preprocessors": [STRIP_PROGRESS, SANITIZE, LOG_COLUMNS, PAGE_FIT]},
           "TemplateExporter": {"exclude_input": bool(hide_code), "exclude_input_prompt": bool(hide_code),
                                 "exclude_output_prompt": bool(hide_code)}}
    url = mathjax_url(mathjax)
    if url:
        cfg["HTMLExporter"]["mathjax_url"] = url
    return cfg



# ---- what a notebook brings, made harmless (bleach through nbconvert's SanitizeHTML) ---------------------------
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
SAFE_TAGS = sorted({"a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
                    "details", "div", "dl", "dt", "em", "figcaption", "figure", "hr", "i", "img", "ins", "kbd", "li",
                    "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "summary",
                    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var", *HEADINGS})
# style="..." keeps only what cannot hide or move content (pandas writes text-align)
SAFE_CSS = ["text-align", "vertical-align", "font-weight", "font-style", "text-decoration", "white-space",
            "border-collapse"]
_PICTURE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", re.I)
_LINK = re.compile(r"(#|https?:|mailto:)", re.I)
# classes of the page's own layout (JupyterLab's, labkit's cell tags): a notebook's element may not borrow them
_PAGE_CLASS = re.compile(r"(jp-|lm-|p-|celltag|labkit)", re.I)
_CODE_ELEMENTS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)  # their text is code, not content
_CELL_ATTRS = {"td": ("colspan", "rowspan", "align"), "th": ("colspan", "rowspan", "align"), "ol": ("start",),
               "img": ("width", "height")}


def safe_attribute(tag, name, value):
    """bleach's attribute filter: True for the attributes a notebook's HTML may keep."""
    if name in ("title", "alt", "style"):  # style: its properties are filtered to SAFE_CSS
        return True
    if name == "class":
        return not any(_PAGE_CLASS.match(c) for c in value.split())
    if name in ("id", "name"):  # anchors of headings and links inside the document
        return tag in HEADINGS or tag == "a"
    if name == "href":
        return tag == "a" and bool(_LINK.match(value.strip()))
    if name == "src":
        return tag == "img" and bool(_PICTURE.match(value.strip()))
    return name in _CELL_ATTRS.get(tag, ())


class SafeHTMLPreprocessor(SanitizeHTML):
    """nbconvert's SanitizeHTML with labkit's allow-list: HTML outputs and raw cells are cleaned here,
    dropped: outputs of other types that a browser would run (JavaScript, widgets, Mermaid). Markdown (cells and
    outputs) is cleaned after it became HTML (SafeHTMLExporter), so code blocks and math keep their ``<``."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.tags, self.attributes, self.styles, self.strip = SAFE_TAGS, safe_attribute, SAFE_CSS, True
        self.sanitized_output_types = {"text/html"}
        self.safe_output_keys = self.safe_output_keys | {"text/markdown", "image/svg+xml", "image/gif"}

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)

    def sanitize_html_tags(self, html_str):
        """``html_str`` cleaned by bleach; style sheets and scripts go with their text (pandas' ``<style
        scoped>`` would print as text otherwise), every other tag bleach removes leaves its text."""
        from bleach import clean
        from bleach.css_sanitizer import CSSSanitizer

        html_str = _CODE_ELEMENTS.sub("", html_str)
        return clean(html_str, tags=self.tags, attributes=self.attributes, protocols=["http", "https", "mailto", "data"],
                     strip=True, strip_comments=True, css_sanitizer=CSSSanitizer(allowed_css_properties=self.styles))


SANITIZE = f"{SafeHTMLPreprocessor.__module__}.{SafeHTMLPreprocessor.__qualname__}"


class SafeHTMLExporter(HTMLExporter):
    """nbconvert's HTMLExporter whose Markdown (cells and outputs) comes out cleaned by SafeHTMLPreprocessor."""

    @pass_context
    def markdown2html(self, context, source):
        return SafeHTMLPreprocessor().sanitize_html_tags(super().markdown2html(context, source))


def mathjax_folder(url):
    """The folder MathJax loads its parts from (``url`` its script, with or without a query); None without."""
    return url.split("?", 1)[0].rsplit("/", 1)[0] + "/" if url else None


def content_policy(html, mathjax=None):
    """The Content-Security-Policy of the page ``html`` (labkit's template, MathJax from ``mathjax``'s folder;
    None: a page without math, no script at all):
    no request but ``data:`` pictures and fonts and MathJax's files, no script but MathJax's (its configuration
    runs through eval) and the inline scripts of the template's ``<head>`` (by their hashes: none of the
    notebook's content is in the head), styles only inline (the template's; a notebook's were removed by the
    sanitizer), no frame, object, form or base URL. Chromium matches no path of a ``file:`` URL, so a local
    MathJax is allowed as ``'self'`` (the page's own scheme); the playwright route lets only its folder load."""
    folder = mathjax_folder(mathjax)
    if not folder:  # a page without math runs no script at all
        return ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
                "base-uri 'none'; form-action 'none'")
    head = html.split("<body", 1)[0]
    hashes = [base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode()
              for s in re.findall(r"<script\b(?![^>]*\bsrc=)[^>]*>(.*?)</script>", head, re.S | re.I)]
    source = "'self'" if folder.startswith("file:") else folder
    scripts = " ".join([f"'sha256-{h}'" for h in hashes] + [source, "'unsafe-eval'"])
    extra = f" {source}"
    return (f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'{extra}; img-src data:; "
            f"font-src data:{extra}; base-uri 'none'; form-action 'none'")


def with_content_policy(html, mathjax=None):
    """``html`` with its Content-Security-Policy as the first tag of its head (before anything it governs)."""
    policy = content_policy(html, mathjax).replace('"', "&quot;")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    head = re.search(r"<head\b[^>]*>", html, re.I)
    return html[:head.end()] + meta + html[head.end():] if head else meta + html
