"""B7: garbage CSV imports. A wrong file fails whole with a message and writes nothing; in a
readable file every row is either imported or rejected with its reason; exports and the
rejects file never hand a spreadsheet a formula."""

from __future__ import annotations

import csv
import io
import re

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.members.csv_io import FORMULA_START
from app.members.models import Member
from tests.fuzz.conftest import examples

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "=1+2", "+1", "-1", "@SUM(A1)",
    "=cmd|' /C calc'!A0", "\t=1", "'=1"]  # fmt: skip
SUMMARY = re.compile(
    r"created (\d+), updated (\d+), unchanged (\d+), skipped (\d+) \(duplicate rows\), "
    r"invalid (\d+)"
)
CELL = st.one_of(
    st.text(max_size=20),
    st.sampled_from(FORMULAS + ["", " ", "\n", '"', "a\nb", "a;b", "a,b", "\x00", "paid", "free"]),
)
EMAIL = st.one_of(
    st.integers(0, 30).map("person{}@example.com".format),
    st.integers(0, 30).map("Person{}@EXAMPLE.com ".format),
    st.sampled_from(["", "not-an-email", "a@localhost", "=1@example.com", "x" * 330 + "@a.io"]),
    st.text(max_size=30),
)
ROW = st.tuples(EMAIL, CELL, st.sampled_from(["", "free", "paid", "gold", "=1"]), CELL, CELL)


@st.composite
def csv_files(draw) -> bytes:
    """A CSV file's bytes: any delimiter, encoding, BOM; sometimes damaged."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    header = ["email", "name", "tier", "tags", draw(st.sampled_from(["city", "=HYPERLINK(1)"]))]
    rows = draw(st.lists(ROW, max_size=15))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-8", "latin-1", "utf-16"]))
    data = text.encode(encoding, "replace")
    if draw(st.booleans()):  # a few raw bytes somewhere: a damaged or non-UTF-8 file
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(max_size=6)) + data[position:]
    return data


def members(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Member))


@examples(60)
@given(csv_files())
def test_any_csv_imports_row_by_row_or_fails_whole(app, session, tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    rejects = tmp_path / "fuzz.rejected.csv"
    rejects.unlink(missing_ok=True)
    before = members(session)
    result = app.test_cli_runner().invoke(
        args=["members", "import", str(path), "--rejects", str(rejects)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    if result.exit_code != 0:
        assert result.output.startswith("Error: ") and len(result.output) > 10, result.output
        assert members(session) == before
        return
    created, updated, unchanged, skipped, invalid = map(int, SUMMARY.search(result.output).groups())
    assert members(session) == before + created
    if invalid + skipped:  # each invalid or repeated row is in the rejects file, with why
        with rejects.open(encoding="utf-8", newline="") as handle:
            rejected = list(csv.reader(handle))[1:]
        assert len(rejected) == invalid + skipped and all(row[1] for row in rejected)
        assert not any(cell.startswith(FORMULA_START) for row in rejected for cell in row)
    else:
        assert not rejects.exists()


@examples(25)
@given(st.lists(st.sampled_from(FORMULAS), min_size=1, max_size=4))
def test_formula_names_import_and_export_neutralized_and_round_trip(app, session, tmp_path, names):
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "=HYPERLINK(1)"])
        for number, name in enumerate(names):
            writer.writerow([f"formula{number}@example.com", name, name])
    runner = app.test_cli_runner()
    assert runner.invoke(args=["members", "import", str(source)]).exit_code == 0
    exported = tmp_path / "out.csv"
    result = runner.invoke(args=["members", "export", str(exported)])
    assert result.exit_code == 0, result.output
    with exported.open(encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not any(cell.startswith(FORMULA_START) for cell in cells), cells
    again = runner.invoke(args=["members", "import", str(exported)])
    assert "created 0, updated 0" in again.output, again.output
