"""``/admin/webhooks``: the editor registers endpoints, sees their deliveries, tests and retries."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.db import transaction
from app.web.forms import ButtonForm
from app.web.security import editor_required
from app.webhooks import endpoints, service
from app.webhooks.models import EVENT_TYPES

bp = Blueprint("admin_webhooks", __name__, url_prefix="/admin/webhooks")


class EndpointForm(FlaskForm):
    url = StringField(
        "URL", validators=[DataRequired(), Length(max=endpoints.MAX_URL)],
        description="https://… (plain http:// only for localhost while Kith runs on http://).",
    )  # fmt: skip
    description = StringField("Description (for you)", validators=[Length(max=200)])
    events = SelectMultipleField(
        "Events to send", choices=[SelectChoice(name, name) for name in EVENT_TYPES],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
    )  # fmt: skip
    active = BooleanField("Active: send events to this URL", default=True)


@bp.before_request
@editor_required
def _editors_only():
    return None


def _base_url() -> str:
    return current_app.extensions["kith.settings"].base_url


def _fields(form: EndpointForm) -> dict:
    return {
        "base_url": _base_url(),
        "url": form.url.data or "",
        "events": form.events.data or [],
        "description": form.description.data or "",
        "active": bool(form.active.data),
    }


def _list_page(form: EndpointForm | None = None, status: int = 200):
    with transaction() as session:
        page = render_template(
            "admin/webhooks.html",
            summaries=endpoints.overview(session),
            form=form or EndpointForm(formdata=None),
            max_attempts=service.MAX_ATTEMPTS,
        )
    return page, status


@bp.get("")
def webhooks_list():
    return _list_page()


@bp.post("")
def create():
    form = EndpointForm()
    if not form.validate_on_submit():
        return _list_page(form, 400)
    try:
        with transaction() as session:
            endpoint_id = endpoints.create(session, **_fields(form)).id
    except endpoints.EndpointError as error:
        _field_for(form, error).errors.append(str(error))
        return _list_page(form, 400)
    flash("Endpoint added. Its secret is below: give it to the receiver.", "success")
    return redirect(url_for("admin_webhooks.endpoint", endpoint_id=endpoint_id))


def _field_for(form: EndpointForm, error: Exception):
    return form.events if "event" in str(error).lower() else form.url


def _endpoint_page(endpoint_id: int, form: EndpointForm | None = None, status: int = 200):
    with transaction() as session:
        try:
            found = endpoints.get(session, endpoint_id)
        except endpoints.EndpointError:
            abort(404)
        page = render_template(
            "admin/webhook.html",
            endpoint=found,
            deliveries=endpoints.deliveries(session, endpoint_id),
            form=form or EndpointForm(formdata=None, obj=found),
            max_attempts=service.MAX_ATTEMPTS,
        )
    return page, status


@bp.get("/<int:endpoint_id>")
def endpoint(endpoint_id: int):
    return _endpoint_page(endpoint_id)


@bp.post("/<int:endpoint_id>")
def update(endpoint_id: int):
    form = EndpointForm()
    if not form.validate_on_submit():
        return _endpoint_page(endpoint_id, form, 400)
    try:
        with transaction() as session:
            endpoints.update(session, endpoint_id, **_fields(form))
    except endpoints.EndpointError as error:
        _field_for(form, error).errors.append(str(error))
        return _endpoint_page(endpoint_id, form, 400)
    flash("Endpoint saved.", "success")
    return redirect(url_for("admin_webhooks.endpoint", endpoint_id=endpoint_id))


def _act(endpoint_id: int, action, done: str):
    """A button on the endpoint page: CSRF-checked, one service call, a message either way."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        with transaction() as session:
            endpoints.get(session, endpoint_id)
            action(session)
    except endpoints.EndpointError:
        abort(404)
    except service.DeliveryError as error:
        flash(str(error), "error")
        return _endpoint_page(endpoint_id, status=400)
    flash(done, "success")
    return redirect(url_for("admin_webhooks.endpoint", endpoint_id=endpoint_id))


@bp.post("/<int:endpoint_id>/rotate")
def rotate(endpoint_id: int):
    return _act(
        endpoint_id,
        lambda session: endpoints.rotate_secret(session, endpoint_id),
        "New secret made: every request from now on is signed with it. Update the receiver.",
    )


@bp.post("/<int:endpoint_id>/test")
def send_test(endpoint_id: int):
    return _act(
        endpoint_id,
        lambda session: service.send_test(session, endpoint_id),
        "Test event queued: it shows in the deliveries below within moments.",
    )


@bp.post("/<int:endpoint_id>/delete")
def delete(endpoint_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        with transaction() as session:
            endpoints.delete(session, endpoint_id)
    except endpoints.EndpointError:
        abort(404)
    flash("Endpoint deleted: it is sent nothing more.", "success")
    return redirect(url_for("admin_webhooks.webhooks_list"))


def _delivery_page(delivery_id: int, status: int = 200):
    with transaction() as session:
        try:
            detail = endpoints.delivery_detail(session, delivery_id)
        except endpoints.EndpointError:
            abort(404)
        page = render_template(
            "admin/webhook_delivery.html",
            detail=detail,
            max_attempts=service.MAX_ATTEMPTS,
        )
    return page, status


@bp.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int):
    return _delivery_page(delivery_id)


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry(delivery_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        with transaction() as session:
            service.retry_now(session, delivery_id)
    except service.DeliveryError as error:
        flash(str(error), "error")
        return _delivery_page(delivery_id, status=400)
    flash("Retrying now: the result shows below within moments.", "success")
    return redirect(url_for("admin_webhooks.delivery", delivery_id=delivery_id))
