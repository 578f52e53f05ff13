"""Funds: open one with its budget, see where its money is, raise or lower its budget."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from grants.domain.credits import change_budget, lower_budget
from grants.domain.errors import DomainError
from grants.domain.funds import create_fund
from grants.domain.ledger import fund_balances
from grants.domain.money import parse_money
from grants.extensions import db
from grants.models import Fund, Grant, Role
from grants.web import roles_required
from grants.web.actions import show_refusal
from grants.web.hooks import user_locale
from grants.web.listing import paginate, requested_page
from grants.web.manager import bp
from grants.web.manager.forms import BudgetForm, FundForm

MANAGERS = (Role.MANAGER, Role.ADMIN)


@bp.route("/funds/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_fund() -> ResponseReturnValue:
    """Open a fund for a plan year, with its budget."""
    form = FundForm()
    status = 200
    if form.validate_on_submit():
        try:
            receipt = create_fund(
                db.session(),
                key=form.key.data,
                actor=current_user,
                name=form.name.data,
                kind=form.kind.data,
                start=form.plan_year_start.data,
                end=form.plan_year_end.data,
                budget=parse_money(form.budget.data, form.currency.data, user_locale()),
            )
        except DomainError as error:
            status = show_refusal(form, error, {"amount": "budget"})
        else:
            db.session.commit()
            flash(f"{form.name.data.strip()} is open.", "success")
            return redirect(url_for("manager.fund", fund_id=receipt.object_id))
    elif form.is_submitted():
        status = 422
    return render_template("manager/fund_form.html", form=form), status


@bp.route("/funds/<int:fund_id>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def fund(fund_id: int) -> ResponseReturnValue:
    """A fund's balances and grants, and the form that changes its budget."""
    found = db.session.get(Fund, fund_id) or abort(404)
    form = BudgetForm()
    status = 200
    if form.validate_on_submit():
        operation = lower_budget if form.direction.data == "lower" else change_budget
        try:
            operation(
                db.session(),
                key=form.key.data,
                actor=current_user,
                fund_id=found.id,
                amount=parse_money(form.amount.data, found.currency, user_locale()),
                reason=form.reason.data,
            )
        except DomainError as error:
            status = show_refusal(form, error)
        else:
            db.session.commit()
            flash("The budget was changed.", "success")
            return redirect(url_for("manager.fund", fund_id=found.id))
    elif form.is_submitted():
        status = 422
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
    ), status
