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


def _choice(form: EndpointForm) -> endpoints.Choice:
    return endpoints.Choice(
        url=form.url.data or "",
        events=form.events.data or [],
        description=form.description.data or "",
        active=bool(form.active.data),
    )


def _page(template: str, load, status: int = 200):
    """Render ``template`` with what ``load(session)`` finds; a 404 when it finds nothing."""
    with transaction() as session:
        try:
            context = load(session)
        except endpoints.EndpointError:
            abort(404)
        page = render_template(template, max_attempts=service.MAX_ATTEMPTS, **context)
    return page, status


def _list_page(form: EndpointForm | None = None, status: int = 200):
    def load(session) -> dict:
        return {
            "summaries": endpoints.overview(session),
            "form": form or EndpointForm(formdata=None),
        }

    return _page("admin/webhooks.html", load, status)


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
            endpoint_id = endpoints.create(session, _choice(form), base_url=_base_url()).id
    except endpoints.EndpointError as error:
        _field_for(form, error).errors.append(str(error))
        return _list_page(form, 400)
    flash("Endpoint added. Its secret is below: give it to the receiver.", "success")
    return redirect(url_for("admin_webhooks.endpoint", endpoint_id=endpoint_id))


def _field_for(form: EndpointForm, error: Exception):
    return form.events if "event" in str(error).lower() else form.url


def _endpoint_page(endpoint_id: int, form: EndpointForm | None = None, status: int = 200):
    def load(session) -> dict:
        found = endpoints.get(session, endpoint_id)
        return {
            "endpoint": found,
            "deliveries": endpoints.deliveries(session, endpoint_id),
            "form": form or EndpointForm(formdata=None, obj=found),
        }

    return _page("admin/webhook.html", load, status)


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
            endpoints.update(session, endpoint_id, _choice(form), base_url=_base_url())
    except endpoints.EndpointError as error:
        _field_for(form, error).errors.append(str(error))
        return _endpoint_page(endpoint_id, form, 400)
    flash("Endpoint saved.", "success")
    return redirect(url_for("admin_webhooks.endpoint", endpoint_id=endpoint_id))


def _button(action, *, done: str, then: str, or_show):
    """A button: CSRF-checked, one service call in a transaction, a message either way.

    Something that does not exist is a 404; a refusal is shown on ``or_show()`` as a 400.
    """
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        with transaction() as session:
            action(session)
    except endpoints.EndpointError:
        abort(404)
    except service.DeliveryError as error:
        flash(str(error), "error")
        return or_show()
    flash(done, "success")
    return redirect(then)


# The buttons on an endpoint's page: what each does, and what the editor is told after.
ENDPOINT_BUTTONS = {
    "rotate": (
        endpoints.rotate_secret,
        "New secret made: every request from now on is signed with it. Update the receiver.",
    ),
    "test": (
        service.send_test,
        "Test event queued: it shows in the deliveries below within moments.",
    ),
    "delete": (endpoints.delete, "Endpoint deleted: it is sent nothing more."),
}


@bp.post("/<int:endpoint_id>/<any(rotate, test, delete):button>")
def endpoint_button(endpoint_id: int, button: str):
    action, done = ENDPOINT_BUTTONS[button]
    then = url_for("admin_webhooks.endpoint", endpoint_id=endpoint_id)
    if button == "delete":
        then = url_for("admin_webhooks.webhooks_list")
    return _button(
        lambda session: action(session, endpoint_id),
        done=done,
        then=then,
        or_show=lambda: _endpoint_page(endpoint_id, None, 400),
    )


def _delivery_page(delivery_id: int, status: int = 200):
    def load(session) -> dict:
        return {"detail": endpoints.delivery_detail(session, delivery_id)}

    return _page("admin/webhook_delivery.html", load, status)


@bp.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int):
    return _delivery_page(delivery_id)


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry(delivery_id: int):
    return _button(
        lambda session: service.retry_now(session, delivery_id),
        done="Retrying now: the result shows below within moments.",
        then=url_for("admin_webhooks.delivery", delivery_id=delivery_id),
        or_show=lambda: _delivery_page(delivery_id, 400),
    )
