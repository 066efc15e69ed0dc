"""The editor's insight pages: an issue's report, the audience's growth, and the setting that
turns open and click counting on or off. Each page has its numbers as a table and a CSV."""

from __future__ import annotations

import csv
import io
from typing import NoReturn

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField

from app.db import transaction
from app.insights import charts, growth, jobs, reads, service, tracking
from app.web.forms import ButtonForm
from app.web.security import editor_required

bp = Blueprint("insights", __name__, url_prefix="/admin")


class CountingForm(FlaskForm):
    counting = BooleanField("Count opens and clicks of issue emails")


@bp.before_request
@editor_required
def _editors_only():
    return None


def _csv(rows: list[list], filename: str):
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    headers = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    return out.getvalue(), 200, headers


def _report(slug: str) -> service.IssueReport:
    reads.counter().flush()  # this process's latest views, before they are read back
    with transaction() as session:
        issue = service.issue_by_slug(session, slug)
        if issue is None:
            abort(404)
        return service.issue_report(session, issue)


@bp.get("/issues/<slug>/report")
def issue_report(slug: str):
    return render_template("admin/issue_report.html", report=_report(slug))


@bp.get("/issues/<slug>/report.csv")
def issue_report_csv(slug: str):
    report = _report(slug)
    rows: list[list] = [["figure", "value", "percent", "of"]]
    for figure in report.figures:
        percent = "" if figure.percent is None else f"{figure.percent:.1f}"
        rows.append([figure.label, figure.value, percent, "" if figure.of is None else figure.of])
    rows += [[f"feedback vote {choice}", votes, "", ""] for choice, votes in report.votes]
    for link in report.links:
        rows.append([f"link {link.position} clicks: {link.url}", link.clicks, "", ""])
        rows.append([f"link {link.position} clickers: {link.url}", link.clickers, "", ""])
    return _csv(rows, f"{report.issue.slug}-report.csv")


def _refuse(message: str) -> NoReturn:
    page = render_template("error.html", status=400, title="Bad request", message=message)
    abort(Response(page, 400))


def _days() -> int:
    """The range asked for: 30 (the default), 90 or 365 days; anything else is a 400."""
    text = request.args.get("days", "30")
    if not (text.isascii() and text.isdigit()) or int(text) not in growth.RANGES:
        _refuse("Choose a range of 30, 90 or 365 days.")
    return int(text)


def _growth(days: int) -> growth.Growth:
    with transaction() as session:
        computed = growth.last_rollup(session) is not None
    if not computed:  # never computed: backfill on demand, once
        with transaction(immediate=True) as session:
            if growth.last_rollup(session) is None:
                growth.rollup(session)
    with transaction() as session:
        return growth.growth(session, days)


@bp.get("/audience/growth")
def audience_growth():
    days = _days()
    data = _growth(days)
    return render_template(
        "admin/growth.html",
        data=data,
        days=days,
        ranges=growth.RANGES,
        charts=charts.dashboard(data),
        form=ButtonForm(),
    )


@bp.get("/audience/growth.csv")
def audience_growth_csv():
    days = _days()
    data = _growth(days)
    columns = [(measure, key) for measure, keys in growth.KEYS.items() for key in keys]
    rows: list[list] = [["day"] + [f"{measure}_{key}" for measure, key in columns]]
    for index, day in enumerate(data.days):
        rows.append([day.isoformat()] + [data.series[m][k][index] for m, k in columns])
    return _csv(rows, f"audience-growth-{days}d.csv")


@bp.post("/audience/growth/refresh")
def refresh_growth():
    days = _days()
    if not ButtonForm().validate_on_submit():
        _refuse("The form expired. Reload the page and try again.")
    with transaction(immediate=True) as session:
        jobs.refresh(session)
    flash("The audience figures and engagement scores were recomputed.", "success")
    return redirect(url_for("insights.audience_growth", days=days))


@bp.get("/settings/tracking")
def counting_setting():
    with transaction() as session:
        form = CountingForm(counting=tracking.enabled(session))
    return render_template("admin/tracking.html", form=form, notice=tracking.NOTICE)


@bp.post("/settings/tracking")
def set_counting():
    form = CountingForm()
    if not form.validate_on_submit():
        _refuse("The form expired. Reload the page and try again.")
    on = bool(form.counting.data)
    with transaction(immediate=True) as session:
        tracking.set_enabled(session, on)
    flash(
        "Opens and clicks are counted from the next email on; the footers say so."
        if on
        else "Opens and clicks are no longer counted.",
        "success",
    )
    return redirect(url_for("insights.counting_setting"))
