"""The student id, lab name and student name of a hand-in, checked as typed: they become file names and titles
on every system a TA uses; README's copy-paste placeholders are refused."""
import re
import unicodedata

from .errors import SubmissionError

# what a student id and a lab name may hold: they become file names and titles, on every system a TA uses
_NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
MAX_ID, MAX_LAB, MAX_STUDENT_NAME = 32, 24, 80


def check_name(kind, value, example, longest=MAX_ID):
    """A student id / lab name usable in a file name, as typed (surrounding blanks removed; full-width
    letters and digits, as a Chinese input method types them, made plain): ASCII letters, digits, ``-``
    and ``_``, starting with a letter or digit, at most ``longest`` characters. Raises SubmissionError."""
    text = unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()
    if not text:
        raise SubmissionError(f"{kind} is empty; give it, e.g. {example}")
    _refuse_placeholder(kind, text, example)
    if len(text) > longest:
        raise SubmissionError(f"{kind} {value!r} is {len(text)} characters long (at most {longest}); give it as e.g. "
                              f"{example}")
    if not _NAME_RULE.fullmatch(text):
        bad = sorted({ch for ch in text if not re.fullmatch(r"[A-Za-z0-9_-]", ch)})
        raise SubmissionError(f"{kind} {value!r} cannot be part of a file name: use only ASCII letters, digits, - and "
                              f"_ (no spaces, no / \\ : * ? \" < > |, not starting with '.' or '-'; here: "
                              f"{' '.join(repr(c) for c in bad) or 'the first character'}); give it as e.g. {example}")
    return text


# the README's copy-paste command holds these: a command run as copied is refused like the template's placeholders
COMMAND_PLACEHOLDERS = ("<YOUR_ID>", "<YOUR_NAME>", "YOUR_ID", "YOUR_NAME")


def _refuse_placeholder(kind, text, example):
    if text.upper() in COMMAND_PLACEHOLDERS or text.upper().strip("<>") in COMMAND_PLACEHOLDERS:
        raise SubmissionError(f"{kind} {text!r} is the placeholder of README's command: put your own in its place, "
                              f"e.g. {example}.")


def normalize_student_id(value):
    """(the student id as file names and titles use it, a note or None). Letters are made upper case
    (F74091234, as the university writes it): ``f74091234`` and ``F74091234`` are one student, and the
    TA's list sorts and matches them as one."""
    sid = check_name("student id", value, "F74091234")
    return sid.upper(), (f"student id {sid!r} written as {sid.upper()!r}" if sid != sid.upper() else None)


def normalize_lab(value):
    """(the lab name, lower case as the course writes it: ``Lab2`` -> ``lab2``, a note or None). Every file
    name and title uses this one spelling."""
    lab = check_name("lab", value, "lab2", MAX_LAB)
    return lab.lower(), (f"lab {lab!r} written as {lab.lower()!r}" if lab != lab.lower() else None)


def check_student_name(value):
    """The name for the report's header: any script (Chinese, Korean...), one line, at most 80 characters."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    _refuse_placeholder("student name", text, '"王小明"')
    if not text or len(text) > MAX_STUDENT_NAME or any(unicodedata.category(c).startswith("C") for c in text):
        raise SubmissionError(f"student name {value!r} must be one line of 1 to {MAX_STUDENT_NAME} characters "
                              f"without control characters; give it as e.g. \"王小明\"")
    return text
