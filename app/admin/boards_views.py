"""``/admin/boards``: the editor makes, edits, orders and deletes forum boards.

Ordering is two buttons per board (up, down), so it works without JavaScript. Deleting asks
first, on a page of its own; a board with topics asks again for them (``boards.delete_board``).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from app.db import transaction
from app.discussions import boards
from app.discussions.models import BOARD_ACCESS
from app.web.forms import ButtonForm
from app.web.security import editor_required

bp = Blueprint("admin_boards", __name__, url_prefix="/admin/boards")

ACCESS_LABELS = {
    "public": "Public: anyone reads, members post",
    "members": "Members: signed-in members read and post",
    "paid": "Paid: paying and invited members read and post",
}


class BoardForm(FlaskForm):
    """Lengths and formats are checked by ``boards`` (one place, for the CLI too)."""

    name = StringField("Name")
    slug = StringField("Slug", description="The board's address: /forum/<slug>. Lower-case "
                       "letters, digits and hyphens.")  # fmt: skip
    description = TextAreaField("Description", description="One or two sentences, shown in "
                                "the board list.")  # fmt: skip
    access = SelectField(
        "Who can read it",
        choices=[SelectChoice(value, ACCESS_LABELS[value]) for value in BOARD_ACCESS],
        default="members",
    )

    def fields(self) -> boards.BoardFields:
        return boards.BoardFields(
            slug=self.slug.data or "", name=self.name.data or "",
            description=self.description.data or "", access=self.access.data or "",
        )  # fmt: skip


class DeleteForm(FlaskForm):
    confirm_topics = IntegerField(validators=[Optional()])


@bp.before_request
@editor_required
def _editors_only():
    return None


def _list_page(form: BoardForm | None = None, status: int = 200):
    with transaction() as session:
        page = render_template(
            "admin/boards.html", rows=boards.list_boards(session),
            form=form or BoardForm(formdata=None), button=ButtonForm(formdata=None),
        )  # fmt: skip
    return page, status


def _with_error(form: FlaskForm, error: boards.BoardError) -> None:
    if error.field and error.field in form:
        form[error.field].errors = [str(error)]
    else:
        flash(str(error), "error")


@bp.get("")
def boards_list():
    return _list_page()


@bp.post("")
def create():
    form = BoardForm()
    if not form.validate_on_submit():
        return _list_page(form, 400)
    try:
        with transaction() as session:
            name = boards.create_board(session, form.fields()).name
    except boards.BoardError as error:
        _with_error(form, error)
        return _list_page(form, 400)
    flash(f"Board “{name}” created.", "success")
    return redirect(url_for("admin_boards.boards_list"), code=303)


@bp.route("/<int:board_id>", methods=["GET", "POST"])
def edit(board_id: int):
    with transaction() as session:
        try:
            board = boards.get_board(session, board_id)
        except boards.BoardNotFound:
            abort(404)
        form = BoardForm(obj=board)
        if not form.validate_on_submit():
            return _edit_page(board, form, 400 if form.errors else 200)
        try:
            with session.begin_nested():
                boards.update_board(session, board_id, form.fields())
        except boards.BoardError as error:
            _with_error(form, error)
            return _edit_page(board, form, 400)
        name = board.name
    flash(f"Board “{name}” saved.", "success")
    return redirect(url_for("admin_boards.boards_list"), code=303)


def _edit_page(board, form: BoardForm, status: int):
    return render_template("admin/board_edit.html", board=board, form=form), status


@bp.post("/<int:board_id>/move")
def move(board_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        with transaction() as session:
            boards.move_board(session, board_id, request.form.get("direction", ""))
    except boards.BoardNotFound:
        abort(404)
    except boards.BoardError as error:
        flash(str(error), "error")
        return _list_page(status=400)
    return redirect(url_for("admin_boards.boards_list") + f"#board-{board_id}", code=303)


@bp.route("/<int:board_id>/delete", methods=["GET", "POST"])
def delete(board_id: int):
    form = DeleteForm()
    with transaction() as session:
        try:
            row = boards.board_row(session, board_id)
        except boards.BoardNotFound:
            abort(404)
        if not form.validate_on_submit():
            return _delete_page(row, form, 400 if form.errors else 200)
        try:
            with session.begin_nested():
                name = boards.delete_board(
                    session, board_id, confirmed_topics=form.confirm_topics.data
                )
        except boards.BoardError as error:
            form.confirm_topics.errors = [str(error)]
            return _delete_page(row, form, 400)
    flash(f"Board “{name}” deleted.", "success")
    return redirect(url_for("admin_boards.boards_list"), code=303)


def _delete_page(row: boards.BoardRow, form: DeleteForm, status: int):
    return render_template("admin/board_delete.html", row=row, form=form), status
