"""Finance: the allocation report. Choose what it covers, preview its figures, download the
PDF (from the cache, made at once, or made by the worker behind a progress page) and the
CSV of each table.

Reports are finance's only: they carry every amount, and at the finance level a table per
ambassador. The preview and the CSV change nothing and answer GET; asking for the PDF may
queue a job, so it is a form with its key.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, DateTimeLocalField, IntegerField, RadioField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from grants import clock
from grants.clock import zone
from grants.domain.dates import wall_clock_moment
from grants.domain.errors import DomainError
from grants.extensions import db
from grants.models import Fund, Role
from grants.reports.build import PreparedReport, formatted_table, prepare, request_pdf
from grants.reports.cache import report_cache, valid_key
from grants.reports.csv import table_csv
from grants.reports.jobs import Job, JobState, enqueue_report, job_store
from grants.reports.parameters import Privacy, ReportParameters, report_parameters
from grants.reports.tables import TABLE_NAMES, find_table, report_tables
from grants.web import roles_required
from grants.web.actions import ActionForm, read, show_refusal
from grants.web.finance.blueprint import bp
from grants.web.hooks import user_locale, user_time_zone
from grants.web.listing import whole_number

PROGRESS_REFRESH_SECONDS = 3
"""How often the progress page reloads itself (an HTTP ``Refresh`` header: no script)."""

FIELDS = ("currency", "fund", "year", "start", "end", "cutoff", "privacy")
"""The query parameters that describe a report."""

CLEARED = "The report was made, but has since been cleared from the store of made reports."
"""What a finished job whose report has been pruned says."""
LOST = "The report stopped being made before it was finished."
"""What a job lost on the way (its worker stopped, or the queue lost it) says."""


def _optional_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    number = whole_number(str(value))
    if number is None:
        raise ValueError("not a fund's id")
    return number


class ReportFilters(FlaskForm):
    """What a report covers. Shape only: the report's own rules check the meaning."""

    class Meta:
        csrf = False

    currency = SelectField("Currency", validate_choice=False)
    fund = SelectField("Or one fund", coerce=_optional_int, validate_choice=False)
    year = IntegerField("Plan year", validators=[Optional(), NumberRange(min=2000, max=2100)])
    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])
    cutoff = DateTimeLocalField(
        "Cutoff (your time)",
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
    )
    privacy = RadioField(
        "Privacy level",
        choices=[SelectChoice(level.value, level.label) for level in Privacy],
        default=Privacy.FINANCE.value,
    )


class ReportRequest(ReportFilters, ActionForm):
    """Ask for the PDF of the report the filters describe."""

    class Meta:
        csrf = True


class RetryForm(ActionForm):
    """Queue a failed report job again."""


def _choices(form: ReportFilters) -> None:
    currencies = db.session.scalars(select(Fund.currency).distinct().order_by(Fund.currency))
    form.currency.choices = [SelectChoice("", "Choose")] + [
        SelectChoice(code, code) for code in currencies
    ]
    funds = db.session.execute(select(Fund.id, Fund.name).order_by(Fund.name)).all()
    form.fund.choices = [SelectChoice("", "All funds of the currency")] + [
        SelectChoice(str(fund_id), name) for fund_id, name in funds
    ]


def _parameters(form: ReportFilters) -> ReportParameters:
    cutoff = form.cutoff.data
    start, end = form.start.data, form.end.data
    return report_parameters(
        db.session(),
        currency=form.currency.data or None,
        fund_id=form.fund.data,
        year=form.year.data,
        start=start,
        end=end,
        cutoff=(
            wall_clock_moment(cutoff, user_time_zone(), field="cutoff", locale=user_locale())
            if cutoff
            else None
        ),
        privacy=form.privacy.data or Privacy.FINANCE.value,
        now=clock.now(),
    )


def _query(parameters: ReportParameters) -> dict[str, str]:
    """The query string that describes ``parameters`` again."""
    query = {"currency": parameters.currency, "privacy": parameters.privacy.value}
    if parameters.fund_id is not None:
        query["fund"] = str(parameters.fund_id)
    query["start"], query["end"] = parameters.start.isoformat(), parameters.end.isoformat()
    if parameters.cutoff is not None:
        local = parameters.cutoff.astimezone(zone(user_time_zone()))
        query["cutoff"] = local.strftime("%Y-%m-%dT%H:%M:%S")
    return query


def _filters_from_args() -> ReportFilters:
    form = ReportFilters(formdata=request.args if request.args else None)
    _choices(form)
    return form


@bp.route("/reports")
@roles_required(Role.FINANCE)
def reports() -> ResponseReturnValue:
    """The report form and, once filled in, the report's figures and its downloads."""
    form = _filters_from_args()
    if not any(request.args.get(name) for name in FIELDS):
        form.year.data = form.year.data or clock.today().year
        return render_template("reports/index.html", form=form, prepared=None)
    if not form.validate():
        return render_template("reports/index.html", form=form, prepared=None), 422
    prepared = read(lambda: prepare(db.session(), _parameters(form)))
    if isinstance(prepared, DomainError):
        status = show_refusal(form, prepared)
        return render_template("reports/index.html", form=form, prepared=None), status
    return _preview(form, prepared)


def _preview(form: ReportFilters, prepared: PreparedReport) -> ResponseReturnValue:
    currency = prepared.parameters.currency
    request_form = ReportRequest(formdata=None)
    query = _query(prepared.parameters)
    return render_template(
        "reports/index.html",
        form=form,
        prepared=prepared,
        tables=[
            formatted_table(table, currency, locale=user_locale())
            for table in report_tables(prepared.data)
        ],
        request_form=request_form,
        query=query,
        locale=user_locale(),
        background=prepared.data.detail_rows > current_app.config["REPORT_BACKGROUND_ROWS"],
        cached=report_cache().has(prepared.key),
    )


@bp.route("/reports/pdf", methods=["POST"])
@roles_required(Role.FINANCE)
def report_pdf_download() -> ResponseReturnValue:
    """The PDF: sent at once when cached or small, else made by the worker."""
    form = ReportRequest()
    _choices(form)
    if not form.validate_on_submit():
        return render_template("reports/index.html", form=form, prepared=None), 422
    outcome = read(
        lambda: request_pdf(
            db.session(),
            _parameters(form),
            now=clock.now(),
            background_rows=current_app.config["REPORT_BACKGROUND_ROWS"],
        )
    )
    if isinstance(outcome, DomainError):
        status = show_refusal(form, outcome)
        return render_template("reports/index.html", form=form, prepared=None), status
    if outcome.job is not None:
        return redirect(url_for("finance.report_job", key=outcome.job.key), 303)
    assert outcome.pdf is not None
    return _pdf_response(outcome.pdf, outcome.prepared.file_name)


def _pdf_response(pdf: bytes, file_name: str) -> Response:
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{file_name}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/reports/csv")
@roles_required(Role.FINANCE)
def report_csv_download() -> ResponseReturnValue:
    """One table of the report (``table``), or all of them (the PDF's attachment), as CSV."""
    form = _filters_from_args()
    name = request.args.get("table", "all")
    if name != "all" and name not in TABLE_NAMES:
        abort(404)
    if not form.validate():
        return render_template("reports/index.html", form=form, prepared=None), 422
    prepared = read(lambda: prepare(db.session(), _parameters(form)))
    if isinstance(prepared, DomainError):
        status = show_refusal(form, prepared)
        return render_template("reports/index.html", form=form, prepared=None), status
    if name == "all":
        text, file_name = prepared.csv(), prepared.file_name.replace(".pdf", ".csv")
    else:
        table = find_table(prepared.data, name)
        if table is None:
            abort(404)
        text = table_csv(prepared.data, table)
        file_name = prepared.file_name.replace(".pdf", f"-{name}.csv")
    return Response(
        text.encode(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{file_name}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/reports/jobs/<key>")
@roles_required(Role.FINANCE)
def report_job(key: str) -> ResponseReturnValue:
    """A report being made: its progress, then its download link, or why it failed."""
    job = job_store().get(key) if valid_key(key) else None
    if job is None:
        abort(404)
    parameters = ReportParameters.from_canonical(job.parameters)
    if _cleared(job):
        job.state, job.error = JobState.FAILED, CLEARED
    if job.lost:
        job.state, job.error = JobState.FAILED, LOST
    if job.state is JobState.FAILED:
        return render_template(
            "reports/failed.html",
            job=job,
            parameters=parameters,
            form=RetryForm(),
            locale=user_locale(),
        )
    ready = job.state is JobState.DONE
    page = render_template(
        "reports/progress.html",
        job=job,
        parameters=parameters,
        ready=ready,
        locale=user_locale(),
    )
    return page, 200, ({} if ready else {"Refresh": str(PROGRESS_REFRESH_SECONDS)})


def _cleared(job: Job) -> bool:
    """Whether ``job`` is done but the report it made is no longer stored."""
    if job.state is not JobState.DONE:
        return False
    return not job.result_key or not report_cache().has(job.result_key)


@bp.route("/reports/jobs/<key>/retry", methods=["POST"])
@roles_required(Role.FINANCE)
def retry_report_job(key: str) -> ResponseReturnValue:
    """Queue a failed or lost job (or one whose report has been cleared) again, with the
    parameters it was asked for. The request's own transaction, which wrote nothing, ends
    first: the job's record is written in a transaction of its own."""
    job = job_store().get(key) if valid_key(key) else None
    if job is None:
        abort(404)
    form = RetryForm()
    if not form.validate_on_submit():
        abort(400)
    if job.state is JobState.FAILED or _cleared(job) or job.lost:
        db.session.rollback()
        enqueue_report(Job(key=job.key, parameters=job.parameters))
    return redirect(url_for("finance.report_job", key=key), 303)


@bp.route("/reports/jobs/<key>/pdf")
@roles_required(Role.FINANCE)
def report_job_pdf(key: str) -> ResponseReturnValue:
    """The PDF a job made, from the cache."""
    job = job_store().get(key) if valid_key(key) else None
    if job is None or job.state is not JobState.DONE or not job.result_key:
        abort(404)
    pdf = report_cache().get(job.result_key)
    if pdf is None:
        abort(404)
    return _pdf_response(pdf, job.file_name or f"allocation-{key[:8]}.pdf")
