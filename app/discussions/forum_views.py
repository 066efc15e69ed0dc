"""``/forum``: the boards, a board's topics, starting a topic, marking topics read, search.

A topic itself is read and answered at ``/t/<thread-id>`` (``discussions.views``); every
link here goes to that plain path. Who may read or post is asked of ``forums`` (which asks
``members.access``); these views parse, call, and respond.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.db import reading, transaction
from app.discussions import forums, service
from app.discussions.models import Board
from app.web.forms import ButtonForm
from app.web.security import limiter, viewer_in

bp = Blueprint("forum", __name__, url_prefix="/forum")

# What a refused first post means for the page: which status, and which field it is about.
REFUSALS = {
    "empty": (400, "body"),
    "too-long": (400, "body"),
    "rate-limited": (429, None),
    "locked": (403, None),
    "suspended": (403, None),
    "sign-in": (403, None),
    "upgrade": (403, None),
}


class TopicForm(FlaskForm):
    title = StringField(
        "Title",
        validators=[
            DataRequired(message="A topic needs a title."),
            Length(max=forums.MAX_TITLE, message=f"At most {forums.MAX_TITLE} characters."),
        ],
    )
    body = TextAreaField(
        "Your post",
        validators=[
            DataRequired(message="Write something first."),
            Length(max=service.MAX_BODY, message=f"At most {service.MAX_BODY:,} characters."),
        ],
        description="Markdown: *emphasis*, **strong**, [links](https://…), lists, > quotes.",
    )


def _page_number() -> int:
    number = request.args.get("page", "1")
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= forums.MAX_PAGE:
        abort(404)
    return int(number)


def _board(session: Session, slug: str) -> Board:
    board = forums.board_by_slug(session, slug)
    if board is None:
        abort(404)
    return board


def _readable_board(session: Session, slug: str) -> tuple[Any, Board]:
    """The viewer and the board they may read; else the board's gate page (403), or 404."""
    viewer, board = viewer_in(session), _board(session, slug)
    if gate := forums.board_gate(viewer, board):
        page = render_template("forum/gate.html", board=board, gate=gate)
        abort(make_response(page, 403))
    return viewer, board


def _sign_in_first():
    return redirect(url_for("members.login", next=request.path))


@bp.get("")
def index():
    with reading() as session:
        rows = forums.board_index(session, viewer_in(session))
        return render_template("forum/index.html", rows=rows, button=ButtonForm(formdata=None))


@bp.get("/<slug>")
def board(slug: str):
    number = _page_number()
    with reading() as session:
        viewer, found = _readable_board(session, slug)
        page = forums.topics_page(session, viewer, found, number)
        if number > page.pages:
            abort(404)
        return render_template(
            "forum/board.html", board=found, page=page, start=forums.start_gate(viewer, found),
            button=ButtonForm(formdata=None),
        )  # fmt: skip


@bp.route("/<slug>/new", methods=["GET", "POST"])
def new_topic(slug: str):
    if not current_user.is_authenticated:
        with transaction() as session:
            _board(session, slug)
        return _sign_in_first()
    form = TopicForm()
    with transaction() as session:
        viewer, found = _readable_board(session, slug)
        if refused := forums.start_gate(viewer, found):
            return _topic_form(found, form, 403, service.PostRefused(refused))
        if not form.validate_on_submit():
            return _topic_form(found, form, 400 if form.errors else 200)
        try:
            thread = forums.create_topic(session, viewer, found, form.title.data, form.body.data)
        except forums.TopicError as error:
            form.title.errors = [str(error)]
            return _topic_form(found, form, 400)
        except service.PostRefused as error:
            status, field = REFUSALS.get(error.reason, (400, None))
            if field:
                form[field].errors = [str(error)]
            return _topic_form(found, form, status, None if field else error)
        thread_id = thread.id
    return redirect(f"/t/{thread_id}", code=303)


def _topic_form(board: Board, form: TopicForm, status: int, problem: Exception | None = None):
    page = render_template("forum/new_topic.html", board=board, form=form, problem=problem)
    return page, status


@bp.post("/mark-read")
def mark_all_read():
    return _mark_read(None)


@bp.post("/<slug>/mark-read")
def mark_board_read(slug: str):
    return _mark_read(slug)


def _mark_read(slug: str | None):
    if not current_user.is_authenticated:
        return _sign_in_first()
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction() as session:
        if slug:
            viewer, board = _readable_board(session, slug)
            boards = [board]
        else:
            viewer, boards = viewer_in(session), forums.all_boards(session)
        count = forums.mark_boards_read(session, viewer, boards)
    flash(f"Marked {count} topic{'' if count == 1 else 's'} read.", "success")
    target = url_for("forum.board", slug=slug) if slug else url_for("forum.index")
    return redirect(target, code=303)


@bp.get("/search")
@limiter.limit("60 per minute")
def search():
    query, slug = request.args.get("q", ""), request.args.get("board", "")
    number = _page_number()
    with reading() as session:
        viewer, boards = viewer_in(session), forums.all_boards(session)
        scope = [_readable_board(session, slug)[1]] if slug else boards
        page, error = None, None
        if query.strip():
            try:
                page = forums.search(session, viewer, forums.search_words(query), scope, number)
            except forums.SearchError as problem:
                error = str(problem)
        if page is not None and number > page.pages:
            abort(404)
        readable = [board for board in boards if forums.board_gate(viewer, board) is None]
        return render_template(
            "forum/search.html", query=query, slug=slug, boards=readable, page=page, error=error,
        ), 400 if error else 200  # fmt: skip
