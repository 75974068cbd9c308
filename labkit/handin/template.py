"""How a notebook looks as a PDF: nbconvert's configuration and HTML template.

The template is nbconvert's ``lab`` look with print fixes (CSS below); cells tagged ``hide-input`` /
``remove-input`` lose their code, ``remove-cell`` cells disappear, progress bars (tqdm) are left out.
MathJax comes from Debian's ``libjs-mathjax`` when installed (offline), else nbconvert's CDN.
``missing_cjk_fonts`` finds Chinese/Korean/Japanese text that no installed font covers.
"""
import json
import os
import re
import shutil
import subprocess

from .notebooks import REMOVE_CELL_TAGS, REMOVE_INPUT_TAGS, StripProgressPreprocessor

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
  .jp-InputPrompt, .jp-OutputPrompt { flex: 0 0 44px !important; min-width: 44px !important;
    font-size: 8px !important; }
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
                            "embed_images": True, "preprocessors": [STRIP_PROGRESS]},
           "WebPDFExporter": {"template_name": TEMPLATE_NAME, "extra_template_basedirs": [template_dir],
                              "embed_images": True, "preprocessors": [STRIP_PROGRESS]},
           "TemplateExporter": {"exclude_input": bool(hide_code), "exclude_input_prompt": bool(hide_code),
                                 "exclude_output_prompt": bool(hide_code)}}
    url = mathjax_url(mathjax)
    if url:
        cfg["HTMLExporter"]["mathjax_url"] = url
    return cfg

