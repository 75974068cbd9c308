"""The hand-in: a student's task notebooks and report made into ``<id>_<lab>.zip`` (notebook + PDF).

Modules, lower first (each imports only those above it):

- ``errors``: HandinError, ExportError, SubmissionError, SubmissionExistsError;
- ``notebooks``: reading a notebook (the one reader), merging notebooks, dropping progress bars,
  finding the report's unreplaced placeholders, the cell tags the PDF obeys;
- ``browser``: finding a Chromium (PATH, playwright, ``$LABKIT_CHROMIUM``), the playwright shim,
  the sandbox and offline switches, what to install;
- ``template``: how the PDF looks (nbconvert template and CSS, MathJax, CJK fonts);
- ``pdf``: ``export_pdf`` (notebook -> PDF, two routes) and ``python -m labkit.handin.pdf``;
- ``submit``: ``make_submission`` (checks, merged notebook, PDF, zip) and ``python -m labkit.handin.submit``.

Nothing is imported here: ``python -m labkit.handin.pdf`` runs its module once, and
``import labkit.handin`` costs nothing.
"""
