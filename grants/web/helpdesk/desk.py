"""The navigators' help desk under ``/helpdesk``: their partner's queue, and each request.

Only navigators reach these screens, and each sees only the requests routed to the partner
they work for: anyone else's answers 404, like one that does not exist. The queue shows no
content; opening a request is recorded in the audit trail every time
(:func:`grants.domain.helpdesk_desk.open_request`), and the page is never cached.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectField, SelectMultipleField, TextAreaField
from wtforms.fields.choices import SelectChoice

from grants import clock
from grants.domain import helpdesk, helpdesk_desk
from grants.domain import hub_directory as directory
from grants.domain.errors import DomainError, NotFound
from grants.domain.helpdesk_desk import NAVIGATOR_OUTCOMES
from grants.extensions import db
from grants.i18n import LANGUAGE_NAMES
from grants.models import HelpRequest, OutboxMessage, OutboxState, Partner, Role
from grants.web import roles_required
from grants.web.actions import (
    ActionForm,
    ConfirmForm,
    accepted,
    attempt,
    confirm,
    refusal_status,
    show_refusal,
)
from grants.web.hub.public import TOPICS
from grants.web.listing import requested_page

bp = Blueprint("helpdesk", __name__, url_prefix="/helpdesk")

FOUND_MAX = 10
"""Hub services a search on a request's page offers to attach."""


@bp.after_request
def kept_by_nobody(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    return response


class ReplyForm(ActionForm):
    body = TextAreaField("Your answer")
    services = SelectMultipleField("Hub services to send with it", choices=[])


class CloseForm(ActionForm):
    outcome = SelectField(
        "How did it end?",
        choices=[SelectChoice(outcome.value, outcome.label) for outcome in NAVIGATOR_OUTCOMES],
    )


def _found(reference: str) -> HelpRequest:
    try:
        return helpdesk_desk.request_for_navigator(db.session(), current_user, reference)
    except NotFound:
        abort(404)


@bp.route("/")
@roles_required(Role.NAVIGATOR)
def queue() -> ResponseReturnValue:
    """The partner's open requests, urgent first then oldest; or its closed ones."""
    closed = request.args.get("show") == "closed"
    now = clock.now()
    page = helpdesk_desk.queue(
        db.session(), current_user, closed=closed, page=requested_page(request), now=now
    )
    partner = db.session.get(Partner, current_user.partner_id) if current_user.partner_id else None
    counts = helpdesk_desk.queue_counts(db.session(), partner.id, now=now) if partner else None
    return render_template(
        "helpdesk/queue.html",
        page=page,
        closed=closed,
        partner=partner,
        counts=counts,
        TOPICS=TOPICS,
    )


def _service_choices(found: HelpRequest, q: str) -> list[directory.Listing]:
    """Published services of the request's country that match ``q``."""
    if not q:
        return []
    listed = directory.country_page(
        db.session(),
        found.country,
        directory.Filters(q=q[: directory.SEARCH_MAX]),
        language=found.language,
        now=clock.now(),
        today=clock.today(),
        per_page=FOUND_MAX,
    )
    return [*listed.crisis_lines, *listed.others][:FOUND_MAX]


def _page(
    found: HelpRequest, reply_form: ReplyForm, close_form: CloseForm, status: int
) -> ResponseReturnValue:
    messages = helpdesk.thread(db.session(), found.id)
    authors = helpdesk_desk.navigator_names(
        db.session(), [m.navigator_id for m in messages if m.navigator_id is not None]
    )
    q = " ".join(request.args.get("find", "").split())
    attached = {str(s) for m in messages for s in m.services}
    names = {
        row.service_id: row.version.name
        for row in (
            directory.service_listing(db.session(), sid, "en", clock.now(), clock.today())
            for sid in attached
        )
        if row is not None
    }
    return render_template(
        "helpdesk/request.html",
        found=found,
        messages=messages,
        authors=authors,
        names=names,
        q=q,
        choices=_service_choices(found, q),
        reply_form=reply_form,
        take_form=ConfirmForm(),
        close_form=close_form,
        assignee=helpdesk_desk.navigator_names(db.session(), [found.assignee_id]).get(
            found.assignee_id
        )
        if found.assignee_id
        else None,
        TOPICS=TOPICS,
        LANGUAGE_NAMES=LANGUAGE_NAMES,
        country_name=directory.country_label(found.country, "en"),
        undelivered=_undelivered(found),
        now=clock.now(),
    ), status


def _undelivered(found: HelpRequest) -> int:
    """How many help desk emails to the requester's address the outbox gave up on."""
    if not found.contact_email:
        return 0
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind.in_((helpdesk.LINK_EMAIL, helpdesk.REPLY_EMAIL)),
                OutboxMessage.recipient == found.contact_email,
                OutboxMessage.state == OutboxState.FAILED,
            )
        )
        or 0
    )


@bp.route("/requests/<reference>")
@roles_required(Role.NAVIGATOR)
def request_page(reference: str) -> ResponseReturnValue:
    """A request, its thread and the forms to answer and close it; the opening is audited."""
    opened = attempt(
        lambda: helpdesk_desk.open_request(db.session(), current_user, reference, now=clock.now())
    )
    if isinstance(opened, DomainError):
        abort(refusal_status(opened))
    return _page(_found(reference), ReplyForm(), CloseForm(), 200)


@bp.route("/requests/<reference>/assign", methods=["POST"])
@roles_required(Role.NAVIGATOR)
def assign(reference: str) -> ResponseReturnValue:
    """Take the request."""
    _found(reference)
    outcome = confirm(
        lambda key: helpdesk_desk.assign(
            db.session(), key=key, actor=current_user, reference=reference, now=clock.now()
        )
    )
    _flash(outcome, f"You have request {reference}.")
    return redirect(url_for("helpdesk.request_page", reference=reference))


@bp.route("/requests/<reference>/reply", methods=["POST"])
@roles_required(Role.NAVIGATOR)
def reply(reference: str) -> ResponseReturnValue:
    """Answer the request: into the thread, and by email when the requester gave one."""
    found = _found(reference)
    form = ReplyForm()
    form.services.choices = [
        SelectChoice(value, value) for value in request.form.getlist("services")
    ]
    if not accepted(form):
        return _page(found, form, CloseForm(), 422)
    outcome = attempt(
        lambda: helpdesk_desk.reply(
            db.session(),
            key=form.key.data,
            actor=current_user,
            reference=reference,
            body=form.body.data or "",
            service_ids=form.services.data or [],
            now=clock.now(),
        )
    )
    if isinstance(outcome, DomainError):
        status = show_refusal(form, outcome)
        db.session.expire_all()
        return _page(_found(reference), form, CloseForm(), status)
    emailed = " and emailed to the requester" if found.contact_email else ""
    flash(f"Your answer was added to the thread{emailed}.", "success")
    return redirect(url_for("helpdesk.request_page", reference=reference))


@bp.route("/requests/<reference>/close", methods=["POST"])
@roles_required(Role.NAVIGATOR)
def close(reference: str) -> ResponseReturnValue:
    """Close the request with its outcome."""
    found = _found(reference)
    form = CloseForm()
    if not accepted(form):
        return _page(found, ReplyForm(), form, 422)
    outcome = attempt(
        lambda: helpdesk_desk.close(
            db.session(),
            key=form.key.data,
            actor=current_user,
            reference=reference,
            outcome=form.outcome.data or "",
            now=clock.now(),
        )
    )
    if isinstance(outcome, DomainError):
        status = show_refusal(form, outcome)
        return _page(found, ReplyForm(), form, status)
    days = current_app.config["HELPDESK_RETENTION_DAYS"]
    flash(
        f"Request {reference} is closed. Its personal data is erased after {days} days.", "success"
    )
    return redirect(url_for("helpdesk.queue"))


def _flash(outcome: Any, done: str) -> None:
    if isinstance(outcome, DomainError):
        flash(outcome.message, "error")
    else:
        flash(done, "success")
