"""Applications: a partner's people draft, save and submit an application to a funding round.

A draft may be saved incomplete as often as wanted while the round is open; submitting asks
for everything: a purpose, one of the round's categories, an amount up to the round's most,
budget lines that add up to it exactly, proposed tranches that add up to it exactly and fall
in the fund's plan year, at least one progress report, and an answer to every required
question. From the round's closing moment on, nothing is saved or submitted, and the
refusal says when it closed. A partner sees and touches only its own organisation's
applications; anyone else's is :class:`NotFound`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.database import insert_for
from grants.domain import audit, portal_notices
from grants.domain.checks import clean_text, require_role, within
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.grants import MAX_REPORTS, MAX_TRANCHES, Instalment, ReportDue
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.money import DEFAULT_LOCALE, format_money, parse_money
from grants.domain.rounds import closing_words, find_round
from grants.models import (
    Application,
    ApplicationAnswer,
    ApplicationState,
    BudgetLine,
    Document,
    FundingRound,
    GrantCategory,
    Partner,
    ProposedReport,
    ProposedTranche,
    QuestionKind,
    Role,
    User,
)

MAX_BUDGET_LINES = 30
ANSWER_MAX = 4000
PURPOSE_MAX = 2000
NUMBER_MAX = 10**12


@dataclass(frozen=True)
class BudgetItem:
    """A budget line as typed: what it pays for and how much (text in the person's locale)."""

    label: str
    amount: str


@dataclass(frozen=True)
class ApplicationDraft:
    """What a partner types into an application. Amounts are text in ``locale``; an empty
    one is allowed in a draft. ``answers`` maps each question's id to its typed answer."""

    purpose: str = ""
    category: str = ""
    amount: str = ""
    answers: Mapping[int, str] | None = None
    budget: Sequence[BudgetItem] = ()
    tranches: Sequence[Instalment] = ()
    reports: Sequence[ReportDue] = ()
    locale: str = DEFAULT_LOCALE


def partner_of(actor: User) -> int:
    """The organisation ``actor`` applies and reports for; :class:`NotFound` for anyone who
    is not a partner's person (the page they asked for is not theirs)."""
    if not actor.has_role(Role.PARTNER) or actor.partner_id is None:
        raise NotFound("There is no such page.")
    return actor.partner_id


def own_application(
    session: Session, actor: User, application_id: int, *, lock: bool = False
) -> Application:
    """The application, if it is ``actor``'s organisation's; else :class:`NotFound`."""
    partner_id = partner_of(actor)
    query = (
        select(Application)
        .where(Application.id == application_id, Application.partner_id == partner_id)
        .execution_options(populate_existing=True)
    )
    application = session.scalar(query.with_for_update() if lock else query)
    if application is None:
        raise NotFound("There is no such application.")
    return application


def start_application(
    session: Session, *, actor: User, round_id: int, now: datetime
) -> Application:
    """The organisation's application to the round, begun now if it has none: starting twice,
    or by two of its people at once, gives the same one. A withdrawn one is a draft again."""
    require_role(actor, Role.PARTNER, doing="apply for grants")
    partner_id = partner_of(actor)
    funding_round = find_round(session, round_id)
    if funding_round.opens_at > now:
        raise NotFound("There is no such funding round.")
    existing = _application_of(session, round_id, partner_id)
    if existing is not None and existing.state is not ApplicationState.WITHDRAWN:
        return existing
    _require_open(funding_round, now, actor.locale)
    if existing is not None:
        return _reopen(session, actor, existing, now)
    partner = session.get_one(Partner, partner_id)
    if not partner.active:
        raise InvalidState(f"{partner.display_name} is deactivated and cannot apply.")
    table = Application.__table__
    created = session.execute(
        insert_for(session, table)
        .values(
            round_id=round_id,
            partner_id=partner_id,
            state=ApplicationState.DRAFT.value,
            purpose="",
            amount_asked=0,
            decision_reason="",
            created_by_id=actor.id,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["round_id", "partner_id"])
        .returning(table.c.id)
    ).scalar()
    application = _application_of(session, round_id, partner_id)
    assert application is not None, "the insert made it, or someone else's did"
    if created is not None:
        audit.record(
            session,
            actor_id=actor.id,
            action="application.start",
            object_type="application",
            object_id=application.id,
            after={"round": round_id, "partner": partner_id},
        )
    return application


def save_application(
    session: Session, *, actor: User, application_id: int, draft: ApplicationDraft, now: datetime
) -> Application:
    """Replace a draft's contents with ``draft``; it may still be incomplete."""
    require_role(actor, Role.PARTNER, doing="apply for grants")
    application = own_application(session, actor, application_id, lock=True)
    _require_draft(application)
    funding_round = application.round
    _require_open(funding_round, now, draft.locale)
    currency = funding_round.fund.currency
    application.purpose = clean_text(
        draft.purpose, field="purpose", label="the purpose", required=False, limit=PURPOSE_MAX
    )
    application.category = _category(draft.category, funding_round)
    application.amount_asked = _optional_amount(draft.amount, currency, draft.locale, "amount")
    _replace_answers(session, application, draft)
    _replace_budget(session, application, draft, currency)
    _replace_schedule(session, application, draft, currency)
    application.updated_at = now
    session.flush()
    session.expire(application)
    audit.record(
        session,
        actor_id=actor.id,
        action="application.save",
        object_type="application",
        object_id=application.id,
        after={"amount_asked": application.amount_asked},
    )
    return application


def problems(application: Application, locale: str = DEFAULT_LOCALE) -> list[str]:
    """What stops ``application`` from being submitted, in the order of its form; empty when
    it can be. Its draft page lists them, and submission refuses with the first."""
    funding_round = application.round
    currency = funding_round.fund.currency
    found = []
    if not application.purpose:
        found.append("Say what the grant would pay for.")
    if application.category is None:
        found.append("Choose what the application is for.")
    asked = application.amount_asked
    if asked <= 0:
        found.append("Enter the amount you ask for.")
    elif asked > funding_round.max_amount:
        found.append(
            f"This round gives at most {format_money(funding_round.max_amount, currency, locale)}"
            " to one application."
        )
    budgeted = sum(line.amount for line in application.budget_lines)
    if asked > 0 and budgeted != asked:
        found.append(
            f"The budget lines add up to {format_money(budgeted, currency, locale)}, not the "
            f"{format_money(asked, currency, locale)} asked."
        )
    scheduled = sum(tranche.amount for tranche in application.proposed_tranches)
    if asked > 0 and scheduled != asked:
        found.append(
            f"The proposed tranches add up to {format_money(scheduled, currency, locale)}, not "
            f"the {format_money(asked, currency, locale)} asked."
        )
    if not application.proposed_reports:
        found.append("Propose at least one progress report date.")
    answered = {answer.question_id: answer for answer in application.answers}
    for number, question in enumerate(funding_round.questions, start=1):
        answer = answered.get(question.id)
        if question.required and not _has_answer(question.kind, answer):
            found.append(f"Answer question {number}: {question.prompt}")
    return found


def submit_application(
    session: Session, *, key: str, actor: User, application_id: int, now: datetime
) -> Receipt:
    """Send a complete draft to the round's reviewers, before the round closes."""
    require_role(actor, Role.PARTNER, doing="apply for grants")

    def perform() -> Receipt:
        application = own_application(session, actor, application_id, lock=True)
        _require_draft(application)
        funding_round = application.round
        _require_open(funding_round, now, actor.locale)
        found = problems(application, actor.locale)
        if found:
            raise InvalidInput(found[0])
        application.state = ApplicationState.SUBMITTED
        application.submitted_by_id = actor.id
        application.submitted_at = now
        session.flush()
        portal_notices.application_submitted(session, application)
        audit.record(
            session,
            actor_id=actor.id,
            action="application.submit",
            object_type="application",
            object_id=application.id,
            before={"state": ApplicationState.DRAFT.value},
            after={
                "state": ApplicationState.SUBMITTED.value,
                "amount_asked": application.amount_asked,
            },
        )
        return Receipt("application.submit", object_id=application.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="application.submit",
        request={"application": application_id},
        perform=perform,
    )


def withdraw_application(
    session: Session, *, actor: User, application_id: int, now: datetime
) -> Application:
    """The partner takes back a draft or a submitted application not yet decided."""
    require_role(actor, Role.PARTNER, doing="apply for grants")
    application = own_application(session, actor, application_id, lock=True)
    before = application.state
    if before not in (ApplicationState.DRAFT, ApplicationState.SUBMITTED):
        raise InvalidState(f"This application was {before.value}; it can no longer be withdrawn.")
    application.state = ApplicationState.WITHDRAWN
    application.updated_at = now
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="application.withdraw",
        object_type="application",
        object_id=application.id,
        before={"state": before.value},
        after={"state": ApplicationState.WITHDRAWN.value},
    )
    return application


def link_answer_document(
    session: Session,
    *,
    actor: User,
    application_id: int,
    question_id: int,
    document_id: int,
    now: datetime,
) -> None:
    """Make an uploaded document of the application the answer to a ``file`` question."""
    application = own_application(session, actor, application_id, lock=True)
    _require_draft(application)
    _require_open(application.round, now, actor.locale)
    question = next((q for q in application.round.questions if q.id == question_id), None)
    if question is None or question.kind is not QuestionKind.FILE:
        raise NotFound("There is no such question.")
    document = session.get(Document, document_id)
    if document is None or document.application_id != application.id:
        raise NotFound("There is no such document.")
    answer = session.get(ApplicationAnswer, (application.id, question.id))
    if answer is None:
        answer = ApplicationAnswer(application_id=application.id, question_id=question.id)
        session.add(answer)
    answer.document_id = document_id
    session.flush()


def _reopen(session: Session, actor: User, application: Application, now: datetime) -> Application:
    """A withdrawn application made a draft again, as it was, for the organisation to apply
    once more while the round is open."""
    locked = own_application(session, actor, application.id, lock=True)
    if locked.state is not ApplicationState.WITHDRAWN:
        return locked
    locked.state = ApplicationState.DRAFT
    locked.updated_at = now
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="application.reopen",
        object_type="application",
        object_id=locked.id,
        before={"state": ApplicationState.WITHDRAWN.value},
        after={"state": ApplicationState.DRAFT.value},
    )
    return locked


def _application_of(session: Session, round_id: int, partner_id: int) -> Application | None:
    return session.scalar(
        select(Application).where(
            Application.round_id == round_id, Application.partner_id == partner_id
        )
    )


def _require_draft(application: Application) -> None:
    if application.state is not ApplicationState.DRAFT:
        raise InvalidState(
            f"This application is {application.state.value}: only a draft can change."
        )


def _require_open(funding_round: FundingRound, now: datetime, locale: str) -> None:
    if now >= funding_round.closes_at:
        raise InvalidState(
            f"This round closed on {closing_words(funding_round, locale)}; applications can "
            "no longer be saved or submitted."
        )
    if now < funding_round.opens_at:
        raise InvalidState("This round is not open yet.")


def _category(value: str, funding_round: FundingRound) -> GrantCategory | None:
    if not value:
        return None
    if value not in funding_round.categories:
        raise InvalidInput("Choose one of the things this round funds.", field="category")
    return GrantCategory(value)


def _optional_amount(text: str, currency: str, locale: str, field: str) -> int:
    """Minor units of ``text``, or 0 when it is empty (a draft not yet filled in)."""
    if not text.strip():
        return 0
    try:
        return parse_money(text, currency, locale).minor
    except InvalidInput as error:
        raise InvalidInput(error.message, field=field) from None


def _replace_answers(session: Session, application: Application, draft: ApplicationDraft) -> None:
    typed = draft.answers or {}
    known = {question.id: question for question in application.round.questions}
    if set(typed) - set(known):
        raise InvalidInput("An answer was given to a question this round does not ask.")
    current = {answer.question_id: answer for answer in application.answers}
    currency = application.round.fund.currency
    for number, question in enumerate(application.round.questions, start=1):
        if question.kind is QuestionKind.FILE or question.id not in typed:
            continue
        raw = typed[question.id]
        field = f"answer_{question.id}"
        answer = current.get(question.id)
        if answer is None:
            answer = ApplicationAnswer(question_id=question.id, text="")
            application.answers.append(answer)
        answer.text, answer.number = "", None
        if question.kind is QuestionKind.TEXT:
            answer.text = clean_text(
                raw, field=field, label=f"answer {number}", required=False, limit=ANSWER_MAX
            )
        elif question.kind is QuestionKind.CHOICE:
            if raw and raw not in question.choices:
                raise InvalidInput(f"Question {number}: choose one of its options.", field=field)
            answer.text = raw
        elif question.kind is QuestionKind.NUMBER:
            answer.number = _whole_number(raw, number, field)
        elif raw.strip():
            answer.number = _optional_amount(raw, currency, draft.locale, field)


def _whole_number(raw: str, number: int, field: str) -> int | None:
    """A whole number, its digits grouped by thousands or not at all: a separator anywhere
    else ("12,5") is refused rather than dropped."""
    text = raw.strip().replace("\u202f", ",").replace(" ", ",")
    if not text:
        return None
    head, *groups = text.split(",")
    grouped = not groups or (1 <= len(head) <= 3 and all(len(group) == 3 for group in groups))
    text = text.replace(",", "")
    if not grouped or not text.isascii() or not text.isdigit() or int(text) > NUMBER_MAX:
        raise InvalidInput(f"Question {number}: enter a whole number, such as 120.", field=field)
    return int(text)


def _has_answer(kind: QuestionKind, answer: ApplicationAnswer | None) -> bool:
    if answer is None:
        return False
    if kind is QuestionKind.FILE:
        return answer.document_id is not None
    if kind in (QuestionKind.NUMBER, QuestionKind.AMOUNT):
        return answer.number is not None
    return bool(answer.text)


def _replace_budget(
    session: Session, application: Application, draft: ApplicationDraft, currency: str
) -> None:
    items = [item for item in draft.budget if item.label.strip() or item.amount.strip()]
    if len(items) > MAX_BUDGET_LINES:
        raise InvalidInput(f"A budget has at most {MAX_BUDGET_LINES} lines.", field="budget")
    lines = []
    for number, item in enumerate(items, start=1):
        label = clean_text(
            " ".join(item.label.split()),
            field="budget",
            label=f"budget line {number}'s description",
            required=True,
            limit=200,
        )
        try:
            amount = parse_money(item.amount, currency, draft.locale).minor
        except InvalidInput as error:
            raise InvalidInput(f"Budget line {number}: {error.message}", field="budget") from None
        lines.append(BudgetLine(position=number, label=label, amount=amount))
    application.budget_lines.clear()
    session.flush()
    application.budget_lines.extend(lines)


def _replace_schedule(
    session: Session, application: Application, draft: ApplicationDraft, currency: str
) -> None:
    fund = application.round.fund
    if len(draft.tranches) > MAX_TRANCHES:
        raise InvalidInput(f"Propose at most {MAX_TRANCHES} tranches.", field="tranches")
    if len(draft.reports) > MAX_REPORTS:
        raise InvalidInput(f"Propose at most {MAX_REPORTS} report dates.", field="reports")
    tranches = []
    for number, instalment in enumerate(draft.tranches, start=1):
        try:
            amount = parse_money(str(instalment.amount), currency, draft.locale).minor
        except InvalidInput as error:
            raise InvalidInput(f"Tranche {number}: {error.message}", field="tranches") from None
        within(
            instalment.due_date,
            fund.plan_year_start,
            fund.plan_year_end,
            field="tranches",
            label=f"tranche {number}'s date",
            locale=draft.locale,
        )
        tranches.append(ProposedTranche(due_date=instalment.due_date, amount=amount))
    reports = []
    seen = set()
    for number, report in enumerate(draft.reports, start=1):
        title = clean_text(
            " ".join(report.title.split()),
            field="reports",
            label=f"report {number}'s title",
            required=True,
            limit=200,
        )
        if (title, report.due_date) not in seen:
            seen.add((title, report.due_date))
            reports.append(ProposedReport(title=title, due_date=report.due_date))
    application.proposed_tranches.clear()
    application.proposed_reports.clear()
    session.flush()
    application.proposed_tranches.extend(tranches)
    application.proposed_reports.extend(reports)
