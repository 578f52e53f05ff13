"""Finance: tranches due, and recording a tranche as paid."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from grants.domain.paging import paginate
from grants.domain.progress import release_refusal
from grants.domain.providers import providers_waiting
from grants.domain.tranches import pay_tranche
from grants.extensions import db
from grants.models import Fund, Grant, GrantStatus, Redemption, RedemptionState, Role, Tranche
from grants.web import roles_required
from grants.web.actions import submit
from grants.web.finance.blueprint import bp
from grants.web.finance.forms import PaymentForm
from grants.web.finance.statements import reconciliation_overview
from grants.web.hooks import local_today, user_locale
from grants.web.listing import requested_page

PAYABLE = (GrantStatus.APPROVED, GrantStatus.ACTIVE)


@bp.route("/")
@roles_required(Role.FINANCE)
def dashboard() -> ResponseReturnValue:
    """Unpaid tranches of approved and active grants, earliest due first, how many therapy
    payouts wait for a decision or for payment, how many providers wait for finance (to be
    verified, or a bank change confirmed), the statement lines to look into and the payments
    no statement has settled in time, and the funds."""
    due = paginate(
        db.session(),
        select(Tranche)
        .join(Grant, Grant.id == Tranche.grant_id)
        .options(joinedload(Tranche.grant).joinedload(Grant.partner))
        .where(Grant.status.in_(PAYABLE), Tranche.paid_on.is_(None))
        .order_by(Tranche.due_date, Tranche.id),
        requested_page(request),
    )
    today = local_today()
    funds = db.session.scalars(select(Fund).order_by(Fund.plan_year_start.desc(), Fund.name)).all()
    waiting = dict(
        db.session.execute(
            select(Redemption.state, func.count())
            .where(Redemption.state.in_((RedemptionState.REQUESTED, RedemptionState.APPROVED)))
            .group_by(Redemption.state)
        ).all()
    )
    return render_template(
        "dashboards/finance.html",
        due=due,
        funds=funds,
        today=today,
        requested=waiting.get(RedemptionState.REQUESTED, 0),
        approved=waiting.get(RedemptionState.APPROVED, 0),
        providers_waiting=providers_waiting(db.session()),
        **reconciliation_overview(today),
    )


@bp.route("/tranches/<int:tranche_id>/pay", methods=["GET", "POST"])
@roles_required(Role.FINANCE)
def pay(tranche_id: int) -> ResponseReturnValue:
    """Record that a tranche was paid, with the bank's reference."""
    tranche = db.session.get(Tranche, tranche_id) or abort(404)
    today = local_today()
    form = PaymentForm(paid_on=today)
    outcome = submit(
        form,
        lambda: pay_tranche(
            db.session(),
            key=form.key.data,
            actor=current_user,
            tranche_id=tranche_id,
            payment_reference=form.payment_reference.data,
            paid_on=form.paid_on.data,
            today=today,
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        if outcome.result.replayed:
            flash("This payment was already recorded.", "success")
        else:
            flash("The tranche was recorded as paid.", "success")
        return redirect(url_for("finance.dashboard"))
    waiting = None
    if tranche.paid_on is None:
        waiting = release_refusal(db.session(), tranche, user_locale())
    return render_template(
        "finance/pay.html", form=form, tranche=tranche, waiting=waiting
    ), outcome.status
