"""CSV import and export: idempotent, streamed, and no bad row stops the others."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.members.models import ConsentEvent, Member
from tests.conftest import make_member


def write(tmp_path: Path, text: str | bytes, name: str = "members.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def run_import(app, path: Path, *args: str):
    return app.test_cli_runner().invoke(args=["members", "import", str(path), *args])


def members(session) -> dict[str, Member]:
    session.expire_all()
    return {member.email: member for member in session.scalars(select(Member))}


def test_import_creates_then_reimport_changes_nothing(app, session, tmp_path):
    path = write(
        tmp_path,
        "email,name,tier,tags,city\nAnn@Example.com,Ann,paid,sourdough;rye,Oslo\nbob@example.com,,,,\n",
    )
    first = run_import(app, path, "--tag", "spring-2026")
    assert first.exit_code == 0, first.output
    assert (
        "created 2, updated 0, unchanged 0, skipped 0 (duplicate rows), invalid 0" in first.output
    )
    found = members(session)
    ann = found["ann@example.com"]
    assert (ann.name, ann.tier, ann.status, ann.source) == ("Ann", "paid", "active", "import")
    assert [tag.name for tag in ann.tags] == ["rye", "sourdough", "spring-2026"]
    assert ann.fields == {"city": "Oslo"} and found["bob@example.com"].tier == "free"
    consent = session.scalars(select(ConsentEvent).where(ConsentEvent.member_id == ann.id)).all()
    assert [(event.action, event.source) for event in consent] == [("import", "import members.csv")]

    again = run_import(app, path, "--tag", "spring-2026")
    assert "created 0, updated 0, unchanged 2" in again.output
    assert session.scalar(select(func.count()).select_from(Member)) == 2


def test_reimport_updates_fields_adds_tags_and_keeps_suppressions(app, session, tmp_path):
    make_member(session, email="ann@example.com", name="Ann", status="unsubscribed")
    make_member(session, email="cy@example.com", status="pending")
    path = write(
        tmp_path, "email,name,tags,city\nann@example.com,Ann B,new,Lyon\ncy@example.com,,,\n"
    )
    result = run_import(app, path)
    assert "created 0, updated 2, unchanged 0" in result.output
    found = members(session)
    assert found["ann@example.com"].status == "unsubscribed"  # the file cannot re-subscribe anyone
    assert found["ann@example.com"].name == "Ann B" and found["ann@example.com"].fields == {
        "city": "Lyon"
    }
    assert [tag.name for tag in found["ann@example.com"].tags] == ["new"]
    assert found["cy@example.com"].status == "active"


def test_bad_rows_are_rejected_with_reasons_and_the_rest_imports(app, session, tmp_path):
    path = write(
        tmp_path,
        "email,name,tier\n"
        "good@example.com,Good,free\n"
        "not-an-email,Bad,free\n"
        "other@example.com,Bad tier,gold\n"
        'multi@example.com,"Line one\nline two",paid\n'
        "GOOD@example.com,Duplicate,free\n"
        "too@example.com,Too,free,many,values\n"
        ",,\n",
    )
    result = run_import(app, path)
    assert result.exit_code == 0, result.output
    assert (
        "created 2, updated 0, unchanged 0, skipped 1 (duplicate rows), invalid 3" in result.output
    )
    assert set(members(session)) == {"good@example.com", "multi@example.com"}
    assert members(session)["multi@example.com"].name == "Line one\nline two"
    header, *body = read_csv(tmp_path / "members.rejected.csv")
    rejects = [dict(zip(header, row, strict=True)) for row in body]
    reasons = {row["email"]: row["error"] for row in rejects}
    assert "@-sign" in reasons["not-an-email"]
    assert "tier must be one of" in reasons["other@example.com"]
    assert reasons["GOOD@example.com"] == "duplicate of line 2"
    assert "more values than columns" in reasons["too@example.com"]
    assert {row["line"] for row in rejects} == {"3", "4", "7", "8"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,tier\nAnn,free\n", "has no 'email' column"),
        ("email,name\ncafé@example.com,Zoë\n".encode("latin-1"), "is not UTF-8 text (line 2)"),
        (b"", "is empty"),
        (b"email,email\na@example.com,b@example.com\n", "names the column(s) email twice"),
    ],
)
def test_files_that_cannot_be_imported_fail_whole_with_one_line(
    app, session, tmp_path, content, message
):
    result = run_import(app, write(tmp_path, content))
    assert result.exit_code == 1 and message in result.output
    assert result.output.strip().count("\n") == 0
    assert session.scalar(select(func.count()).select_from(Member)) == 0


def test_a_missing_file_is_a_clear_error(app, tmp_path):
    result = run_import(app, tmp_path / "nowhere.csv")
    assert result.exit_code == 1 and "does not exist" in result.output


def test_semicolons_and_a_byte_order_mark_are_understood(app, session, tmp_path):
    path = write(tmp_path, "\ufeffEmail;Name;Tags\nann@example.com;Ann;a|b\n")
    assert "created 1" in run_import(app, path).output
    assert [tag.name for tag in members(session)["ann@example.com"].tags] == ["a", "b"]


def test_ten_thousand_invalid_addresses_are_all_reported(app, session, tmp_path):
    rows = "".join(f"broken{n}.example.com,x\n" for n in range(10_000))
    path = write(tmp_path, "email,name\nfine@example.com,ok\n" + rows)
    result = run_import(app, path)
    assert "created 1" in result.output and "invalid 10000" in result.output
    assert len(read_csv(tmp_path / "members.rejected.csv")) == 10_001


def test_export_writes_the_import_columns_back_and_defuses_formulas(app, session, tmp_path):
    path = write(
        tmp_path,
        "email,name,tags,city\nann@example.com,=HYPERLINK(1),a;b,Oslo\nbob@example.com,Bob,,\n",
    )
    run_import(app, path)
    out = tmp_path / "out.csv"
    result = app.test_cli_runner().invoke(
        args=["members", "export", str(out), "--segment", "tag:a"]
    )
    assert result.exit_code == 0 and "exported 1 members" in result.output
    rows = read_csv(out)
    assert rows == [
        ["email", "name", "tier", "status", "tags", "city"],
        ["ann@example.com", "'=HYPERLINK(1)", "free", "active", "a;b", "Oslo"],
    ]


def test_export_round_trips_through_import(app, session, tmp_path):
    path = write(tmp_path, "email,name,tier,tags,city\nann@example.com,Ann,paid,a;b,Oslo\n")
    run_import(app, path)
    out = tmp_path / "out.csv"
    app.test_cli_runner().invoke(args=["members", "export", str(out)])
    assert "unchanged 1" in run_import(app, out).output


def test_export_with_a_bad_segment_is_a_clear_error(app, tmp_path):
    result = app.test_cli_runner().invoke(
        args=["members", "export", str(tmp_path / "x.csv"), "--segment", "tier:gold"]
    )
    assert result.exit_code == 1 and "unknown tier 'gold'" in result.output


def test_segment_commands_count_save_and_list(app, session):
    make_member(session, email="a@example.com", tier="paid")
    make_member(session, email="b@example.com", tier="paid", status="unsubscribed")
    runner = app.test_cli_runner()
    assert (
        "2 members match; a send would reach 1"
        in runner.invoke(args=["segments", "count", "tier:paid"]).output
    )
    assert runner.invoke(args=["segments", "save", "Paid", "tier:paid"]).exit_code == 0
    assert "Paid\t1\ttier:paid" in runner.invoke(args=["segments", "list"]).output
    bad = runner.invoke(args=["segments", "count", "tier:paid AND"])
    assert bad.exit_code == 1 and "at position 14" in bad.output


def test_export_to_standard_output(app, session):
    make_member(session, email="a@example.com")
    result = app.test_cli_runner().invoke(args=["members", "export", "-"])
    assert list(csv.reader(io.StringIO(result.stdout)))[1][0] == "a@example.com"


def test_large_files_validate_in_a_second_process_with_the_same_result(
    app, session, tmp_path, monkeypatch
):
    from app.members import commands

    monkeypatch.setattr(commands, "PARALLEL_FROM_ROWS", 0)
    rows = (
        "".join(f"reader{n}@example.com,Reader {n},,\n" for n in range(10))
        + "bad,,,\nreader1@example.com,,,\n"
    )
    result = run_import(app, write(tmp_path, "email,name,tier,tags\n" + rows))
    assert (
        "created 10, updated 0, unchanged 0, skipped 1 (duplicate rows), invalid 1" in result.output
    )


def test_an_error_in_the_validating_process_reaches_the_importer(tmp_path, monkeypatch):
    from app.members import csv_io, importer

    def broken(rows):
        raise RuntimeError("validator crashed")

    monkeypatch.setattr(importer, "prepare", broken)
    csv_file = csv_io.inspect_file(write(tmp_path, "email\na@example.com\n"))
    with pytest.raises(RuntimeError, match="validator crashed"):
        list(importer.prepared_chunks(csv_file, parallel=True))


def test_export_and_import_round_trip_formula_looking_values_and_statuses(app, session, tmp_path):
    make_member(
        session,
        email="-dash@example.com",
        name="+Plus",
        status="unsubscribed",
        fields={"tel": "+44 20"},
    )
    out = tmp_path / "out.csv"
    app.test_cli_runner().invoke(args=["members", "export", str(out)])
    session.execute(Member.__table__.delete())
    session.commit()
    result = run_import(app, out)
    assert "created 1" in result.output, result.output
    member = members(session)["-dash@example.com"]
    assert (member.name, member.status, member.fields) == (
        "+Plus",
        "unsubscribed",
        {"tel": "+44 20"},
    )


def test_a_file_can_suppress_but_never_lift_a_suppression(app, session, tmp_path):
    make_member(session, email="gone@example.com", status="bounced")
    make_member(session, email="here@example.com")
    path = write(tmp_path, "email,status\ngone@example.com,active\nhere@example.com,unsubscribed\n")
    assert "updated 1, unchanged 1" in run_import(app, path).output
    found = members(session)
    assert (
        found["gone@example.com"].status == "bounced"
        and found["here@example.com"].status == "unsubscribed"
    )


def test_the_tier_option_applies_only_to_new_members(app, session, tmp_path):
    make_member(session, email="paying@example.com", tier="paid")
    path = write(tmp_path, "email\npaying@example.com\nnew@example.com\n")
    run_import(app, path, "--tier", "invite")
    found = members(session)
    assert found["paying@example.com"].tier == "paid" and found["new@example.com"].tier == "invite"


def test_a_nul_character_rejects_only_its_row(app, session, tmp_path):
    path = write(tmp_path, "email,name\nok@example.com,Fine\nnul@example.com,Al\x00ice\n")
    result = run_import(app, path)
    assert "created 1" in result.output and "invalid 1" in result.output
    assert set(members(session)) == {"ok@example.com"}
