"""The command line: clear output, one-line errors and non-zero exits on bad input."""

from __future__ import annotations

from sqlalchemy import func, select

from app.issues.models import Issue, Publication
from app.members.models import Member
from tests.issues.test_content import BAD_FILES, GOOD, write


def test_create_editor_prints_a_working_one_time_link(app, client, session):
    result = app.test_cli_runner().invoke(
        args=["create-editor", "Chief@Example.com", "--name", "Chief"]
    )
    assert result.exit_code == 0
    link = result.output.strip()
    assert link.startswith("http://localhost/login/")
    path = link.removeprefix("http://localhost")
    page = client.get(path).get_data(as_text=True)
    assert "chief@example.com" in page
    assert (
        session.scalar(select(Member.role).where(Member.email == "chief@example.com")) == "editor"
    )


def test_create_editor_rejects_a_bad_address_in_one_line(app):
    result = app.test_cli_runner().invoke(args=["create-editor", "nobody@"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and result.output.startswith(
        "Error: 'nobody@' is not"
    )


def test_content_sync_reports_and_exits_non_zero_when_a_file_is_bad(app, session, content_dir):
    write(content_dir, "good.md", GOOD)
    write(content_dir, "broken-yaml.md", BAD_FILES["broken-yaml.md"][0])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["content", "sync", str(content_dir)])
    assert result.exit_code == 1
    assert "broken-yaml.md: front matter is not valid YAML" in result.output
    assert "1 created, 0 updated, 0 unchanged, 1 failed" in result.output
    assert session.scalar(select(func.count()).select_from(Issue)) == 1

    again = runner.invoke(args=["content", "sync", str(content_dir)])
    assert "0 created, 0 updated, 1 unchanged, 1 failed" in again.output


def test_content_sync_of_a_missing_directory_is_a_clear_error(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["content", "sync", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "is not a directory" in result.output


def test_demo_seeds_the_publication(app, session):
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert session.get(Publication, 1).name == "The Levain Letter"
    published = session.scalar(
        select(func.count()).select_from(Issue).where(Issue.status == "published")
    )
    assert published >= 3
