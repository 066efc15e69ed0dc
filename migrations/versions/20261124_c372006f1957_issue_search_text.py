"""issue search text

Revision ID: c372006f1957
Revises: 6da2c37636c6
Create Date: 2026-11-24 20:20:00.000000
"""
import html
import re

from alembic import op
import sqlalchemy as sa
import app.db


revision = 'c372006f1957'
down_revision = '6da2c37636c6'
branch_labels = None
depends_on = None

BATCH = 200

# A frozen copy of app.issues.service.plain_text / search_fold / search_texts as they were
# when this migration was written: a migration must not change when the app does.
_PERMALINK = re.compile(r'<a [^>]*class="(?:header-anchor|footnote-backref)"[^>]*>[^<]*</a>')
_BLOCK_TAG = re.compile(
    r"</?(?:p|h[1-6]|li|ol|ul|blockquote|pre|br|hr|table|thead|tbody|tr|td|th|section)\b[^>]*>"
)
_TAG = re.compile(r"<[^>]*>")


def _plain_text(rendered_html):
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", _PERMALINK.sub("", rendered_html)))
    return " ".join(html.unescape(text).split())


def _fold(text):
    return " ".join(text.casefold().split())


def search_texts(title, subtitle, excerpt, teaser_html, body_html):
    public = " ".join((title or "", subtitle or "", excerpt or "", _plain_text(teaser_html or "")))
    return _fold(public), _fold(_plain_text(body_html or ""))


issues = sa.table(
    'issues',
    sa.column('id', sa.Integer),
    sa.column('title', sa.String),
    sa.column('subtitle', sa.String),
    sa.column('excerpt', sa.Text),
    sa.column('teaser_html', sa.Text),
    sa.column('body_html', sa.Text),
    sa.column('search_teaser', sa.Text),
    sa.column('search_body', sa.Text),
)


def upgrade():
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_teaser', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('search_body', sa.Text(), server_default='', nullable=False))

    # Backfill from the stored HTML, a batch of rows at a time (bodies can be large).
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(
                issues.c.id, issues.c.title, issues.c.subtitle, issues.c.excerpt,
                issues.c.teaser_html, issues.c.body_html,
            )
            .where(issues.c.id > last)
            .order_by(issues.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            teaser, body = search_texts(
                row.title, row.subtitle, row.excerpt, row.teaser_html, row.body_html
            )
            connection.execute(
                issues.update()
                .where(issues.c.id == row.id)
                .values(search_teaser=teaser, search_body=body)
            )
        last = rows[-1].id


def downgrade():
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_column('search_body')
        batch_op.drop_column('search_teaser')
