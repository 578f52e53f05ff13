"""Funding rounds: the list, opening and editing a round, and its scoring sheet."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache

from babel.numbers import get_decimal_symbol, get_group_symbol
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from wtforms.fields.choices import SelectChoice

from grants import clock
from grants.domain import rounds
from grants.domain.checks import MANAGERS
from grants.domain.dates import format_moment, local, zone_name
from grants.domain.errors import InvalidInput
from grants.domain.money import plain_amount
from grants.domain.paging import paginate
from grants.domain.reviews import scoring_sheet
from grants.extensions import db
from grants.models import (
    Application,
    ApplicationState,
    Fund,
    FundingRound,
    FundKind,
    QuestionKind,
    Review,
    User,
    UserRole,
)
from grants.web import roles_required
from grants.web.actions import submit
from grants.web.hooks import user_locale
from grants.web.listing import requested_page
from grants.web.manager.blueprint import bp
from grants.web.manager.round_forms import KIND_LABELS, RoundForm

SHOWN_STATES = (
    ApplicationState.SUBMITTED,
    ApplicationState.AWARDED,
    ApplicationState.DECLINED,
    ApplicationState.WITHDRAWN,
)
"""The states counted on the list: a draft is the partner's own until it is submitted."""


@bp.route("/rounds")
@roles_required(*MANAGERS)
def funding_rounds() -> ResponseReturnValue:
    """Every funding round, latest opening first, with where it stands and its
    applications by state."""
    page = paginate(
        db.session(),
        select(FundingRound)
        .options(joinedload(FundingRound.fund))
        .order_by(FundingRound.opens_at.desc(), FundingRound.id.desc()),
        requested_page(request),
    )
    ids = [funding_round.id for funding_round in page.items]
    counts: dict[int, dict[ApplicationState, int]] = {round_id: {} for round_id in ids}
    for round_id, state, count in db.session.execute(
        select(Application.round_id, Application.state, func.count())
        .where(
            Application.round_id.in_(ids),
            Application.state.in_(SHOWN_STATES),
            Application.submitted_at.is_not(None),
        )
        .group_by(Application.round_id, Application.state)
    ):
        counts[round_id][state] = count
    now = clock.now()
    locale = user_locale()
    return render_template(
        "manager/rounds.html",
        page=page,
        counts=counts,
        states=SHOWN_STATES,
        standing={r.id: _standing(r, now) for r in page.items},
        closing={r.id: rounds.closing_words(r, locale) for r in page.items},
    )


@bp.route("/rounds/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_round() -> ResponseReturnValue:
    """Open a funding round."""
    form = _round_form()
    outcome = submit(
        form,
        lambda: rounds.open_round(
            db.session(), key=form.key.data, actor=current_user, plan=_plan(form)
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        flash("The funding round was saved.", "success")
        return redirect(url_for("manager.funding_round", round_id=outcome.result.object_id))
    return render_template(
        "manager/round_form.html", form=form, funding_round=None, zones=_zones(form)
    ), outcome.status


@bp.route("/rounds/<int:round_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def edit_round(round_id: int) -> ResponseReturnValue:
    """Change a round; its questions only while nobody has applied."""
    found = db.session.get(FundingRound, round_id) or abort(404)
    form = _round_form(found)
    outcome = submit(
        form,
        lambda: rounds.update_round(
            db.session(),
            key=form.key.data,
            actor=current_user,
            round_id=found.id,
            plan=_plan(form),
        ),
    )
    if outcome.done:
        flash("The funding round was saved.", "success")
        return redirect(url_for("manager.funding_round", round_id=found.id))
    return render_template(
        "manager/round_form.html", form=form, funding_round=found, zones=_zones(form)
    ), outcome.status


@bp.route("/rounds/<int:round_id>")
@roles_required(*MANAGERS)
def funding_round(round_id: int) -> ResponseReturnValue:
    """A round's details and its scoring sheet."""
    found = db.session.get(FundingRound, round_id) or abort(404)
    sheet = scoring_sheet(db.session(), round_id=found.id, viewer=current_user)
    conflicted = set(
        db.session.scalars(
            select(Review.application_id)
            .join(Application, Application.id == Review.application_id)
            .where(
                Application.round_id == found.id,
                Review.reviewer_id == current_user.id,
                Review.conflicted.is_(True),
            )
        )
    )
    locale = user_locale()
    zone = found.fund.time_zone
    return render_template(
        "manager/round.html",
        funding_round=found,
        sheet=sheet,
        conflicted=conflicted,
        means={row.application_id: mean_words(row.mean, locale) for row in sheet.rows},
        opens=format_moment(found.opens_at, zone, locale),
        closes=rounds.closing_words(found, locale),
        standing=_standing(found, clock.now()),
        kinds=KIND_LABELS,
        choice=QuestionKind.CHOICE,
    )


def mean_words(mean: Fraction | None, locale: str) -> str:
    """A mean of totals to one decimal place, in ``locale``: ``11.5``; ``—`` for none."""
    if mean is None:
        return "—"
    exact = Decimal(mean.numerator) / Decimal(mean.denominator)
    rounded = exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    group, point = _number_symbols(locale)
    return f"{rounded:,.1f}".replace(",", "\0").replace(".", point).replace("\0", group)


@lru_cache(maxsize=32)
def _number_symbols(locale: str) -> tuple[str, str]:
    """``locale``'s digit-group and decimal symbols, looked up once: a sheet formats a mean
    on each of hundreds of rows."""
    return get_group_symbol(locale), get_decimal_symbol(locale)


def _standing(funding_round: FundingRound, now: datetime) -> str:
    """``upcoming``, ``open`` or ``closed`` at ``now``."""
    if now < funding_round.opens_at:
        return "upcoming"
    return "open" if now < funding_round.closes_at else "closed"


def _round_funds(funding_round: FundingRound | None) -> list[Fund]:
    """The funds a round may be on: its own (a round's fund never changes), or for a new
    round every open partner-grants fund."""
    if funding_round is not None:
        return [funding_round.fund]
    return list(
        db.session.scalars(
            select(Fund)
            .where(Fund.kind == FundKind.GRANTS, Fund.closed_at.is_(None))
            .order_by(Fund.plan_year_start.desc(), Fund.name)
        )
    )


def _zones(form: RoundForm) -> list[str]:
    """The time zones of the funds the form offers, once each, as people read them."""
    return list(dict.fromkeys(zone_name(zone) for zone in form.fund_zones.values()))


def _round_form(funding_round: FundingRound | None = None) -> RoundForm:
    """The round form with its choices, filled from ``funding_round`` for a GET."""
    form = RoundForm()
    funds = _round_funds(funding_round)
    form.fund_zones = {fund.id: fund.time_zone for fund in funds}
    form.fund_id.choices = [
        SelectChoice(str(fund.id), f"{fund.label}, {zone_name(fund.time_zone)} time")
        for fund in funds
    ]
    managers = db.session.scalars(
        select(User)
        .where(
            User.active,
            User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(MANAGERS))),
        )
        .order_by(User.display_name, User.id)
    ).all()
    form.reviewer_ids.choices = [SelectChoice(str(user.id), user.display_name) for user in managers]
    if funding_round is not None and request.method == "GET":
        _fill(form, funding_round)
    for number, row in enumerate(form.criteria, start=1):
        row.title.label.text = f"Criterion {number}"
    return form


def _fill(form: RoundForm, funding_round: FundingRound) -> None:
    """Show ``funding_round`` as it is in ``form``, its times on its fund's clocks."""
    while len(form.questions) < len(funding_round.questions):
        form.questions.append_entry()
    while len(form.criteria) < len(funding_round.criteria):
        form.criteria.append_entry()
    zone = funding_round.fund.time_zone
    form.fund_id.data = funding_round.fund_id
    form.title.data = funding_round.title
    form.categories.data = list(funding_round.categories)
    form.max_amount.data = plain_amount(funding_round.max_amount, funding_round.fund.currency)
    form.opens.data = local(funding_round.opens_at, zone).replace(tzinfo=None)
    form.closes.data = local(funding_round.closes_at, zone).replace(tzinfo=None)
    form.eligibility.data = funding_round.eligibility
    form.reviewer_ids.data = [reviewer.user_id for reviewer in funding_round.reviewers]
    for row, question in zip(form.questions, funding_round.questions, strict=False):
        row.prompt.data = question.prompt
        row.kind.data = question.kind.value
        row.choices.data = " | ".join(question.choices)
        row.required.data = question.required
    for row, criterion in zip(form.criteria, funding_round.criteria, strict=False):
        row.title.data = criterion.title


def _plan(form: RoundForm) -> rounds.RoundPlan:
    """The typed plan from the form; rows without a question or criterion are left out,
    and options given to a question without one are refused."""
    questions = []
    for number, row in enumerate(form.questions, start=1):
        prompt = (row.prompt.data or "").strip()
        options = row.options()
        if not prompt:
            if options:
                raise InvalidInput(
                    f"Question {number}: write the question its options belong to.",
                    field="questions",
                )
            continue
        kind = row.kind.data or QuestionKind.TEXT.value
        questions.append(
            rounds.Question(
                prompt=prompt,
                kind=kind,
                choices=options if kind == QuestionKind.CHOICE.value else (),
                required=bool(row.required.data),
            )
        )
    criteria = [title for row in form.criteria if (title := (row.title.data or "").strip())]
    return rounds.RoundPlan(
        fund_id=form.fund_id.data,
        title=form.title.data or "",
        categories=list(form.categories.data or []),
        max_amount=form.max_amount.data or "",
        opens=form.opens.data,
        closes=form.closes.data,
        eligibility=form.eligibility.data or "",
        questions=questions,
        criteria=criteria,
        reviewer_ids=list(form.reviewer_ids.data or []),
        locale=user_locale(),
    )
