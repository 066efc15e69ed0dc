"""The publication's settings: its name and description, the words on paywalls and in the
welcome that new paying or invited members get, and what paid membership costs."""

from __future__ import annotations

import logging
from decimal import Decimal

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from app.config import Settings
from app.db import transaction
from app.issues import service as issues
from app.payments import gateway, prices
from app.payments.gateway import GatewayError
from app.web.security import editor_required

log = logging.getLogger(__name__)

bp = Blueprint("settings", __name__, url_prefix="/admin/settings")


class PublicationForm(FlaskForm):
    name = StringField(
        "Publication name",
        validators=[Length(max=200)],
        description="Shown on every page and as the sender's name. Empty: MAIL_FROM's name.",
    )
    description = TextAreaField("Description", validators=[Length(max=2000)])
    paywall_text = TextAreaField(
        "Paywall text",
        validators=[Length(max=2000)],
        description="What readers without access see under a members or paid issue's teaser.",
    )
    welcome_text = TextAreaField(
        "Welcome text",
        validators=[Length(max=5000)],
        description="Greets members who start paying or join by invitation.",
    )
    replies_from_any_address = BooleanField(
        "Post mailed replies from any sender address",
        description="Off: a reply by email must come from the address the issue was sent to. "
        "Turn on if your members reply from other addresses (forwarding, aliases).",
    )


def _price_field(label: str, maximum: int) -> DecimalField:
    return DecimalField(
        label,
        places=2,
        validators=[Optional(), NumberRange(min=Decimal("1"), max=Decimal(maximum))],
        description="Leave empty to not offer this plan.",
    )


class PricesForm(FlaskForm):
    currency = SelectField(
        "Currency",
        choices=[SelectChoice(code, code.upper()) for code in prices.CURRENCIES],
        default="usd",
    )
    monthly = _price_field("Monthly price", 10_000)
    yearly = _price_field("Yearly price", 100_000)

    def amounts(self) -> dict[str, int | None]:
        return {
            plan: prices.to_minor_units(value, self.currency.data) if value is not None else None
            for plan, value in (("monthly", self.monthly.data), ("yearly", self.yearly.data))
        }


def _settings() -> Settings:
    return current_app.extensions["kith.settings"]


def _prices_form(session, formdata=None) -> PricesForm:
    """The form filled with the prices on sale now (amounts set here, in major units)."""
    form = PricesForm(formdata=formdata)
    if formdata is None:
        for offer in prices.offers(session, _settings()):
            if offer.amount is not None:
                form.currency.data = offer.currency
                value = Decimal(offer.amount)
                if offer.currency not in prices.ZERO_DECIMAL:
                    value /= 100
                getattr(form, offer.plan).data = value
    return form


def _page(
    session,
    form: PublicationForm,
    prices_form: PricesForm,
    status: int = 200,
    prices_error: str | None = None,
):
    return render_template(
        "admin/settings.html",
        form=form,
        prices_form=prices_form,
        prices_error=prices_error,
        offers=prices.offers(session, _settings()),
        stripe_configured=bool(_settings().stripe_secret_key),
        webhook_configured=bool(_settings().stripe_webhook_secret),
    ), status


@bp.before_request
@editor_required
def _editors_only():
    return None


@bp.route("", methods=["GET", "POST"])
def publication():
    with transaction(immediate=True) as session:
        current = issues.publication(session)
        form = PublicationForm(obj=current)
        if form.validate_on_submit():
            issues.update_publication(session, form.data)
            flash("Settings saved.", "success")
            return redirect(url_for("settings.publication"))
        status = 400 if form.errors else 200
        return _page(session, form, _prices_form(session), status)


@bp.post("/prices")
def set_prices():
    """Put the editor's prices on sale: Stripe prices are made first (outside any database
    transaction, Stripe may be slow), then stored."""
    if not _settings().stripe_secret_key:
        flash("Paid membership is off: set STRIPE_SECRET_KEY first.", "error")
        return redirect(url_for("settings.publication"))
    form, refused = PricesForm(), None
    if form.validate_on_submit():
        with transaction() as session:
            now_on_sale = prices.current(session)
            name = issues.publication(session).name
        try:
            chosen = prices.make_stripe_prices(
                gateway.for_app(current_app),
                now_on_sale,
                amounts=form.amounts(),
                currency=form.currency.data,
                publication_name=name,
            )
        except GatewayError as error:
            log.warning("Stripe refused the new prices: %s", error)
            refused = f"Stripe refused the prices, so nothing changed: {error}"
        else:
            with transaction(immediate=True) as session:
                prices.store(session, chosen)
                issues.content_changed(session)  # paywalls show the new amounts at once
            flash("Prices saved.", "success")
            return redirect(url_for("settings.publication"))
    with transaction() as session:
        publication_form = PublicationForm(obj=issues.publication(session))
        return _page(session, publication_form, form, 502 if refused else 400, refused)
