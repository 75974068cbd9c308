"""The hand-in: a student's task notebooks and report made into ``<id>_<lab>.zip`` (notebook + PDF).

Modules, lower first (each imports only those above it):

- ``errors``: HandinError, ExportError, SubmissionError, SubmissionExistsError;
- ``notebooks``: reading a notebook (the one reader), a notebook's cells copied for a merge (remove-cell
  out, tags added, headings demoted), merging notebooks, headings and their HTML ids, dropping progress
  bars, finding the report's unreplaced placeholders, the cell tags the PDF obeys;
- ``browser``: finding a Chromium (PATH, playwright, ``$LABKIT_CHROMIUM``), the playwright shim,
  the sandbox and offline switches, what to install;
- ``template``: how the PDF looks (nbconvert template and CSS: A4, page numbers, what stays together on
  a page; MathJax, CJK fonts);
- ``printer``: the webpdf route's printer (playwright's ``page.pdf`` with A4, bookmarks, tagged), run as a
  script in its own process;
- ``bookmarks``: the PDF after printing: its title, bookmarks added with pypdf where the browser made none;
- ``pdf``: ``export_pdf`` (notebook -> PDF, two routes) and ``python -m labkit.handin.pdf``;
- ``source``: the source appendix (the labkit code that produced the results, read with inspect);
- ``manifest``: the runs each executed notebook recorded (labkit.notebook's output after each cell), checked
  against its prints, its run folders and the report; cells run out of order; the manifest and its short form;
- ``labs``: the labs by name (lab2, resnet, transfer: their notebooks and report) and their rubrics, checked
  from the notebooks' outputs and runs, with the PDF page of each item;
- ``document``: the task notebooks in task order, the zip's merged notebook and the PDF's notebook
  (report, contents, the cover's checklist and record, one appendix per task, the source appendix);
- ``submit``: ``make_submission`` (checks, merged notebook, PDF, zip) and ``python -m labkit.handin.submit``;
- ``check``: a TA's check of a class of zips (``python -m labkit.handin.check``): a CSV row and a note each.

Nothing is imported here: ``python -m labkit.handin.pdf`` runs its module once, and
``import labkit.handin`` costs nothing.
"""
