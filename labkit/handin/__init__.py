"""The hand-in: the student's notebooks and report made into ``<id>_<lab>.zip`` (notebook + PDF).

- ``notebooks``: the notebooks themselves (merging, progress bars out, the report's placeholders);
- ``pdf``: a notebook as a PDF (``python -m labkit.handin.pdf``);
- ``submit``: the checked hand-in zip (``python -m labkit.handin.submit``).
"""
