"""Therapy allowances: credit for one ambassador, credit for a cohort after a preview of who
it reaches and what it costs, and credit use per programme and country.

Managers see no individual redemption or gift here: only the aggregate, with small cells
suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from grants.domain import credit_use as usage
from grants.domain.allowances import (
    COUNTRY_CURRENCY,
    CohortPreview,
    allocate_allowance,
    allocate_cohort,
    preview_cohort,
)
from grants.domain.ambassadors import (
    SHOWN,
    AmbassadorSearch,
    FoundAmbassador,
    allowance_recipient,
    find_ambassador,
    find_ambassadors,
    search_text,
)
from grants.domain.checks import MANAGERS
from grants.domain.errors import DomainError, InvalidInput
from grants.domain.idempotency import Receipt
from grants.domain.ledger import fund_balances
from grants.extensions import db
from grants.models import Country, Fund, FundKind, Programme
from grants.web import roles_required
from grants.web.actions import attempt, new_key, read, refusal_status, show_refusal, submit
from grants.web.hooks import money, user_locale
from grants.web.listing import whole_number
from grants.web.manager.blueprint import bp
from grants.web.manager.forms import (
    AllowanceForm,
    CohortAllocationForm,
    CohortCriteria,
    paying,
)

FIELDS = {"fund": "fund_id", "ambassador": "ambassador_id"}
"""The form's names for the fields the domain names differently."""


@bp.route("/allowances/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_allowance() -> ResponseReturnValue:
    """Find an ambassador by name or email (``q``), choose one (``ambassador``), and
    allocate therapy credit to them."""
    search = search_text(request.args.get("q", ""))
    if request.method == "GET":
        if "ambassador" not in request.args:
            return _search_page(find_ambassadors(db.session(), actor=current_user, text=search))
        chosen = read(
            lambda: allowance_recipient(
                db.session(),
                actor=current_user,
                ambassador_id=whole_number(request.args["ambassador"]),
            )
        )
        if isinstance(chosen, DomainError):
            found = find_ambassadors(db.session(), actor=current_user, text=search)
            refused = _search_page(found, refusal=chosen.message)
            return refused, refusal_status(chosen)
        form = _allowance_form(chosen)
        return render_template(
            "manager/allowance_form.html", form=form, ambassador=chosen, search=search
        )
    form = AllowanceForm()
    named = form.ambassador_id.data if isinstance(form.ambassador_id.data, int) else None
    ambassador = (
        find_ambassador(db.session(), actor=current_user, ambassador_id=named)
        if named is not None
        else None
    )
    form = _allowance_form(ambassador, form)
    outcome = submit(
        form,
        lambda: allocate_allowance(
            db.session(),
            key=form.key.data,
            actor=current_user,
            fund_id=_fund_id(form.fund_id.data),
            ambassador_id=form.ambassador_id.data,
            amount=form.amount.data,
            locale=user_locale(),
        ),
        fields=FIELDS,
    )
    if outcome.done:
        assert outcome.result is not None
        if outcome.result.replayed:
            flash("This allowance was already allocated; nothing more was.", "success")
        else:
            fund, amount = _allocated(form.fund_id.data, outcome.result)
            name = ambassador.name if ambassador else "the ambassador"
            flash(f"{amount} was allocated to {name} from {fund.name}.", "success")
        return redirect(url_for("manager.new_allowance"))
    page = render_template(
        "manager/allowance_form.html", form=form, ambassador=ambassador, search=search
    )
    return page, outcome.status


@bp.route("/allowances/cohort", methods=["GET"])
@roles_required(*MANAGERS)
def cohort_allowance() -> ResponseReturnValue:
    """Choose a cohort and an amount; with them in the query string, preview the allocation
    (writing nothing) and offer its confirmation."""
    criteria = _criteria(request.args if request.args else None)
    if not request.args:
        return render_template("manager/allowance_cohort.html", criteria=criteria)
    if not criteria.validate():
        return render_template("manager/allowance_cohort.html", criteria=criteria), 422
    values = {
        "fund_id": str(criteria.fund_id.data),
        "programme": criteria.programme.data or "",
        "country": criteria.country.data or "",
        "amount": criteria.amount.data or "",
    }
    outcome = read(lambda: _preview(values))
    if isinstance(outcome, DomainError):
        status = show_refusal(criteria, outcome, FIELDS)
        return render_template("manager/allowance_cohort.html", criteria=criteria), status
    preview, fund = outcome
    confirm = CohortAllocationForm(formdata=None, cohort=preview.cohort, **values)
    return _cohort_page(criteria, confirm, preview, fund)


@bp.route("/allowances/cohort", methods=["POST"])
@roles_required(*MANAGERS)
def allocate_to_cohort() -> ResponseReturnValue:
    """Allocate the previewed amount to every current ambassador of the cohort, or to none."""
    form = CohortAllocationForm()
    values = {name: (getattr(form, name).data or "") for name in CohortAllocationForm.CRITERIA}
    criteria = _criteria(None, values)
    if not form.validate_on_submit():
        form.form_errors.append("This confirmation is incomplete; preview the allocation again.")
        return _cohort_page(criteria, form, None, None), 422
    receipt = attempt(
        lambda: allocate_cohort(
            db.session(),
            key=form.key.data,
            actor=current_user,
            fund_id=_fund_id(form.fund_id.data),
            amount=form.amount.data,
            locale=user_locale(),
            programme=form.programme.data or None,
            country=_country(form.country.data),
            previewed=form.cohort.data,
        )
    )
    if isinstance(receipt, DomainError):
        status = show_refusal(criteria, receipt, FIELDS)
        form.key.data = new_key()
        preview, fund_shown = _preview_or_none(values)
        if preview is not None:
            form.cohort.data = preview.cohort
        return _cohort_page(criteria, form, preview, fund_shown), status
    if receipt.replayed:
        flash("This allocation was already made; nothing more was allocated.", "success")
    else:
        fund, each = _allocated(form.fund_id.data, receipt)
        people = receipt.object_id or 0
        total = money((receipt.amount or 0) * people, fund.currency)
        noun = "ambassador" if people == 1 else "ambassadors"
        flash(
            f"{each} was allocated to each of {people} {noun} from {fund.name}: {total} in all.",
            "success",
        )
    return redirect(url_for("manager.cohort_allowance"))


@bp.route("/credit-use")
@roles_required(*MANAGERS)
def credit_use() -> ResponseReturnValue:
    """Allocated, gifted, redeemed and outstanding credit per programme and country."""
    funds = _therapy_funds(open_only=False)
    chosen = request.args.get("fund", "")
    fund_id = whole_number(chosen)
    return render_template(
        "manager/credit_use.html",
        cells=usage.credit_use(db.session(), fund_id=fund_id),
        funds=funds,
        fund_id=fund_id,
    )


# --- helpers -------------------------------------------------------------------------------


def _therapy_funds(*, open_only: bool) -> list[Fund]:
    query = select(Fund).where(Fund.kind == FundKind.THERAPY)
    if open_only:
        query = query.where(Fund.closed_at.is_(None))
    return list(db.session.scalars(query.order_by(Fund.plan_year_start.desc(), Fund.name)))


def _fund_choices(funds: list[Fund]) -> dict[str, list[SelectChoice]]:
    """The funds grouped by the country whose ambassadors they pay, such as "United States
    (USD)"; a fund in a currency no country is paid in stands under its currency code."""
    groups: dict[str, list[SelectChoice]] = {paying(country): [] for country in COUNTRY_CURRENCY}
    countries = {currency: country for country, currency in COUNTRY_CURRENCY.items()}
    for fund in funds:
        country = countries.get(fund.currency)
        group = paying(country) if country is not None else fund.currency
        groups.setdefault(group, []).append(SelectChoice(str(fund.id), fund.label))
    return {label: choices for label, choices in groups.items() if choices}


def _search_page(search: AmbassadorSearch, refusal: str | None = None) -> str:
    return render_template(
        "manager/allowance_search.html", search=search, shown=SHOWN, refusal=refusal
    )


def _allowance_form(
    ambassador: FoundAmbassador | None, form: AllowanceForm | None = None
) -> AllowanceForm:
    """The form with the open therapy funds, for the chosen ambassador (``None``: the id
    sent names nobody). A form being shown has the ambassador and a fund that pays them
    chosen, so that it succeeds as it is shown."""
    if form is None:
        form = AllowanceForm()
    funds = _therapy_funds(open_only=True)
    form.fund_id.choices = _fund_choices(funds)
    form.fund_currencies = {f.id: f.currency for f in funds}
    form.ambassador_country = ambassador.country if ambassador else None
    if request.method == "GET" and ambassador is not None:
        form.ambassador_id.data = ambassador.id
        currency = COUNTRY_CURRENCY[ambassador.country]
        form.fund_id.data = next((f.id for f in funds if f.currency == currency), None)
    return form


def _criteria(
    formdata: Mapping[str, str] | None, data: Mapping[str, str] | None = None
) -> CohortCriteria:
    criteria = CohortCriteria(formdata, data=dict(data) if data else None)
    criteria.fund_id.choices = _fund_choices(_therapy_funds(open_only=True))
    programmes = db.session.scalars(
        select(Programme.code).where(Programme.active).order_by(Programme.code)
    ).all()
    criteria.programme.choices = [
        SelectChoice("", "Every programme"),
        *(SelectChoice(code, code) for code in programmes),
    ]
    return criteria


def _fund_id(value: object) -> int:
    """The id of the fund a form names; the operation checks that it is one to allocate
    from."""
    fund_id = whole_number(str(value or ""))
    if fund_id is None:
        raise InvalidInput("Choose a therapy fund.", field="fund_id")
    return fund_id


def _allocated(fund_value: object, receipt: Receipt) -> tuple[Fund, str]:
    """After an allocation has committed, the fund it came from (its name is in the
    confirmation) and, formatted, the amount each ambassador received, from the receipt."""
    fund = db.session.get(Fund, _fund_id(fund_value))
    assert fund is not None
    return fund, money(receipt.amount or 0, receipt.currency or fund.currency)


def _country(value: str | None) -> Country | None:
    if not value:
        return None
    try:
        return Country(value)
    except ValueError:
        raise InvalidInput("Choose a country.", field="country") from None


def _preview(values: Mapping[str, str]) -> tuple[CohortPreview, Fund]:
    """Who the criteria reach and what it costs, and the fund it would come from (the
    page shows its name and what remains of it)."""
    fund_id = _fund_id(values["fund_id"])
    preview = preview_cohort(
        db.session(),
        fund_id=fund_id,
        amount=values["amount"],
        locale=user_locale(),
        programme=values["programme"] or None,
        country=_country(values["country"]),
    )
    fund = db.session.get(Fund, fund_id)
    assert fund is not None
    return preview, fund


def _preview_or_none(values: Mapping[str, str]) -> tuple[CohortPreview | None, Fund | None]:
    outcome = read(lambda: _preview(values))
    return (None, None) if isinstance(outcome, DomainError) else outcome


def _cohort_page(
    criteria: CohortCriteria,
    confirm: CohortAllocationForm,
    preview: CohortPreview | None,
    fund: Fund | None,
) -> str:
    return render_template(
        "manager/allowance_cohort.html",
        criteria=criteria,
        confirm=confirm,
        preview=preview,
        fund=fund,
        remaining=fund_balances(db.session(), fund.id).remaining if fund else None,
        programme=confirm.programme.data,
        country=_country_or_none(confirm.country.data),
    )


def _country_or_none(value: str | None) -> Country | None:
    try:
        return _country(value)
    except InvalidInput:
        return None
