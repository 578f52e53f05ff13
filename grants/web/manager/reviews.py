"""An application as managers see it: its reviewers declare conflicts and score it, and a
manager awards or declines it."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal
from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from grants import clock
from grants.domain import awards, reviews
from grants.domain.checks import MANAGERS
from grants.domain.errors import NotFound
from grants.domain.money import format_money, plain_amount
from grants.extensions import db
from grants.models import (
    Application,
    ApplicationState,
    Document,
    QuestionKind,
    Review,
    RoundReviewer,
)
from grants.web import roles_required
from grants.web.actions import Submission, submit
from grants.web.hooks import user_locale
from grants.web.manager.blueprint import bp
from grants.web.manager.round_forms import (
    AwardForm,
    DeclarationForm,
    DeclineForm,
    ScoreForm,
    score_form,
)


@bp.route("/applications/<int:application_id>")
@roles_required(*MANAGERS)
def application(application_id: int) -> ResponseReturnValue:
    """A submitted or decided application, its review and its decision."""
    return _show(_application(application_id))


@bp.route("/applications/<int:application_id>/declare", methods=["POST"])
@roles_required(*MANAGERS)
def declare_conflict(application_id: int) -> ResponseReturnValue:
    """A reviewer declares whether they have a conflict of interest."""
    found = _application(application_id)
    form = DeclarationForm()
    conflicted = form.conflicted.data == "yes"
    outcome = submit(
        form,
        lambda: reviews.declare(
            db.session(),
            actor=current_user,
            application_id=found.id,
            conflicted=conflicted,
            note=form.note.data or "",
            now=clock.now(),
        ),
    )
    if outcome.done:
        flash(
            "You declared a conflict of interest: you will not see or give its scores."
            if conflicted
            else "You declared no conflict of interest: score the application below.",
            "success",
        )
        return redirect(url_for("manager.application", application_id=found.id))
    return _show(found, declaration=form, outcome=outcome), outcome.status


@bp.route("/applications/<int:application_id>/score", methods=["POST"])
@roles_required(*MANAGERS)
def score_application(application_id: int) -> ResponseReturnValue:
    """A reviewer scores every criterion, with a comment."""
    found = _application(application_id)
    criteria = list(found.round.criteria)
    form = score_form(criteria)
    outcome = submit(
        form,
        lambda: reviews.score(
            db.session(),
            actor=current_user,
            application_id=found.id,
            scores={c.id: int(getattr(form, f"score_{c.id}").data) for c in criteria},
            comment=form.comment.data or "",
            now=clock.now(),
        ),
    )
    if outcome.done:
        flash("Your scores were saved.", "success")
        return redirect(url_for("manager.application", application_id=found.id))
    return _show(found, scores=form, outcome=outcome), outcome.status


@bp.route("/applications/<int:application_id>/award", methods=["POST"])
@roles_required(*MANAGERS)
def award_application(application_id: int) -> ResponseReturnValue:
    """Award the application an amount; its grant is drafted, for another manager to
    approve."""
    found = _application(application_id)
    form = AwardForm()
    outcome = submit(
        form,
        lambda: awards.award(
            db.session(),
            key=form.key.data,
            actor=current_user,
            application_id=found.id,
            amount=form.amount.data or "",
            reason=form.reason.data or "",
            now=clock.now(),
            locale=user_locale(),
        ),
    )
    if outcome.done:
        grant_id = db.session.scalar(select(Application.grant_id).where(Application.id == found.id))
        flash(
            "The application was awarded and its grant drafted: submit the draft for another "
            "manager's approval.",
            "success",
        )
        return redirect(url_for("manager.grant", grant_id=grant_id))
    return _show(found, award_form=form, outcome=outcome), outcome.status


@bp.route("/applications/<int:application_id>/decline", methods=["POST"])
@roles_required(*MANAGERS)
def decline_application(application_id: int) -> ResponseReturnValue:
    """Decline the application with a reason the partner reads."""
    found = _application(application_id)
    form = DeclineForm()
    outcome = submit(
        form,
        lambda: awards.decline(
            db.session(),
            key=form.key.data,
            actor=current_user,
            application_id=found.id,
            reason=form.reason.data or "",
            now=clock.now(),
        ),
    )
    if outcome.done:
        flash("The application was declined; the partner is told why.", "success")
        return redirect(url_for("manager.application", application_id=found.id))
    return _show(found, decline_form=form, outcome=outcome), outcome.status


def _application(application_id: int) -> Application:
    """The application, if a manager may see it (never a draft); else 404."""
    try:
        return reviews.find_application(db.session(), application_id)
    except NotFound:
        abort(404)


def _show(
    found: Application,
    *,
    declaration: DeclarationForm | None = None,
    scores: ScoreForm | None = None,
    award_form: AwardForm | None = None,
    decline_form: DeclineForm | None = None,
    outcome: Submission[Any] | None = None,
) -> str:
    """The application's page; a form given is shown as it was sent, with its errors."""
    session = db.session()
    funding_round = found.round
    currency = funding_round.fund.currency
    locale = user_locale()
    documents = session.scalars(
        select(Document)
        .where(Document.application_id == found.id)
        .order_by(Document.uploaded_at, Document.id)
    ).all()
    review = reviews.review_of(session, found.id, current_user.id)
    declared = None if review is None else review.conflicted
    reviewing = session.get(RoundReviewer, (found.round_id, current_user.id)) is not None
    waiting = found.state is ApplicationState.SUBMITTED
    may = {
        "declare": reviewing and waiting and declared is None,
        "score": reviewing and waiting and declared is False,
        "decide": waiting and declared is not True,
    }
    sent = {
        "declare": declaration is not None,
        "score": scores is not None,
        "decide": award_form is not None or decline_form is not None,
    }
    refusal = None
    if outcome is not None and not any(may[name] for name in may if sent[name]):
        refusal = (
            outcome.refusal.message
            if outcome.refusal is not None
            else "This form can no longer be sent: the page below says where things stand."
        )
    if scores is None and may["score"]:
        scores = score_form(list(funding_round.criteria))
        if review is not None and not scores.is_submitted():
            for given in review.scores:
                getattr(scores, f"score_{given.criterion_id}").data = str(given.score)
            scores.comment.data = review.comment
    if award_form is None:
        award_form = AwardForm(formdata=None)
        award_form.amount.data = plain_amount(found.amount_asked, currency)
    see_scores = reviews.may_see_scores(session, found, current_user)
    return render_template(
        "manager/application.html",
        application=found,
        funding_round=funding_round,
        currency=currency,
        answers=_answers(found, currency, locale),
        documents=documents,
        review=review,
        reviewing=reviewing,
        conflicted=declared is True,
        may=may,
        refusal=refusal,
        declaration=declaration or DeclarationForm(formdata=None),
        scores=scores,
        award_form=award_form,
        decline_form=decline_form or DeclineForm(formdata=None),
        see_scores=see_scores,
        all_reviews=_reviews(found.id) if see_scores else [],
        budget_total=sum(line.amount for line in found.budget_lines),
    )


def _answers(found: Application, currency: str, locale: str) -> list[dict[str, Any]]:
    """Each question of the round with the application's answer, as words or a document."""
    given = {answer.question_id: answer for answer in found.answers}
    documents = {
        document.id: document
        for document in db.session.scalars(
            select(Document).where(
                Document.id.in_([a.document_id for a in given.values() if a.document_id])
            )
        )
    }
    shown = []
    for question in found.round.questions:
        answer = given.get(question.id)
        words, document = "", None
        if answer is not None:
            if question.kind is QuestionKind.FILE:
                document = documents.get(answer.document_id or 0)
            elif question.kind is QuestionKind.AMOUNT and answer.number is not None:
                words = format_money(answer.number, currency, locale)
            elif question.kind is QuestionKind.NUMBER and answer.number is not None:
                words = format_decimal(answer.number, locale=locale)
            else:
                words = answer.text
        shown.append({"question": question, "words": words, "document": document})
    return shown


def _reviews(application_id: int) -> list[Review]:
    """Every review of the application that says something: a declaration or scores."""
    return list(
        db.session.scalars(
            select(Review)
            .options(joinedload(Review.reviewer), selectinload(Review.scores))
            .where(Review.application_id == application_id, Review.conflicted.is_not(None))
            .order_by(Review.id)
        )
    )
