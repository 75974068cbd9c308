"""The PDF after printing: its document title, and bookmarks where the browser made none (pypdf).

    data, notes = finish_pdf(data, title="F74091234 Lab 2 report", headings=["1. Introduction", ...])

Chromium writes both itself on both export routes: the title from the HTML ``<title>`` (the notebook's
metadata ``title``), the bookmarks from the headings (``--generate-pdf-document-outline``, playwright's
``outline=True``). An older Chromium or playwright prints no outline; then each heading is looked up in
the pages' text (in order, each on or after the page of the one before; the table of contents, which
lists them all, does not count as a heading's place) and pypdf adds a flat outline of those found.
The title is set the same way when the PDF's differs. pypdf is needed only then (requirements-pdf.txt).
"""
import contextlib
import importlib.util
import io
import logging
import re
import unicodedata

_SPACE = re.compile(r"\s+")


def _flat(text):
    """Text without whitespace: pdf text extraction breaks lines and spaces where the layout puts them."""
    return _SPACE.sub("", text or "")


def heading_pages(page_texts, headings):
    """{heading: page index} for the ``headings`` found in ``page_texts`` (in order, each on or after the
    page of the one before). A page listing at least three of them is the table of contents: there a
    heading counts only if it is printed a second time (the section starting on that page)."""
    flat = [_flat(t) for t in page_texts]
    wanted = [(h, _flat(h)) for h in headings if _flat(h)]
    toc = next((i for i, t in enumerate(flat) if sum(w in t for _, w in wanted) >= min(3, len(wanted))), None)
    found, page = {}, 0
    for h, w in wanted:
        for i in range(page, len(flat)):
            if flat[i].count(w) > (1 if i == toc and len(wanted) >= 3 else 0):
                found[h] = page = i
                break
    return found


def add_outline(writer, page_texts, headings):
    """Add a flat outline of ``headings`` to the pypdf ``writer``; returns the headings not found."""
    pages = heading_pages(page_texts, headings)
    for h in headings:
        if h in pages:
            writer.add_outline_item(title=h, page_number=pages[h])
    return [h for h in headings if h not in pages]


def _outline_nodes(node):
    """Every outline item below ``node`` (a pypdf outline dictionary), depth first."""
    item = node.get("/First")
    while item is not None:
        item = item.get_object()
        yield item
        yield from _outline_nodes(item)
        item = item.get("/Next")


def mend_titles(writer, known):
    """Chromium titles a bookmark with its heading's text minus the spaces where the line wrapped
    ("Results onCIFAR-10"): give such an item the heading's text from ``known``; returns how many."""
    from pypdf.generic import NameObject, TextStringObject

    by_flat = {_flat(k): k for k in known}
    mended = 0
    for item in _outline_nodes(writer.get_outline_root()):
        title = str(item.get("/Title", ""))
        right = by_flat.get(_flat(title))
        if right and right != title:
            item[NameObject("/Title")] = TextStringObject(right)
            mended += 1
    return mended


def _needs_mending(reader, known):
    by_flat = {_flat(k): k for k in known}

    def walk(items):
        for it in items:
            if isinstance(it, list):
                yield from walk(it)
            else:
                yield by_flat.get(_flat(it.title), it.title) != it.title
    return any(walk(reader.outline))


@contextlib.contextmanager
def _quiet_pypdf():
    """pypdf logs a warning on every Chromium PDF ("Object count ... exceeds defined trailer size": Skia's
    trailer counts a few objects short) that says nothing wrong to a student; errors still show."""
    log = logging.getLogger("pypdf")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def finish_pdf(data, title=None, headings=(), known=()):
    """(the PDF ``data`` with document title ``title``, bookmarks for ``headings`` when it has none and
    bookmark titles mended from the ``known`` heading texts; notes on what was done). Returns ``data``
    itself when nothing is to be done."""
    if importlib.util.find_spec("pypdf") is None:
        return data, ["pypdf is not installed (pip install -r requirements-pdf.txt): the PDF's bookmarks and title "
                      "are the browser's"]
    with _quiet_pypdf():
        return _finish(data, title, headings, known)


def _finish(data, title, headings, known):
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(data))
    has_title = not title or (reader.metadata or {}).get("/Title") == title
    has_outline = bool(reader.outline) or not headings
    mend = bool(reader.outline) and _needs_mending(reader, list(known) + list(headings))
    if has_title and has_outline and not mend:
        return data, []
    writer = PdfWriter(clone_from=reader)
    notes = []
    if mend:
        mend_titles(writer, list(known) + list(headings))
    if not has_outline:
        missing = add_outline(writer, [p.extract_text() or "" for p in reader.pages], list(headings))
        notes.append(f"the browser made no bookmarks: added {len(headings) - len(missing)} with pypdf"
                     + (f" (not found in the text: {', '.join(missing)})" if missing else ""))
    if not has_title:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), notes


def missing_lines(data, lines):
    """The ``lines`` that the PDF ``data``'s text does not hold (spaces and line breaks ignored, ligatures
    unfolded); None when pypdf is not installed or cannot read the PDF."""
    if not lines:
        return []
    if importlib.util.find_spec("pypdf") is None:
        return None
    from pypdf import PdfReader

    try:
        with _quiet_pypdf():
            text = _flat(unicodedata.normalize("NFKC", "".join(p.extract_text() or "" for p in
                                                                PdfReader(io.BytesIO(data)).pages)))
    except Exception:  # noqa: BLE001 - pypdf's errors have no common class; an unreadable PDF is said elsewhere
        return None
    return [ln for ln in lines if _flat(unicodedata.normalize("NFKC", ln)) not in text]
