"""An organisation's progress reports: write a version (saved as often as wanted), attach
documents, submit it; after a manager asks for changes, write the next one. Every earlier
version is shown with its decision."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from grants import clock
from grants.domain import documents, progress
from grants.domain.errors import DomainError, NotFound
from grants.domain.money import plain_amount
from grants.domain.progress import ReportContent, Spending
from grants.extensions import db
from grants.models import Document, ReportingRequirement, ReportState, ReportVersion, Role
from grants.web import roles_required
from grants.web.actions import ConfirmForm, accepted, attempt, read, show_refusal
from grants.web.documents import upload_view
from grants.web.hooks import user_locale
from grants.web.partner.blueprint import bp
from grants.web.partner.forms import ProgressForm, UploadForm
from grants.web.partner.home import organisation
from grants.web.partner.uploads import remove, upload_document


@bp.route("/reports/<int:requirement_id>", methods=["GET", "POST"])
@roles_required(Role.PARTNER)
def report(requirement_id: int) -> ResponseReturnValue:
    """The report: the version being written (a form), and every submitted one."""
    requirement = _own(requirement_id)
    writable = requirement.state in progress.WRITABLE
    current = progress.latest_version(db.session(), requirement.id)
    drafting = current if current is not None and current.submitted_at is None else None
    if not writable:
        return _show(requirement, form=None, drafting=None)
    form = ProgressForm() if request.method == "POST" else _filled(requirement, drafting)
    if request.method == "GET":
        return _show(requirement, form=form, drafting=drafting)
    if not accepted(form):
        return _show(requirement, form=form, drafting=drafting), 422
    saved = attempt(
        lambda: progress.save_version(
            db.session(),
            actor=current_user,
            requirement_id=requirement.id,
            content=_content(form),
            now=clock.now(),
        )
    )
    if isinstance(saved, DomainError):
        status = show_refusal(form, saved)
        return _show(requirement, form=form, drafting=drafting), status
    if request.form.get("action") != "submit":
        flash("The report was saved.", "success")
        return redirect(url_for("partner.report", requirement_id=requirement.id), 303)
    submitted = attempt(
        lambda: progress.submit_version(
            db.session(),
            key=form.key.data,
            actor=current_user,
            requirement_id=requirement.id,
            now=clock.now(),
        )
    )
    if isinstance(submitted, DomainError):
        flash(f"The report was saved but not submitted: {submitted.message}", "error")
    else:
        flash("The report was submitted; a manager will review it.", "success")
    return redirect(url_for("partner.report", requirement_id=requirement.id), 303)


@bp.route("/reports/<int:requirement_id>/documents", methods=["POST"])
@roles_required(Role.PARTNER)
@upload_view
def report_document(requirement_id: int) -> ResponseReturnValue:
    """Attach a document to the version being written (begun now if there is none)."""
    requirement = _own(requirement_id)
    outcome = upload_document(
        report_version=lambda: (
            progress.draft_version(
                db.session(), actor=current_user, requirement_id=requirement.id, now=clock.now()
            ).id
        )
    )
    if isinstance(outcome, DomainError):
        flash(f"The document was not attached: {outcome.message}", "error")
    else:
        flash(f"{outcome.filename} was attached.", "success")
    return redirect(url_for("partner.report", requirement_id=requirement.id) + "#documents", 303)


@bp.route("/documents/<int:document_id>/remove", methods=["POST"])
@roles_required(Role.PARTNER)
def remove_document(document_id: int) -> ResponseReturnValue:
    """Remove a document from a draft application or an unsubmitted report version."""
    organisation()
    pressed = ConfirmForm()
    if not pressed.validate_on_submit():
        abort(400)
    found = read(
        lambda: documents.readable_document(
            db.session(), actor=current_user, document_id=document_id
        )
    )
    if isinstance(found, DomainError):
        abort(404)
    back = _page_of(found)
    outcome = remove(document_id)
    if isinstance(outcome, NotFound):
        abort(404)
    if isinstance(outcome, DomainError):
        flash(outcome.message, "error")
    else:
        flash(f"{outcome} was removed.", "success")
    return redirect(back + "#documents", 303)


def _page_of(document: Document) -> str:
    if document.application_id is not None:
        return url_for("partner.application", application_id=document.application_id)
    version = db.session.get_one(ReportVersion, document.report_version_id)
    return url_for("partner.report", requirement_id=version.requirement_id)


def _own(requirement_id: int) -> ReportingRequirement:
    organisation()
    try:
        return progress.own_requirement(db.session(), current_user, requirement_id)
    except NotFound:
        abort(404)


def _filled(requirement: ReportingRequirement, drafting: ReportVersion | None) -> ProgressForm:
    """The form as the version being written holds it; for a new version, as the last one
    (or, for a first, with the budget's lines)."""
    form = ProgressForm(formdata=None)
    source = drafting or progress.latest_version(db.session(), requirement.id)
    currency = requirement.grant.currency
    if source is None:
        for row, label in zip(
            form.spending, progress.budget_labels(db.session(), requirement.grant_id), strict=False
        ):
            row.item.data = label
        return form
    form.narrative.data = source.narrative
    form.sessions_held.data = str(source.sessions_held) if source.sessions_held else ""
    for row, reach in zip(form.reach, source.reach, strict=False):
        row.country.data = reach.country
        row.people.data = str(reach.people)
    for row, line in zip(form.spending, source.spending, strict=False):
        row.item.data = line.label
        row.amount.data = plain_amount(line.amount, currency) if line.amount else ""
    return form


def _content(form: ProgressForm) -> ReportContent:
    return ReportContent(
        narrative=form.narrative.data or "",
        sessions_held=form.sessions_held.data or "",
        reach=[(row.country.data or "", row.people.data or "") for row in form.reach],
        spending=[Spending(row.item.data or "", row.amount.data or "") for row in form.spending],
        locale=user_locale(),
    )


def _show(
    requirement: ReportingRequirement,
    *,
    form: ProgressForm | None,
    drafting: ReportVersion | None,
) -> str:
    versions = db.session.scalars(
        select(ReportVersion)
        .where(
            ReportVersion.requirement_id == requirement.id,
            ReportVersion.submitted_at.is_not(None),
        )
        .order_by(ReportVersion.number.desc())
    ).all()
    version_ids = [v.id for v in versions] + ([drafting.id] if drafting else [])
    attached = db.session.scalars(
        select(Document)
        .where(Document.report_version_id.in_(version_ids or [0]))
        .order_by(Document.id)
    ).all()
    by_version: dict[int, list[Document]] = {}
    for document in attached:
        assert document.report_version_id is not None
        by_version.setdefault(document.report_version_id, []).append(document)
    return render_template(
        "partner/report.html",
        requirement=requirement,
        grant=requirement.grant,
        currency=requirement.grant.currency,
        form=form,
        drafting=drafting,
        versions=versions,
        by_version=by_version,
        upload=UploadForm(),
        remove_form=ConfirmForm(),
        ReportState=ReportState,
    )
