"""Progress reports as managers read them: every version a partner submitted, accepting
the latest or asking for changes; and which report a tranche waits for."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from grants import clock
from grants.domain import progress
from grants.domain.checks import MANAGERS
from grants.domain.errors import DomainError, NotFound
from grants.domain.hub_contacts import country_name
from grants.extensions import db
from grants.models import (
    Application,
    Document,
    Grant,
    ReportDecision,
    ReportingRequirement,
    ReportState,
    ReportVersion,
    Tranche,
    User,
)
from grants.web import roles_required
from grants.web.actions import Submission, attempt, refusal_status, submit
from grants.web.manager.blueprint import bp
from grants.web.manager.grants import _show_grant
from grants.web.manager.round_forms import (
    AcceptForm,
    ChangesForm,
    ReleaseForm,
    ReportDecisionForm,
)

DECISIONS = {
    "accept": (ReportDecision.ACCEPTED, "The report was accepted."),
    "changes": (
        ReportDecision.CHANGES_REQUESTED,
        "Changes were asked for; the partner is told what to change.",
    ),
}

FORMS: dict[str, type[ReportDecisionForm]] = {"accept": AcceptForm, "changes": ChangesForm}


@bp.route("/reports/<int:requirement_id>")
@roles_required(*MANAGERS)
def progress_report(requirement_id: int) -> ResponseReturnValue:
    """A grant's progress report: every version submitted, newest first, with decisions."""
    return _show(_requirement(requirement_id))


@bp.route("/reports/<int:requirement_id>/accept", methods=["POST"])
@roles_required(*MANAGERS)
def accept_report(requirement_id: int) -> ResponseReturnValue:
    """Accept the submitted version."""
    return _decide(requirement_id, "accept")


@bp.route("/reports/<int:requirement_id>/changes", methods=["POST"])
@roles_required(*MANAGERS)
def ask_for_changes(requirement_id: int) -> ResponseReturnValue:
    """Ask for changes to the submitted version, saying what should change."""
    return _decide(requirement_id, "changes")


def _decide(requirement_id: int, decision: str) -> ResponseReturnValue:
    """Decide the submitted version: ``accept`` or ``changes``."""
    requirement = _requirement(requirement_id)
    chosen, done = DECISIONS[decision]
    form = FORMS[decision]()
    outcome = submit(
        form,
        lambda: progress.decide_version(
            db.session(),
            key=form.key.data,
            actor=current_user,
            requirement_id=requirement.id,
            decision=chosen,
            comment=form.comment.data or "",
            now=clock.now(),
        ),
    )
    if outcome.done:
        flash(done, "success")
        return redirect(url_for("manager.progress_report", requirement_id=requirement.id))
    forms = {"accept_form": form} if decision == "accept" else {"changes_form": form}
    return _show(requirement, outcome=outcome, **forms), outcome.status


@bp.route("/tranches/<int:tranche_id>/release", methods=["POST"])
@roles_required(*MANAGERS)
def tranche_release(tranche_id: int) -> ResponseReturnValue:
    """Make an unpaid tranche wait for one of its grant's reports, or for none. A request
    that does not say which (the form always does) changes nothing."""
    tranche = db.session.get(Tranche, tranche_id) or abort(404)
    grant = tranche.grant
    form = ReleaseForm()
    if not form.release_after.raw_data:
        return redirect(url_for("manager.grant", grant_id=grant.id))
    if not form.validate_on_submit():
        return _show_grant(grant, refusal="Choose one of this grant's reports, or none."), 422
    outcome = attempt(
        lambda: progress.set_release(
            db.session(),
            actor=current_user,
            tranche_id=tranche.id,
            requirement_id=form.release_after.data,
        )
    )
    if isinstance(outcome, DomainError):
        return _show_grant(grant, refusal=outcome.message), refusal_status(outcome)
    flash("The tranche's release was saved.", "success")
    return redirect(url_for("manager.grant", grant_id=grant.id))


def _requirement(requirement_id: int) -> ReportingRequirement:
    try:
        return progress.find_requirement(db.session(), requirement_id)
    except NotFound:
        abort(404)


def _show(
    requirement: ReportingRequirement,
    *,
    accept_form: ReportDecisionForm | None = None,
    changes_form: ReportDecisionForm | None = None,
    outcome: Submission[Any] | None = None,
) -> str:
    """The report's page; a decision form given is shown as it was sent, with its errors."""
    session = db.session()
    grant = session.get_one(Grant, requirement.grant_id)
    versions = session.scalars(
        select(ReportVersion)
        .options(selectinload(ReportVersion.reach), selectinload(ReportVersion.spending))
        .where(
            ReportVersion.requirement_id == requirement.id,
            ReportVersion.submitted_at.is_not(None),
        )
        .order_by(ReportVersion.number.desc())
    ).all()
    documents: dict[int, list[Document]] = {version.id: [] for version in versions}
    for document in session.scalars(
        select(Document)
        .where(Document.report_version_id.in_(list(documents)))
        .order_by(Document.uploaded_at, Document.id)
    ):
        assert document.report_version_id is not None
        documents[document.report_version_id].append(document)
    people_ids = {
        person
        for version in versions
        for person in (version.submitted_by_id, version.decided_by_id)
        if person is not None
    }
    people = dict(
        session.execute(select(User.id, User.display_name).where(User.id.in_(people_ids))).all()
    )
    application = session.scalar(select(Application).where(Application.grant_id == grant.id))
    budget = [] if application is None else list(application.budget_lines)
    deciding = requirement.state is ReportState.SUBMITTED and bool(versions)
    refusal = None
    if outcome is not None and not deciding:
        refusal = (
            outcome.refusal.message
            if outcome.refusal is not None
            else "This report has no version waiting for review."
        )
    return render_template(
        "manager/progress_report.html",
        requirement=requirement,
        grant=grant,
        versions=versions,
        documents=documents,
        people=people,
        budget=budget,
        budget_total=sum(line.amount for line in budget),
        spending_rows={version.id: _spending_rows(version, budget) for version in versions},
        country_name=country_name,
        deciding=deciding,
        refusal=refusal,
        accept_form=accept_form or AcceptForm(formdata=None),
        changes_form=changes_form or ChangesForm(formdata=None),
    )


def _spending_rows(version: ReportVersion, budget: list[Any]) -> list[tuple[str, int | None, int]]:
    """Each line of the budget with what the version says was spent against it, then any
    line the version adds: (label, budgeted or ``None``, spent)."""
    spent: dict[str, int] = {}
    for line in version.spending:
        spent[line.label] = spent.get(line.label, 0) + line.amount
    rows: list[tuple[str, int | None, int]] = [
        (line.label, line.amount, spent.pop(line.label, 0)) for line in budget
    ]
    rows.extend((label, None, amount) for label, amount in spent.items())
    return rows
