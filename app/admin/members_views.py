"""The editor's audience pages: members, their history, tags, and saved segments."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.db import transaction
from app.discussions import moderation
from app.insights import engagement
from app.members import audience, segments, service
from app.members.models import TIERS, Member
from app.pagination import Page
from app.sending import bounces
from app.web.forms import ButtonForm
from app.web.security import editor_required

bp = Blueprint("audience", __name__, url_prefix="/admin")
PER_PAGE = 50


class AddMemberForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=320)])
    name = StringField("Name", validators=[Length(max=200)])
    tier = SelectField("Tier", choices=[SelectChoice(tier, tier.capitalize()) for tier in TIERS])
    tags = StringField(
        "Tags", description="Separate tags with commas.", validators=[Length(max=1000)]
    )


class SegmentForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    expression = TextAreaField("Expression", validators=[DataRequired(), Length(max=2000)])


@bp.before_request
@editor_required
def _editors_only():
    return None


def _split_tags(text: str) -> list[str]:
    return [tag for tag in (part.strip() for part in (text or "").split(",")) if tag]


@bp.get("/members")
def members():
    query, expression = request.args.get("q", ""), request.args.get("segment", "")
    number = request.args.get("page", "1")
    number = (
        min(int(number), 100_000)
        if number.isascii() and number.isdigit() and int(number) > 0
        else 1
    )
    error = None
    with transaction() as session:
        try:
            page = audience.find_members(
                session, query=query, expression=expression, number=number, per_page=PER_PAGE
            )
        except segments.SegmentError as problem:
            error, page = problem, Page([], 1, 0, PER_PAGE)
        saved = audience.saved_segments(session)
    status = 400 if error else 200
    return (
        render_template(
            "admin/members.html",
            page=page,
            query=query,
            expression=expression,
            error=error,
            saved=saved,
            form=ButtonForm(),
        ),  # fmt: skip
        status,
    )


@bp.post("/members/tags")
def tag_members():
    form = ButtonForm()
    if not form.validate_on_submit():
        abort(400)
    ids = [int(value) for value in request.form.getlist("member_id") if value.isdigit()]
    tag, add = request.form.get("tag", ""), request.form.get("action") != "remove"
    try:
        with transaction() as session:
            changed = audience.set_tags(session, ids, [tag], add=add)
    except audience.AudienceError as error:
        flash(str(error), "error")
    else:
        verb = "Tagged" if add else "Untagged"
        flash(
            f"{verb} {changed} member{'s' if changed != 1 else ''} with “{tag.strip()}”.", "success"
        )
    return redirect(
        request.form.get("back")
        if _is_local(request.form.get("back"))
        else url_for("audience.members")
    )


def _is_local(path: str | None) -> bool:
    return bool(path) and path.startswith("/admin/") and "//" not in path and "\\" not in path


@bp.route("/members/new", methods=["GET", "POST"])
def add_member():
    form = AddMemberForm()
    if form.validate_on_submit():
        try:
            with transaction() as session:
                member = audience.add_member(
                    session, form.email.data, name=form.name.data or "", tier=form.tier.data,
                    tags=_split_tags(form.tags.data), editor=current_user.email,
                )  # fmt: skip
                member_id = member.id
        except (service.InvalidEmail, audience.AudienceError) as error:
            form.email.errors.append(str(error))
        else:
            flash("Member added.", "success")
            return redirect(url_for("audience.member", member_id=member_id))
    return render_template("admin/member_new.html", form=form), 400 if form.errors else 200


@bp.get("/members/<int:member_id>")
def member(member_id: int):
    with transaction() as session:
        found = session.get(Member, member_id, options=[selectinload(Member.tags)])
        if found is None:
            abort(404)
        events = audience.history(session, found)
        bounce_history = bounces.history(session, found.id)
        posting = moderation.posting_summary(session, found)
        score = engagement.of_member(session, found.id)
    return render_template(
        "admin/member.html",
        member=found,
        events=events,
        bounces=bounce_history,
        posting=posting,
        engagement=score,
        form=ButtonForm(),
    )


@bp.route("/segments", methods=["GET", "POST"])
def segments_page():
    form = SegmentForm()
    if form.validate_on_submit():
        try:
            with transaction() as session:
                audience.save_segment(session, form.name.data, form.expression.data)
        except segments.SegmentError as error:
            form.expression.errors.append(str(error))
        except audience.AudienceError as error:
            form.name.errors.append(str(error))
        else:
            flash(f"Saved the segment “{form.name.data}”.", "success")
            return redirect(url_for("audience.segments_page"))
    with transaction() as session:
        saved = [
            (segment, segments.count(session, segment.expression, recipients=True))
            for segment in audience.saved_segments(session)
        ]
    return (
        render_template("admin/segments.html", form=form, saved=saved, button=ButtonForm()),
        400 if form.errors else 200,
    )


@bp.post("/segments/<int:segment_id>/delete")
def delete_segment(segment_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction() as session:
        audience.delete_segment(session, segment_id)
    flash("Segment deleted.", "success")
    return redirect(url_for("audience.segments_page"))


@bp.get("/segments/count")
def count():
    """Live counts for an expression as it is typed: matches, and who a send would reach."""
    expression = request.args.get("expression", "")
    try:
        with transaction() as session:
            matched = segments.count(session, expression)
            reached = segments.count(session, expression, recipients=True)
    except segments.SegmentError as error:
        return jsonify(error=error.message, position=error.position + 1), 400
    return jsonify(members=matched, recipients=reached)
