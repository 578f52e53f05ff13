"""An organisation's application: start it, fill it in (saved as a draft as often as wanted),
attach documents, submit it before the round closes, or withdraw it."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from grants import clock
from grants.domain import applications
from grants.domain.applications import ApplicationDraft, BudgetItem
from grants.domain.errors import DomainError, NotFound
from grants.domain.money import plain_amount
from grants.extensions import db
from grants.models import Application, ApplicationState, Document, QuestionKind, Role
from grants.web import roles_required
from grants.web.actions import (
    ConfirmForm,
    accepted,
    attempt,
    confirm,
    refusal_status,
    show_refusal,
)
from grants.web.documents import upload_view
from grants.web.hooks import user_locale
from grants.web.manager.forms import typed_reports, typed_tranches
from grants.web.partner.blueprint import bp
from grants.web.partner.forms import (
    ApplicationForm,
    UploadForm,
    WithdrawForm,
    answer_field_name,
    application_form_class,
    category_choices,
)
from grants.web.partner.home import organisation
from grants.web.partner.uploads import upload_document

FIELDS = {"amount": "amount", "category": "category", "purpose": "purpose"}


@bp.route("/rounds/<int:round_id>/apply", methods=["POST"])
@roles_required(Role.PARTNER)
def start(round_id: int) -> ResponseReturnValue:
    """Begin the organisation's application to a round (or open the one it has)."""
    organisation()
    outcome = confirm(
        lambda key: (
            applications.start_application(
                db.session(), actor=current_user, round_id=round_id, now=clock.now()
            ).id
        )
    )
    if isinstance(outcome, NotFound):
        abort(404)
    if isinstance(outcome, DomainError):
        flash(outcome.message, "error")
        return redirect(url_for("partner.funding_round", round_id=round_id), 303)
    return redirect(url_for("partner.application", application_id=outcome))


@bp.route("/applications/<int:application_id>", methods=["GET", "POST"])
@roles_required(Role.PARTNER)
def application(application_id: int) -> ResponseReturnValue:
    """The application: a form while it is a draft (Save, or Save and submit), its answers
    and decision once submitted."""
    found = _own(application_id)
    if found.state is not ApplicationState.DRAFT:
        return _show(found, form=None)
    form = _form(found, filled=request.method == "GET")
    if request.method == "GET":
        return _show(found, form=form)
    if not accepted(form):
        return _show(found, form=form), 422
    saved = attempt(
        lambda: applications.save_application(
            db.session(),
            actor=current_user,
            application_id=found.id,
            draft=_draft(form, found),
            now=clock.now(),
        )
    )
    if isinstance(saved, DomainError):
        status = show_refusal(form, saved, FIELDS)
        return _show(found, form=form), status
    if request.form.get("action") != "submit":
        flash("The draft was saved.", "success")
        return redirect(url_for("partner.application", application_id=found.id), 303)
    submitted = attempt(
        lambda: applications.submit_application(
            db.session(),
            key=form.key.data,
            actor=current_user,
            application_id=found.id,
            now=clock.now(),
        )
    )
    if isinstance(submitted, DomainError):
        flash(f"The draft was saved but not submitted: {submitted.message}", "error")
        return redirect(url_for("partner.application", application_id=found.id), 303)
    flash("The application was submitted. The round's reviewers have been told.", "success")
    return redirect(url_for("partner.application", application_id=found.id), 303)


@bp.route("/applications/<int:application_id>/withdraw", methods=["POST"])
@roles_required(Role.PARTNER)
def withdraw(application_id: int) -> ResponseReturnValue:
    found = _own(application_id)
    form = WithdrawForm()
    if not accepted(form):
        flash("Tick the box to withdraw the application.", "error")
        return redirect(url_for("partner.application", application_id=found.id), 303)
    outcome = attempt(
        lambda: applications.withdraw_application(
            db.session(), actor=current_user, application_id=found.id, now=clock.now()
        )
    )
    if isinstance(outcome, DomainError):
        return _show(found, form=None, refusal=outcome.message), refusal_status(outcome)
    flash("The application was withdrawn.", "success")
    return redirect(url_for("partner.dashboard"), 303)


@bp.route("/applications/<int:application_id>/documents", methods=["POST"])
@roles_required(Role.PARTNER)
@upload_view
def application_document(application_id: int) -> ResponseReturnValue:
    """Attach a document to a draft, optionally as the answer to one of its file questions."""
    found = _own(application_id)
    files = {q.id for q in found.round.questions if q.kind is QuestionKind.FILE}
    outcome = upload_document(
        application_id=found.id,
        answers=lambda form: form.question_id.data if form.question_id.data in files else None,
    )
    if isinstance(outcome, DomainError):
        return _show(found, form=_form(found, filled=True), refusal=outcome.message), (
            refusal_status(outcome)
        )
    flash("The document was attached.", "success")
    return redirect(url_for("partner.application", application_id=found.id) + "#documents", 303)


def _own(application_id: int) -> Application:
    organisation()
    try:
        return applications.own_application(db.session(), current_user, application_id)
    except NotFound:
        abort(404)


def _form(found: Application, *, filled: bool) -> ApplicationForm:
    """The application's form; ``filled`` from what the draft holds (for a page being
    shown), else from the request."""
    form_class = application_form_class(found.round)
    form = form_class(formdata=None) if filled else form_class()
    form.category.choices = category_choices(found.round)
    if not filled:
        return form
    currency = found.round.fund.currency
    form.purpose.data = found.purpose
    form.category.data = found.category.value if found.category else ""
    form.amount.data = plain_amount(found.amount_asked, currency) if found.amount_asked else ""
    for row, line in zip(form.budget, found.budget_lines, strict=False):
        row.item.data = line.label
        row.amount.data = plain_amount(line.amount, currency)
    for row, tranche in zip(form.tranches, found.proposed_tranches, strict=False):
        row.due_date.data = tranche.due_date
        row.amount.data = plain_amount(tranche.amount, currency)
    for row, report in zip(form.reports, found.proposed_reports, strict=False):
        row.title.data = report.title
        row.due_date.data = report.due_date
    answers = {answer.question_id: answer for answer in found.answers}
    for question in found.round.questions:
        answer = answers.get(question.id)
        if question.kind is QuestionKind.FILE or answer is None:
            continue
        field = getattr(form, answer_field_name(question))
        if question.kind is QuestionKind.AMOUNT:
            field.data = "" if answer.number is None else plain_amount(answer.number, currency)
        elif question.kind is QuestionKind.NUMBER:
            field.data = "" if answer.number is None else str(answer.number)
        else:
            field.data = answer.text
    return form


def _draft(form: ApplicationForm, found: Application) -> ApplicationDraft:
    """The typed draft from the form, refusing half-filled schedule lines."""
    answers = {
        question.id: getattr(form, answer_field_name(question)).data or ""
        for question in found.round.questions
        if question.kind is not QuestionKind.FILE
    }
    return ApplicationDraft(
        purpose=form.purpose.data or "",
        category=form.category.data or "",
        amount=form.amount.data or "",
        answers=answers,
        budget=[BudgetItem(row.item.data or "", row.amount.data or "") for row in form.budget],
        tranches=typed_tranches(form.tranches),
        reports=typed_reports(form.reports, what="what you report"),
        locale=user_locale(),
    )


def _show(found: Application, *, form: ApplicationForm | None, refusal: str | None = None) -> str:
    documents = db.session.scalars(
        select(Document).where(Document.application_id == found.id).order_by(Document.id)
    ).all()
    answers = {answer.question_id: answer for answer in found.answers}
    return render_template(
        "partner/application.html",
        application=found,
        funding_round=found.round,
        currency=found.round.fund.currency,
        form=form,
        answers=answers,
        documents=documents,
        documents_by_id={document.id: document for document in documents},
        problems=applications.problems(found, user_locale())
        if found.state is ApplicationState.DRAFT
        else [],
        is_open=found.round.is_open(clock.now()),
        upload=UploadForm(),
        remove=ConfirmForm(),
        withdraw_form=WithdrawForm(),
        refusal=refusal,
        QuestionKind=QuestionKind,
        answer_field_name=answer_field_name,
    )
