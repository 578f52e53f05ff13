"""The public help desk under ``/care``: "help me find care", in the visitor's language.

- ``/care/`` asks for the country first, then shows its emergency number and crisis lines
  above the form (the desk is not a crisis service, and says so before anything is sent);
- sending the form makes the request and opens its page on this device, with the private
  link shown once to keep;
- ``/care/link/<token>`` is a private link: a page with one button, so that a mail scanner
  that follows links does not use it up; pressing it lets this device in (a cookie that
  only the request's own pages receive) and opens the request;
- ``/care/requests/<reference>`` shows the request and its thread to a device that was let
  in, or to the account that made it; anyone else gets a 404. The requester answers and
  erases the request there.

No page here is cached anywhere (``Cache-Control: no-store``), and none sends a referrer
(a link page's address carries its token, every other names a request).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from grants import clock
from grants.domain import helpdesk, helpdesk_links
from grants.domain import hub_directory as directory
from grants.domain.errors import DomainError, IdempotencyConflict, NotFound
from grants.domain.hub import HUB_LANGUAGES
from grants.extensions import db
from grants.i18n import LANGUAGE_NAMES, chosen_language
from grants.mail import public_url
from grants.models import HelpRequest, HelpState, HubService, HubServiceVersion
from grants.web.actions import attempt, new_key
from grants.web.helpdesk.care_forms import (
    CAN_PAY,
    AnswerForm,
    CareForm,
    EraseForm,
    OpenLinkForm,
    message_refusal,
    new_stamp,
)
from grants.web.hub.public import hub_globals, hub_url

bp = Blueprint("care", __name__, url_prefix="/care")

DEVICE_COOKIE = "care_device"
SHOWN_LINK = "care_link"
"""The session key under which the private link waits to be shown once."""


@bp.context_processor
def care_globals() -> dict[str, Any]:
    return {
        **hub_globals(),
        "CAN_PAY": CAN_PAY,
        "LANGUAGE_NAMES": LANGUAGE_NAMES,
        "retention_days": int(current_app.config["HELPDESK_RETENTION_DAYS"]),
    }


@bp.after_request
def kept_by_nobody(response: Response) -> Response:
    """No page of the desk is kept by any cache, nor names itself to another site: a link
    page's address carries its token, and every other names a request."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def _crisis(code: str | None) -> dict[str, Any]:
    """What the "in danger now" panel shows for country ``code``."""
    if code is None:
        return {"emergency": None, "crisis_lines": [], "country_name": ""}
    language = chosen_language()
    listed = directory.country_page(
        db.session(),
        code,
        directory.Filters(),
        language=language,
        now=clock.now(),
        today=clock.today(),
        per_page=1,
    )
    return {
        "emergency": directory.emergency(db.session(), code),
        "crisis_lines": listed.crisis_lines,
        "country_name": directory.country_label(code, language),
    }


def _ask_page(form: CareForm, code: str | None, status: int) -> ResponseReturnValue:
    form.shown.data = new_stamp()
    return render_template(
        "hub/care/ask.html",
        form=form,
        code=code,
        choices=directory.country_choices(db.session(), chosen_language()),
        languages=HUB_LANGUAGES,
        **_crisis(code),
    ), status


@bp.route("/", methods=["GET", "POST"])
def ask() -> ResponseReturnValue:
    """Choose a country, then ask for help."""
    form = CareForm()
    if request.method == "GET":
        asked = request.args.get("country", "")[:8]
        code = directory.known_country(asked) if asked else None
        if asked and code is None:
            form.form_errors.append(gettext("Choose your country from the list."))
            return _ask_page(form, None, 400)
        form.country.data = code or ""
        form.language.data = chosen_language()
        return _ask_page(form, code, 200)
    code = directory.known_country((form.country.data or "")[:8])
    if not form.validate():
        if form.bot:
            form.form_errors.append(
                gettext("Your request could not be sent. Please try again in a few minutes.")
            )
        return _ask_page(form, code, 400 if form.form_errors else 422)
    assert form.checked is not None
    typed = form.asked()
    outcome = attempt(
        lambda: helpdesk.ask(
            db.session(),
            key=form.key.data,
            asked=typed,
            requester_id=current_user.id if current_user.is_authenticated else None,
            now=clock.now(),
        )
    )
    if isinstance(outcome, IdempotencyConflict):
        form.key.data = new_key()
        form.form_errors.append(
            gettext("You had already sent this form. Check your request and send it again.")
        )
        return _ask_page(form, code, 409)
    if isinstance(outcome, DomainError):
        form.key.data = new_key()
        form.form_errors.append(
            gettext("The help desk cannot take requests at the moment. Please try again later.")
        )
        return _ask_page(form, code, 503)
    session[SHOWN_LINK] = outcome.link_token
    answer = redirect(hub_url("care.request_page", reference=outcome.reference))
    _let_in(answer, outcome.reference, outcome.device_token)
    return answer


def _let_in(response: BaseResponse, reference: str, device_token: str) -> None:
    """Give this device the cookie that opens request ``reference``, and only its pages."""
    response.set_cookie(
        DEVICE_COOKIE,
        device_token,
        max_age=int(helpdesk_links.DEVICE_LIFETIME.total_seconds()),
        path=url_for("care.request_page", reference=reference),
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )


@bp.route("/link/<token>", methods=["GET", "POST"])
def open_link(token: str) -> ResponseReturnValue:
    """A private link: a button that lets this device in, then the request."""
    form = OpenLinkForm()
    now = clock.now()
    answer: BaseResponse
    reference = helpdesk_links.link_works(db.session(), token[:100], now=now)
    if reference is None:
        answer = make_response(render_template("hub/care/link_gone.html"), 404)
    elif request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        opened = attempt(lambda: helpdesk_links.open_link(db.session(), token, now=now))
        if isinstance(opened, DomainError):
            answer = make_response(render_template("hub/care/link_gone.html"), 404)
        else:
            answer = redirect(hub_url("care.request_page", reference=opened.reference))
            _let_in(answer, opened.reference, opened.device_token)
    else:
        answer = make_response(render_template("hub/care/open_link.html", form=form))
    return answer


def _own_request(reference: str) -> HelpRequest:
    """Request ``reference`` if this device was let in or this account made it; else 404."""
    now = clock.now()
    found = helpdesk_links.request_for_device(
        db.session(), reference, request.cookies.get(DEVICE_COOKIE, "")[:100], now=now
    )
    if found is None and current_user.is_authenticated:
        found = helpdesk_links.request_of_account(db.session(), reference, current_user.id)
    if found is None:
        abort(404)
    return found


def _services(ids: set[str]) -> dict[str, str]:
    """The names of hub services ``ids`` as published now, in the page's language where the
    service has it."""
    if not ids:
        return {}
    rows = db.session.execute(
        db.select(HubService.id, HubServiceVersion.name)
        .join(HubServiceVersion, HubServiceVersion.id == HubService.published_version_id)
        .where(HubService.id.in_(ids))
    ).all()
    return {row.id: row.name for row in rows}


def _link_url(token: str | None) -> str | None:
    """The private link of ``token``, under ``PUBLIC_URL`` as in the emails."""
    return public_url("care.open_link", token=token) if token else None


@bp.errorhandler(404)
def not_here(error: Exception) -> ResponseReturnValue:
    """A request this browser cannot open, or a page that is not there, in the visitor's
    language: where to go instead, and the crisis lines."""
    return render_template("hub/care/not_found.html"), 404


def _request_page(
    found: HelpRequest, answer_form: AnswerForm, erase_form: EraseForm, status: int
) -> ResponseReturnValue:
    messages = helpdesk.thread(db.session(), found.id)
    services = _services({str(s) for message in messages for s in message.services})
    return render_template(
        "hub/care/request.html",
        found=found,
        messages=messages,
        services=services,
        answer_form=answer_form,
        erase_form=erase_form,
        shown_link=_link_url(session.pop(SHOWN_LINK, None)),
        closed=found.state is HelpState.CLOSED,
        code=found.country,
        **_crisis(found.country),
    ), status


@bp.route("/requests/<reference>")
def request_page(reference: str) -> ResponseReturnValue:
    """The request, its thread, and the forms to answer and to erase it."""
    found = _own_request(reference)
    return _request_page(found, AnswerForm(), EraseForm(), 200)


@bp.route("/requests/<reference>/answer", methods=["POST"])
def answer(reference: str) -> ResponseReturnValue:
    """The requester answers in the thread."""
    found = _own_request(reference)
    form = AnswerForm()
    if not form.validate_on_submit() or not form.key.data:
        abort(400)
    body = form.body.data or ""
    outcome = attempt(
        lambda: helpdesk.requester_reply(
            db.session(), key=form.key.data, request_id=found.id, body=body, now=clock.now()
        )
    )
    if isinstance(outcome, DomainError):
        db.session.expire_all()
        found = _own_request(reference)
        if found.state is HelpState.CLOSED:
            message = gettext("This request is closed. Ask again if you need more help.")
        else:
            message = message_refusal(body)
        form.body.errors = [message]
        form.key.data = new_key()
        return _request_page(found, form, EraseForm(), 422)
    flash(gettext("Your answer was sent."), "success")
    return redirect(hub_url("care.request_page", reference=reference))


@bp.route("/requests/<reference>/erase", methods=["POST"])
def erase(reference: str) -> ResponseReturnValue:
    """The requester erases their request: what they wrote and the thread are deleted now."""
    found = _own_request(reference)
    form = EraseForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.sure.data:
        form.sure.errors = [gettext("Tick the box to confirm that you want it erased.")]
        return _request_page(found, AnswerForm(), form, 422)
    request_id = found.id
    outcome = attempt(
        lambda: helpdesk.erase(
            db.session(),
            request_id,
            now=clock.now(),
            actor_id=None,
            why="requester",
        )
    )
    if isinstance(outcome, NotFound):
        abort(404)
    answer = make_response(render_template("hub/care/erased.html", reference=reference))
    answer.delete_cookie(DEVICE_COOKIE, path=url_for("care.request_page", reference=reference))
    return answer
