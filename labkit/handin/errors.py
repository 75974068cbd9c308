"""The hand-in's exceptions, each a LabkitError whose message says what is wrong and the fix."""
from ..errors import LabkitError


class HandinError(LabkitError, ValueError):
    """A notebook cannot go into the hand-in as it is (not executed, unreadable...)."""


class ExportError(LabkitError, RuntimeError):
    """The notebook could not be turned into a PDF (no browser, a failing browser, a bad notebook)."""


class SubmissionError(LabkitError, ValueError):
    """The submission cannot be made as asked (bad id, unexecuted notebook, missing file...)."""


class SubmissionExistsError(SubmissionError, FileExistsError):
    """The zip is already there and ``force`` was not given."""
