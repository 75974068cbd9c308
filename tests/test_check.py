"""The TA's check of a class (python -m labkit.handin.check): zips read, never run; one CSV row per file and a
feedback note each; a damaged or hostile zip is a flagged row, never a crash."""
import csv
import os
import subprocess
import sys
import zipfile

import nbformat
import pytest

from labkit.handin.check import Flagged, check_zip, read_members
from labkit.handin.manifest import printed_accuracies
from labkit.notebook import RUNS_MIME
from test_truth import SID, edit, lab, submit, work  # noqa: F401  (the fixtures: two tiny task notebooks)

FULL = {"train": 45000, "val": 5000, "test": 10000, "limit": None}


def text_pdf(path, lines):
    """A one-page PDF whose text is ``lines`` (what pypdf reads back), written by hand: no browser needed."""
    body = "BT /F1 8 Tf 20 800 Td 10 TL " + " ".join(
        "(" + ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for ln in lines) + " ET"
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            f"<< /Length {len(body)} >>\nstream\n{body}\nendstream", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)
    return str(path)


def key_prints(*paths):
    nbs = [nbformat.read(p, as_version=4) for p in paths]
    from labkit.handin.pdf import key_prints as printed  # every line submit checks a given PDF for

    return [f"Appendix {c}: Task {i}" for i, c in enumerate("AB", 1)] + \
        [f"Test Accuracy: {v}%" for nb in nbs for _, v in printed_accuracies(nb)] + ["Finished Training"] + \
        [line for nb in nbs for line in printed(nb)]


def claim_full_data(nb):
    for c in nb.cells:
        for o in c.get("outputs", []):
            for e in (o.get("data") or {}).get(RUNS_MIME, {}).get("runs", []):
                e.update(FULL)


def rezip(src, dst, fn):
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    fn(files)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in files.items():
            z.writestr(n, b)


@pytest.fixture
def klass(work, tmp_path_factory):
    """A folder of four: a good zip (its runs on the full data set), a quick-run zip, an edited one, a damaged
    file."""
    d, runs, t1, t2, _ = work
    pdf = text_pdf(d / "text.pdf", key_prints(t1, t2))
    folder = tmp_path_factory.mktemp("class")
    quick = submit(work, pdf=pdf, out_dir=d / "quick")
    os.rename(quick, folder / "B0000002_lab2.zip")
    for p in (t1, t2):
        edit(p, claim_full_data)
    good = submit(work, pdf=pdf, out_dir=d / "good")
    os.rename(good, folder / "A0000001_lab2.zip")

    def forge(files):
        name = f"{SID}_lab2.ipynb"
        files[name] = files[name].replace(b"Test Accuracy: ", b"Test Accuracy: 9")  # 13.00% -> 913.00%
    rezip(folder / "A0000001_lab2.zip", folder / "C0000003_lab2.zip", forge)
    (folder / "D0000004_lab2.zip").write_bytes(b"PK\x03\x04 not really a zip")
    return folder


@pytest.mark.slow
def test_a_folder_of_four_gives_the_right_four_rows(klass, tmp_path):
    table = tmp_path / "grades.csv"
    r = subprocess.run([sys.executable, "-m", "labkit.handin.check", str(klass), "--csv", str(table), "--jobs", "2"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = {row["file"]: row for row in csv.DictReader(open(table, encoding="utf-8"))}
    assert sorted(rows) == ["A0000001_lab2.zip", "B0000002_lab2.zip", "C0000003_lab2.zip", "D0000004_lab2.zip"]
    good, quick, edited, damaged = (rows[k] for k in sorted(rows))
    assert good["student_id"] == SID and good["lab"] == "lab2" and good["state"] == "flagged"
    for row in (good, quick, edited):
        assert "missing study: normalization" in row["flags"]  # task 2 ran its baseline only
        assert row["rubric"].split("/")[1] == "18" and "task1 simplecnn-1" in row["accuracies"]
    assert "quick-run" not in good["flags"] and "edited" not in good["flags"] and "manifest vs" not in good["flags"]
    assert "quick-run subset: simplecnn-1 (300 train, 100 test, limit 300)" in quick["flags"]
    assert "edited results (task1)" in edited["flags"] and "quick-run" not in edited["flags"]
    assert damaged["state"] == "damaged" and "not a zip" in damaged["flags"]
    note = open(good["feedback"], encoding="utf-8").read()
    assert note.startswith(f"# Feedback: {SID} lab2") and "| ✘ | task 2 study: normalization |" in note
    assert "p. 1" in note  # the page of a found item in the PDF's text
    assert "4 file(s)" in r.stderr


def test_hostile_zips_are_flagged_rows(tmp_path):
    def make(name, members, compress=zipfile.ZIP_DEFLATED):
        p = tmp_path / name
        with zipfile.ZipFile(p, "w", compress) as z:
            for n, b in members.items():
                z.writestr(n, b)
        return str(p)
    cases = {make("traversal.zip", {"../../etc/x_lab2.ipynb": b"{}", "F1_lab2.pdf": b"%PDF-"}): "path traversal",
             make("bomb.zip", {"F1_lab2.ipynb": b"\0" * (40 * 2**20), "F1_lab2.pdf": b"%PDF-"}): "zip bomb",
             make("junk.zip", {"F1_lab2.ipynb": b"not json", "F1_lab2.pdf": b"%PDF-"}): "cannot be read",
             make("none.zip", {"readme.txt": b"hi"}): "no <ID>_<lab>.ipynb"}
    (tmp_path / "empty.zip").write_bytes(b"")
    cases[str(tmp_path / "empty.zip")] = "not a zip"
    for path, why in cases.items():
        row, note = check_zip(path)
        assert row["state"] == "damaged" and why in row["flags"], (path, row)
        assert why in note
    with pytest.raises(Flagged, match="zip bomb"):
        read_members(str(tmp_path / "bomb.zip"))
    assert not os.path.exists("/etc/x_lab2.ipynb")
