"""Grants: the list, drafting and editing, the decisions, and reports received."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, or_, select
from wtforms.fields.choices import SelectChoice

from grants import clock
from grants.domain import grants as awards
from grants.domain import tranches
from grants.domain.checks import MANAGERS
from grants.domain.errors import DomainError, InvalidInput
from grants.domain.grants import GrantDraft
from grants.domain.money import plain_amount
from grants.domain.paging import paginate
from grants.extensions import db
from grants.models import (
    AuditEvent,
    Fund,
    FundKind,
    Grant,
    GrantCategory,
    GrantStatus,
    Partner,
    ReportingRequirement,
    User,
)
from grants.web import roles_required
from grants.web.actions import ConfirmForm, attempt, confirm, refusal_status, submit
from grants.web.hooks import user_locale
from grants.web.listing import (
    like_pattern,
    order_by,
    requested_page,
    requested_sort,
    whole_number,
)
from grants.web.manager.blueprint import bp
from grants.web.manager.forms import GrantForm, ReasonForm, typed_reports, typed_tranches
from grants.web.manager.round_forms import ReleaseForm

SORTABLE = {
    "created": Grant.created_at,
    "amount": Grant.amount,
    "partner": func.lower(Partner.display_name),
    "status": Grant.status,
}
DECISIONS = {
    "submit": (awards.submit_grant, "The grant was submitted for approval."),
    "approve": (awards.approve_grant, "The grant was approved and its amount reserved."),
    "close": (tranches.close_grant, "The grant was closed."),
}
DECISIONS_WITH_REASON = {
    "reject": (awards.reject_grant, "The grant was rejected."),
    "cancel": (
        awards.cancel_grant,
        "The grant was cancelled; what was not paid is back in the fund.",
    ),
}


@bp.route("/grants")
@roles_required(*MANAGERS)
def grants() -> ResponseReturnValue:
    """Grants matching the search and filters, a page at a time."""
    query = select(Grant).join(Partner, Partner.id == Grant.partner_id)
    search = request.args.get("q", "").strip()[:100]
    if search:
        pattern = like_pattern(search)
        query = query.where(
            or_(
                func.lower(Grant.purpose).like(pattern, escape="\\"),
                func.lower(Partner.display_name).like(pattern, escape="\\"),
            )
        )
    filters = {
        "status": request.args.get("status", ""),
        "category": request.args.get("category", ""),
        "fund": request.args.get("fund", ""),
        "partner": request.args.get("partner", ""),
    }
    if filters["status"] in {s.value for s in GrantStatus}:
        query = query.where(Grant.status == GrantStatus(filters["status"]))
    if filters["category"] in {c.value for c in GrantCategory}:
        query = query.where(Grant.category == GrantCategory(filters["category"]))
    if (fund_id := whole_number(filters["fund"])) is not None:
        query = query.where(Grant.fund_id == fund_id)
    if (partner_id := whole_number(filters["partner"])) is not None:
        query = query.where(Grant.partner_id == partner_id)
    sort = requested_sort(request, SORTABLE, "-created")
    page = paginate(
        db.session(), order_by(query, sort, SORTABLE, Grant.id), requested_page(request)
    )
    return render_template(
        "manager/grants.html",
        page=page,
        sort=sort,
        search=search,
        filters=filters,
        funds=_grant_funds(open_only=False),
        partners=db.session.scalars(select(Partner).order_by(Partner.display_name)).all(),
        statuses=list(GrantStatus),
        categories=list(GrantCategory),
    )


@bp.route("/grants/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_grant() -> ResponseReturnValue:
    """Draft a grant."""
    form = _grant_form()
    outcome = submit(
        form,
        lambda: awards.create_grant(
            db.session(), key=form.key.data, actor=current_user, draft=_draft(form)
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        flash("The grant was saved as a draft.", "success")
        return redirect(url_for("manager.grant", grant_id=outcome.result.object_id))
    return render_template("manager/grant_form.html", form=form, grant=None), outcome.status


@bp.route("/grants/<int:grant_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def edit_grant(grant_id: int) -> ResponseReturnValue:
    """Change a draft."""
    found = db.session.get(Grant, grant_id) or abort(404)
    form = _grant_form(found if request.method == "GET" else None)
    outcome = submit(
        form,
        lambda: awards.update_grant(
            db.session(),
            key=form.key.data,
            actor=current_user,
            grant_id=found.id,
            draft=_draft(form),
        ),
    )
    if outcome.done:
        flash("The draft was saved.", "success")
        return redirect(url_for("manager.grant", grant_id=found.id))
    return render_template("manager/grant_form.html", form=form, grant=found), outcome.status


@bp.route("/grants/<int:grant_id>")
@roles_required(*MANAGERS)
def grant(grant_id: int) -> ResponseReturnValue:
    """A grant: its amounts, tranches, reporting dates, decisions and history."""
    found = db.session.get(Grant, grant_id) or abort(404)
    return _show_grant(found)


NOT_SUBMITTED = "The draft was not submitted for approval."
"""A submission refused for its schedule: the draft's page says what is wrong with it."""


@bp.route("/grants/<int:grant_id>/<any(submit, approve, close):decision>", methods=["POST"])
@roles_required(*MANAGERS)
def decide(grant_id: int, decision: str) -> ResponseReturnValue:
    """Submit, approve or close a grant.

    A refused submission is shown on the grant's own page, by a redirect to it, since the
    draft is corrected from there; other refusals are answered with their status."""
    found = db.session.get(Grant, grant_id) or abort(404)
    operation, done = DECISIONS[decision]
    outcome = confirm(
        lambda key: operation(
            db.session(), key=key, actor=current_user, grant_id=found.id, now=clock.now()
        )
    )
    if isinstance(outcome, DomainError):
        status = refusal_status(outcome)
        if decision == "submit" and status in (409, 422):
            schedule = isinstance(outcome, InvalidInput) and outcome.field == "tranches"
            flash(NOT_SUBMITTED if schedule else outcome.message, "error")
            return redirect(url_for("manager.grant", grant_id=found.id), 303)
        return _show_grant(found, refusal=outcome.message), status
    flash(done, "success")
    return redirect(url_for("manager.grant", grant_id=found.id))


@bp.route("/grants/<int:grant_id>/<any(reject, cancel):decision>", methods=["POST"])
@roles_required(*MANAGERS)
def decide_with_reason(grant_id: int, decision: str) -> ResponseReturnValue:
    """Reject or cancel a grant, with a reason."""
    found = db.session.get(Grant, grant_id) or abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _show_grant(found, refusal="Give a reason of up to 500 characters."), 422
    operation, done = DECISIONS_WITH_REASON[decision]
    outcome = attempt(
        lambda: operation(
            db.session(),
            key=form.key.data,
            actor=current_user,
            grant_id=found.id,
            reason=form.reason.data,
            now=clock.now(),
        )
    )
    if isinstance(outcome, DomainError):
        return _show_grant(found, refusal=outcome.message), refusal_status(outcome)
    flash(done, "success")
    return redirect(url_for("manager.grant", grant_id=found.id))


@bp.route("/reports/<int:report_id>/received", methods=["POST"])
@roles_required(*MANAGERS)
def report_received(report_id: int) -> ResponseReturnValue:
    """Record that a partner delivered a report."""
    report = db.session.get(ReportingRequirement, report_id) or abort(404)
    outcome = confirm(
        lambda key: tranches.mark_report_received(
            db.session(), key=key, actor=current_user, report_id=report.id, now=clock.now()
        )
    )
    if isinstance(outcome, DomainError):
        return _show_grant(report.grant, refusal=outcome.message), refusal_status(outcome)
    flash(f"{report.title} was marked received.", "success")
    return redirect(url_for("manager.grant", grant_id=report.grant_id))


def _show_grant(found: Grant, refusal: str | None = None) -> str:
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "grant", AuditEvent.object_id == found.id)
        .order_by(AuditEvent.seq)
    ).all()
    actors = {event.actor_id for event in history if event.actor_id is not None}
    people: dict[int, str] = dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(actors))).all()
    )
    paid = sum(t.amount for t in found.tranches if t.paid_on is not None)
    return render_template(
        "manager/grant.html",
        grant=found,
        paid=paid,
        mismatch=_schedule_mismatch(found),
        history=history,
        people=people,
        refusal=refusal,
        confirm=ConfirmForm(),
        release_form=ReleaseForm(formdata=None),
        reject_form=ReasonForm(),
        cancel_form=ReasonForm(),
        may_decide=found.status is GrantStatus.SUBMITTED
        and current_user.id not in awards.grant_authors(db.session(), found.id),
    )


def _schedule_mismatch(found: Grant) -> str | None:
    """For a draft, what its submission would be refused for, so that the draft's page says
    so as soon as it is saved."""
    if found.status is not GrantStatus.DRAFT:
        return None
    return awards.schedule_mismatch(found, user_locale())


def _grant_funds(*, open_only: bool) -> list[Fund]:
    query = select(Fund).where(Fund.kind == FundKind.GRANTS)
    if open_only:
        query = query.where(Fund.closed_at.is_(None))
    return list(db.session.scalars(query.order_by(Fund.plan_year_start.desc(), Fund.name)))


def _grant_form(grant: Grant | None = None) -> GrantForm:
    """The grant form with its choices, filled from ``grant`` when given."""
    form = GrantForm(obj=grant) if grant is not None else GrantForm()
    form.fund_id.choices = [SelectChoice(str(f.id), f.label) for f in _grant_funds(open_only=True)]
    partners = db.session.scalars(
        select(Partner)
        .where(or_(Partner.active, Partner.id == (grant.partner_id if grant else 0)))
        .order_by(Partner.display_name)
    ).all()
    form.partner_id.choices = [SelectChoice(str(p.id), p.display_name) for p in partners]
    if grant is not None:
        form.category.data = grant.category.value
        form.amount.data = plain_amount(grant.amount, grant.currency)
        for row, tranche in zip(form.tranches, grant.tranches, strict=False):
            row.due_date.data = tranche.due_date
            row.amount.data = plain_amount(tranche.amount, grant.currency)
        for row, report in zip(form.reports, grant.reports, strict=False):
            row.title.data = report.title
            row.due_date.data = report.due_date
    return form


def _draft(form: GrantForm) -> GrantDraft:
    """The typed draft from the form, refusing half-filled schedule lines; the domain reads
    the amounts in the fund's currency and the manager's locale."""
    return GrantDraft(
        fund_id=form.fund_id.data,
        partner_id=form.partner_id.data,
        purpose=form.purpose.data or "",
        category=form.category.data or "",
        amount=form.amount.data or "",
        tranches=typed_tranches(form.tranches),
        reports=typed_reports(form.reports),
        locale=user_locale(),
    )
