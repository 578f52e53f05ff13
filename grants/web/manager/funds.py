"""Funds: open one with its budget, see where its money is, raise or lower its budget."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from grants.domain.checks import MANAGERS
from grants.domain.funds import change_budget, create_fund, lower_budget
from grants.domain.ledger import fund_balances
from grants.domain.paging import paginate
from grants.extensions import db
from grants.models import Fund, Grant
from grants.web import roles_required
from grants.web.actions import submit
from grants.web.hooks import user_locale
from grants.web.listing import requested_page
from grants.web.manager.blueprint import bp
from grants.web.manager.forms import BudgetForm, FundForm


@bp.route("/funds/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_fund() -> ResponseReturnValue:
    """Open a fund for a plan year, with its budget."""
    form = FundForm()
    outcome = submit(
        form,
        lambda: create_fund(
            db.session(),
            key=form.key.data,
            actor=current_user,
            name=form.name.data,
            kind=form.kind.data,
            start=form.plan_year_start.data,
            end=form.plan_year_end.data,
            budget=form.budget.data,
            currency=form.currency.data,
            time_zone=form.time_zone.data or None,
            locale=user_locale(),
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        flash(f"{form.name.data.strip()} is open.", "success")
        return redirect(url_for("manager.fund", fund_id=outcome.result.object_id))
    return render_template("manager/fund_form.html", form=form), outcome.status


@bp.route("/funds/<int:fund_id>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def fund(fund_id: int) -> ResponseReturnValue:
    """A fund's balances and grants, and the form that changes its budget."""
    found = db.session.get(Fund, fund_id) or abort(404)
    form = BudgetForm()
    operation = lower_budget if form.direction.data == "lower" else change_budget
    outcome = submit(
        form,
        lambda: operation(
            db.session(),
            key=form.key.data,
            actor=current_user,
            fund_id=fund_id,
            amount=form.amount.data,
            reason=form.reason.data,
            locale=user_locale(),
        ),
    )
    if outcome.done:
        flash("The budget was changed.", "success")
        return redirect(url_for("manager.fund", fund_id=fund_id))
    awarded = paginate(
        db.session(),
        select(Grant)
        .options(joinedload(Grant.partner))
        .where(Grant.fund_id == found.id)
        .order_by(Grant.created_at.desc(), Grant.id.desc()),
        requested_page(request),
    )
    return render_template(
        "manager/fund.html",
        fund=found,
        balances=fund_balances(db.session(), found.id),
        grants=awarded,
        form=form,
    ), outcome.status
