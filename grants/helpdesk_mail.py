"""The help desk's emails to a requester, rendered by the outbox worker
(:data:`grants.outbox.RENDERERS`) in the language the requester chose: the confirmation of a
request, and each navigator's answer. Each carries a new private link to the request.

An email is rendered only while its request has not been erased and its link can still be
opened, so nothing is sent about an erased request. Unlike a claim or reset link, a private
link is never written to the log when emails go to the outbox folder: who asked for help is
nobody's to read there (the requester saw the link on the confirmation page). Links are
absolute, built from ``PUBLIC_URL``. The emails name the country's emergency number and
crisis lines, since the desk is not a crisis service.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy.orm import Session

from grants.domain import hub_directory as directory
from grants.domain.helpdesk_links import link_works
from grants.domain.hub_directory import Filters
from grants.mail import Email, absolute_url, public_url
from grants.models import HelpMessage, HelpRequest, HubService, HubServiceVersion


def _danger(session: Session, code: str, language: str, now: datetime) -> dict[str, Any]:
    listed = directory.country_page(
        session, code, Filters(), language=language, now=now, today=now.date(), per_page=1
    )
    emergency = directory.emergency(session, code)
    return {
        "lang": language.replace("_", "-"),
        "emergency": emergency.emergency_number if emergency else None,
        "crisis_lines": [
            (line.version.name, [phone.shown for phone in line.voice])
            for line in listed.crisis_lines[:3]
        ],
        "hub_link": public_url("hub.country", code=code),
    }


def _render(to: str, subject: str, template: str, **context: object) -> Email:
    templates = current_app.jinja_env
    text = templates.get_template(f"email/care/{template}.txt").render(subject=subject, **context)
    html = templates.get_template(f"email/care/{template}.html").render(subject=subject, **context)
    return Email(to=to, subject=subject, text=text, html=html)


def request_received(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """The confirmation of a request, with its private link. It greets nobody by name: the
    address was typed by whoever sent the form, and the desk does not repeat their words to
    it."""
    token = str(payload["token"])
    found = session.get(HelpRequest, int(payload["request"]))
    if found is None or found.contact_email is None or link_works(session, token, now=now) is None:
        return None
    link = public_url("care.open_link", token=token)
    with force_locale(found.language):
        subject = str(
            gettext("We have your request for help, %(reference)s", reference=found.reference)
        )
        email = _render(
            found.contact_email,
            subject,
            "received",
            reference=found.reference,
            link=link,
            **_danger(session, found.country, found.language, now),
        )
    return dataclasses.replace(email, what="help request confirmation", confidential=True)


def answered(session: Session, payload: dict[str, Any], now: datetime) -> Email | None:
    """A navigator's answer, with the services it carries and a new private link."""
    token = str(payload["token"])
    message = session.get(HelpMessage, int(payload["message"]))
    if message is None:
        return None
    found = session.get_one(HelpRequest, message.request_id)
    if found.contact_email is None or link_works(session, token, now=now) is None:
        return None
    services = []
    for service_id in message.services:
        service = session.get(HubService, str(service_id))
        if service is not None and service.published_version_id is not None:
            version = session.get_one(HubServiceVersion, service.published_version_id)
            services.append((version.name, absolute_url(f"/help/services/{service.id}")))
    link = public_url("care.open_link", token=token)
    with force_locale(found.language):
        subject = str(gettext("An answer to your request %(reference)s", reference=found.reference))
        email = _render(
            found.contact_email,
            subject,
            "answered",
            name=found.name,
            reference=found.reference,
            body=message.body,
            services=services,
            link=link,
            **_danger(session, found.country, found.language, now),
        )
    return dataclasses.replace(email, what="help desk answer", confidential=True)


RENDERERS = {
    "helpdesk.link": request_received,
    "helpdesk.reply": answered,
}
