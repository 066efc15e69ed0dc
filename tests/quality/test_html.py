"""Every page Kith serves, as anonymous, member and editor, passes the Nu HTML Checker."""

from __future__ import annotations

from tests.quality import nu
from tests.quality.pages import collect
from tests.quality.seed import seed


def test_every_page_is_valid_html(app, session, tmp_path):
    seeded = seed(session, app.extensions["kith.settings"].base_url)
    pages = collect(app, seeded)
    admin_pages = [name for name in pages if name.startswith("editor GET /admin/")]
    assert len(admin_pages) >= 25 and len(pages) > 50, f"too few pages rendered: {sorted(pages)}"
    assert {"(404)", "(403)", "(400)"} <= {name.rsplit(" ", 1)[1] for name in pages}, sorted(pages)
    names = {}
    for number, (name, html) in enumerate(sorted(pages.items())):
        file = tmp_path / f"page{number:03}.html"
        file.write_text(html)
        names[file.name] = name
    errors = nu.check(tmp_path)
    listed = [f"{names.get(error.split(':', 1)[0], '?')}: {error}" for error in errors]
    assert not listed, f"{len(listed)} HTML errors:\n" + "\n".join(listed)
