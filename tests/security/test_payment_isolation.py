"""Paying providers: who sees invoices and bank details, what a browser may keep, and what
the upload forms do without their token.

The world (``tests/security/world.py``) holds a verified provider with bank details
(``US_ACCOUNT``), one whose payouts a second member of finance's change holds, a provider
Olive proposed, Avery's session with its invoice and Olive's with hers, a paid batch and an
imported statement. What the design asks:

- an invoice is health information: only the person who booked the session and finance read
  it (404 for anyone else, managers and admins too), and only its holder adds one to a
  session (404, nothing written);
- the directory, a provider's pages and their bank details are finance's alone (403); the
  full account number is shown only by the reveal, which is audited, and never by a page,
  the audit trail or the email telling the provider their details changed;
- no page with bank details, and no bank file, is kept by a browser (``no-store``); the
  files are attachments that a browser may not sniff;
- a proposed provider is the proposer's own: booking one someone else proposed is refused,
  and writes nothing.
"""

from __future__ import annotations

import email.message
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.data_key import data_keys
from grants.domain.provider_bank import read_bank_details
from grants.models import AuditEvent, Document, Provider, Redemption, StatementImport, StatementLine
from tests.factories import TODAY
from tests.security.support import (
    shown_form,
    stored_files,
    tally,
    text,
    unchanged_but_a_recorded_refusal,
)
from tests.security.test_csrf import REFUSAL
from tests.security.world import (
    INVOICE,
    US_ACCOUNT,
    SecurityWorld,
    build_security_world,
    clients,
    snapshot,
    token_of,
)
from tests.support import form_fields, sign_in
from tests.wallets import outbox

MASKED = "Routing 011000015 · Checking ····6789"
"""How every page but the reveal shows ``US_ACCOUNT``."""
NEW_ACCOUNT = "000222333444"
"""The account number a change of ``provider``'s bank details gives."""
PROVIDER_PAGES = (
    "/finance/providers",
    "/finance/providers?q=zoe&city=nash",
    "/finance/providers/{provider}",
    "/finance/providers/{provider}/edit",
    "/finance/providers/{provider}/bank",
    "/finance/providers/{held_provider}",
    "/finance/providers/{proposed_provider}",
)
"""Every page of the directory that answers GET."""


def hidden(body: str, account: str = US_ACCOUNT) -> bool:
    """Whether ``body`` shows no more of ``account`` than its last four digits."""
    return account not in body and account[:-4] not in body


def pdf_upload() -> tuple[io.BytesIO, str]:
    return io.BytesIO(INVOICE), "invoice.pdf"


# ------------------------------------------------------------------------------- invoices


def test_an_invoice_opens_only_for_the_person_who_booked_and_for_finance(
    app: Flask, db: Session
) -> None:
    world = build_security_world(app, db)
    visitors = clients(app, world)
    olive = sign_in(app, world.emails["leaver"])
    readers = {
        "ambassador": (world.own_invoice,),
        "finance": (world.own_invoice, world.foreign_invoice),
        "olive": (world.foreign_invoice,),
    }
    visitors["olive"] = olive
    for role, client in visitors.items():
        for invoice in (world.own_invoice, world.foreign_invoice):
            response = client.get(f"/documents/{invoice}")
            body = text(response)
            if invoice in readers.get(role, ()):
                assert response.status_code == 200, (role, invoice)
                assert response.headers["Content-Disposition"].startswith("attachment")
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                assert "no-store" in response.headers["Cache-Control"]
                assert response.get_data() == INVOICE
            else:
                expected = 302 if role == "anonymous" else 404
                assert response.status_code == expected, (role, invoice)
                assert "%PDF" not in body


def test_an_invoice_is_added_to_no_one_elses_session(app: Flask, db: Session) -> None:
    """Avery, Sam (the recipient) and finance send Olive's session an invoice, each with a
    valid token and key: 404, nothing written, no file kept. Avery's own session takes
    the same form."""
    world = build_security_world(app, db)
    visitors = clients(app, world)
    foreign = f"/wallet/redemptions/{world.foreign_booking}/invoice"
    for role in ("ambassador", "recipient", "finance", "manager", "admin"):
        client = visitors[role]
        sent = {"csrf_token": token_of(client, role), "key": f"add-{role}"}
        before, files = snapshot(app, db), stored_files(app)
        response = client.post(foreign, data={**sent, "invoice": pdf_upload()})
        assert response.status_code == 404, role
        assert "invoice.pdf" not in text(response)
        assert (snapshot(app, db), stored_files(app)) == (before, files), role

    own = world.path("/wallet/redemptions/{invoiced_redemption}")
    fields = form_fields(visitors["ambassador"], own, f"{own}/invoice")
    response = visitors["ambassador"].post(
        f"{own}/invoice", data={**fields, "invoice": pdf_upload()}
    )
    assert response.status_code == 302
    db.rollback()
    invoices = select(func.count()).where(Document.redemption_id == world.invoiced_redemption)
    assert db.scalar(invoices) == 2


# ------------------------------------------------------------------------------- bank details


@pytest.mark.parametrize("role", ["manager", "admin", "foreign_partner"])
def test_managers_and_admins_reach_no_invoice_no_provider_and_no_bank_details(
    app: Flask, db: Session, role: str
) -> None:
    """Every page of the directory, the redemption pages beside the invoices, and every
    form of the directory sent in full with a valid token: 403 (an invoice, 404); nothing
    written, not even the audit event of a reveal, and nothing of a provider shown. The
    same for a partner's person (of Music Minds Matter, whom no other test signs in)."""
    world = build_security_world(app, db)
    if role == "foreign_partner":
        client = sign_in(app, world.emails[role])
    else:
        client = clients(app, world)[role]
    for invoice in (world.own_invoice, world.foreign_invoice):
        response = client.get(f"/documents/{invoice}")
        assert response.status_code == 404
        assert "%PDF" not in text(response)
    pages = (
        *PROVIDER_PAGES,
        "/finance/redemptions",
        "/finance/redemptions/{invoiced_redemption}",
        "/finance/funds/{fund}/payments",
        "/finance/batches/{batch}/pain001",
        "/finance/batches/{batch}/nacha",
    )
    for page in (*pages, "/finance/providers/new"):
        response = client.get(world.path(page))
        body = text(response)
        assert response.status_code == 403, page
        assert "Dr Zoë Lee" not in body
        assert "····6789" not in body
        assert hidden(body)

    finance = clients(app, world)["finance"]
    token = token_of(client, role)
    forms = {
        "/finance/providers/{provider}/bank/reveal": "/finance/providers/{provider}",
        "/finance/providers/{held_provider}/bank/confirm": "/finance/providers/{held_provider}",
        "/finance/providers/{proposed_provider}/verify": "/finance/providers/{proposed_provider}",
        "/finance/providers/{provider}/suspend": "/finance/providers/{provider}",
        "/finance/providers/{provider}/bank": None,
        "/finance/providers/{provider}/edit": None,
        "/finance/providers/new": None,
    }
    for action, page in forms.items():
        target = world.path(action)
        fields = shown_form(finance, world.path(page) if page else target, page and target)
        sent = {**fields, "csrf_token": token, "key": f"{role}-{action}"}
        sent |= {"reason": "Licence lapsed", "account_number": NEW_ACCOUNT, "name": "Dr New"}
        before = snapshot(app, db)
        response = client.post(target, data=sent)
        body = text(response)
        assert response.status_code == 403, action
        assert hidden(body)
        assert snapshot(app, db) == before, action


def test_provider_pages_and_the_full_details_are_kept_by_no_browser(
    app: Flask, db: Session
) -> None:
    """Each page of the directory, the reveal, and a refusal shown on a provider's page:
    ``Cache-Control: no-store``."""
    world = build_security_world(app, db)
    finance = clients(app, world)["finance"]
    for page in PROVIDER_PAGES:
        response = finance.get(world.path(page))
        text(response)
        assert response.status_code == 200, page
        assert "no-store" in response.headers["Cache-Control"], page

    provider = world.path("/finance/providers/{provider}")
    fields = form_fields(finance, provider, f"{provider}/bank/reveal")
    revealed = finance.post(f"{provider}/bank/reveal", data=fields)
    assert revealed.status_code == 200
    assert US_ACCOUNT in text(revealed)
    assert "no-store" in revealed.headers["Cache-Control"]

    proposed = world.path("/finance/providers/{proposed_provider}")
    fields = form_fields(finance, proposed, f"{proposed}/verify")
    refused = finance.post(f"{proposed}/verify", data=fields)
    assert refused.status_code == 422
    assert "Before verifying Dr Olu Proposed" in text(refused)
    assert "no-store" in refused.headers["Cache-Control"]


def test_the_new_provider_form_is_kept_by_no_browser(app: Flask, db: Session) -> None:
    world = build_security_world(app, db)
    finance = clients(app, world)["finance"]
    fields = form_fields(finance, "/finance/providers/new")
    shown = finance.get("/finance/providers/new")
    refused = finance.post(
        "/finance/providers/new", data={**fields, "name": "Dr Ada Fuzz", "country": "ZZ"}
    )
    assert (shown.status_code, refused.status_code) == (200, 422)
    for response in (shown, refused):
        text(response)
        assert "no-store" in response.headers.get("Cache-Control", "")


def audit_text(db: Session) -> str:
    """Every audit event's action, before and after, as stored (read from their JSON)."""
    db.rollback()
    events = db.execute(select(AuditEvent.action, AuditEvent.before, AuditEvent.after)).all()
    db.rollback()
    return "\n".join(
        f"{action} {json.loads(before)!r} {json.loads(after)!r}" for action, before, after in events
    )


def test_the_full_account_number_is_shown_by_the_reveal_alone(app: Flask, db: Session) -> None:
    """After finance looked at the details in full: the directory, the provider's pages,
    the payout screens, the audit trail as stored and as admins read it show the account
    masked, never in full; the reveal itself is in the trail."""
    world = build_security_world(app, db)
    visitors = clients(app, world)
    finance = visitors["finance"]
    provider = world.path("/finance/providers/{provider}")
    fields = form_fields(finance, provider, f"{provider}/bank/reveal")
    revealed = text(finance.post(f"{provider}/bank/reveal", data=fields))
    assert US_ACCOUNT in revealed

    directory = text(finance.get("/finance/providers?q=zoe"))
    page = text(finance.get(provider))
    assert "Dr Zoë Lee" in directory
    assert MASKED in page
    shown = [directory, page]
    for address in (
        "/finance/providers",
        "/finance/providers/{provider}/edit",
        "/finance/providers/{provider}/bank",
        "/finance/redemptions",
        "/finance/redemptions/{invoiced_redemption}",
        "/finance/payouts/batches",
        "/finance/funds/{fund}/payments",
        "/finance/statements/{statement}",
        "/finance/",
    ):
        response = finance.get(world.path(address))
        assert response.status_code == 200, address
        shown.append(text(response))
    admin = visitors["admin"]
    trail = text(admin.get(f"/admin/audit?object_type=provider&object_id={world.provider}"))
    assert "provider.bank_details_reveal" in trail
    assert "····6789" in trail
    shown += [trail, text(admin.get("/admin/audit"))]
    for body in shown:
        assert hidden(body)
        assert hidden(body, "9876543210"), "the fund's own account, shown in full"
    stored = audit_text(db)
    assert "····6789" in stored
    assert hidden(stored)


def whole_text(message: email.message.Message) -> str:
    """The headers and every part of ``message``, decoded."""
    parts = [str(value) for value in message.values()]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(parts)


def test_a_change_of_bank_details_is_told_and_audited_masked(app: Flask, db: Session) -> None:
    """Finance changes the provider's account through the form: the provider is emailed
    at the address held, the new account masked; neither the old nor the new number is
    in the email or in the audit trail."""
    world = build_security_world(app, db)
    finance = clients(app, world)["finance"]
    bank = world.path("/finance/providers/{provider}/bank")
    fields = form_fields(finance, bank)
    changed = finance.post(
        bank,
        data={
            **fields,
            "scheme": "us",
            "account_holder": "Dr Zoë Lee LCSW",
            "routing_number": "011000015",
            "account_number": NEW_ACCOUNT,
            "account_type": "checking",
        },
    )
    assert changed.status_code == 302
    db.rollback()
    provider = db.get_one(Provider, world.provider)
    assert provider.payouts_held is True
    assert read_bank_details(provider, data_keys(app)).account_number == NEW_ACCOUNT
    told = [m for m in outbox(app) if m["To"] == "zoe.lee@therapists.example.org"]
    assert len(told) == 1
    words = " ".join(whole_text(told[0]).split())
    assert "····3444" in words
    stored = audit_text(db)
    assert "····3444" in stored
    for body in (words, stored):
        assert hidden(body)
        assert hidden(body, NEW_ACCOUNT)


def test_the_bank_files_are_attachments_no_browser_sniffs_or_keeps(app: Flask, db: Session) -> None:
    world = build_security_world(app, db)
    finance = clients(app, world)["finance"]
    for kind, ending, content_type in (
        ("pain001", ".pain.001.xml", "application/xml"),
        ("nacha", ".ach.txt", "text/plain"),
    ):
        response = finance.get(f"/finance/batches/{world.batch}/{kind}")
        body = response.get_data()
        response.close()
        assert response.status_code == 200
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert disposition.endswith(f'{ending}"')
        assert response.mimetype == content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]
        assert US_ACCOUNT.encode() in body, "the bank needs the account in full"


# ------------------------------------------------------------------------------- booking


def booking(world: SecurityWorld, client: FlaskClient, wallet: int, provider: int) -> Any:
    """The booking form of ``wallet`` sent with ``provider`` and an invoice."""
    page = f"/wallet/{wallet}/redeem"
    fields = form_fields(client, page)
    return client.post(
        page,
        data={
            **fields,
            "provider_id": str(provider),
            "session_date": (TODAY - timedelta(days=2)).isoformat(),
            "amount": "80.00",
            "invoice": pdf_upload(),
        },
    )


def test_a_provider_someone_else_proposed_cannot_be_booked(app: Flask, db: Session) -> None:
    """Avery sends Olive's proposed provider as her choice: refused on the field, the
    provider's name not shown, and nothing written (but the refusal under its key), no
    invoice kept. Olive books the same provider."""
    world = build_security_world(app, db)
    avery = clients(app, world)["ambassador"]
    before, files = tally(db), stored_files(app)
    refused = booking(world, avery, world.own_wallet, world.proposed_provider)
    body = text(refused)
    assert refused.status_code == 422
    assert "Choose a provider from the list, or propose one." in body
    assert "Dr Olu Proposed" not in body
    assert unchanged_but_a_recorded_refusal(db, before) == []
    assert stored_files(app) == files

    olive = sign_in(app, world.emails["leaver"])
    booked = booking(world, olive, world.foreign_wallet, world.proposed_provider)
    assert booked.status_code == 302
    db.rollback()
    sessions = select(func.count()).where(Redemption.provider_id == world.proposed_provider)
    assert db.scalar(sessions) == 2


# ------------------------------------------------------------------------------- tokens

STATEMENT = (
    f"Date,Amount,Reference,Description\r\n{TODAY.isoformat()},-45.00,CSRF-CHECK-1,Card payment\r\n"
).encode()

UPLOADS: tuple[tuple[str, str, str, dict[str, Any], tuple[type[Any], ...]], ...] = (
    (
        "finance",
        "/finance/statements",
        "/finance/statements",
        {"file": "<statement file>", "currency": "USD"},
        (StatementImport, StatementLine),
    ),
    (
        "ambassador",
        "/wallet/{own_wallet}/redeem",
        "/wallet/{own_wallet}/redeem",
        {
            "provider_id": "{provider}",
            "session_date": (TODAY - timedelta(days=2)).isoformat(),
            "amount": "80.00",
            "invoice": "<invoice file>",
        },
        (Redemption, Document),
    ),
    (
        "ambassador",
        "/wallet/redemptions/{invoiced_redemption}",
        "/wallet/redemptions/{invoiced_redemption}/invoice",
        {"invoice": "<invoice file>"},
        (Document,),
    ),
)
"""The upload forms of paying providers: who sends them, the page showing the form, where
it posts, what fills it (``<invoice file>``: an invoice, ``<statement file>``: a statement
not imported yet), and the rows it writes."""


def files_in(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with fresh files in the fields that name one."""
    files = {
        "<invoice file>": (INVOICE, "invoice.pdf"),
        "<statement file>": (STATEMENT, "june.csv"),
    }
    return {
        name: (io.BytesIO(files[value][0]), files[value][1]) if value in files else value
        for name, value in data.items()
    }


def rows(db: Session, models: tuple[type[Any], ...]) -> list[int]:
    db.rollback()
    found = [db.scalar(select(func.count()).select_from(model)) or 0 for model in models]
    db.rollback()
    return found


def test_the_upload_forms_do_nothing_without_their_token_and_their_work_with_it(
    app: Flask, db: Session
) -> None:
    """Each upload form, filled in and sent multipart with its file, without a token, with
    a forged one and with another session's: 400 with the refusal, no row, no file. With
    its token, the same form writes its rows."""
    world = build_security_world(app, db)
    visitors = clients(app, world)
    stranger = token_of(app.test_client(), "anonymous")
    for role, page, action, usable, models in UPLOADS:
        client = visitors[role]
        target = world.path(action)
        fields = shown_form(client, world.path(page), target)
        assert fields["csrf_token"], f"no form to {action}"
        fields |= {name: world.path(value) for name, value in usable.items()}
        unsigned = {name: value for name, value in fields.items() if name != "csrf_token"}
        for attempt in ({}, {"csrf_token": "forged." + "A" * 40}, {"csrf_token": stranger}):
            counted, before, files = rows(db, models), snapshot(app, db), stored_files(app)
            response = client.post(target, data=files_in({**unsigned, **attempt}))
            assert response.status_code == 400, (action, attempt)
            assert REFUSAL in text(response)
            assert rows(db, models) == counted
            assert (snapshot(app, db), stored_files(app)) == (before, files)
        counted = rows(db, models)
        response = client.post(target, data=files_in(fields))
        body = text(response)
        assert response.status_code in (302, 303), (action, body)
        assert REFUSAL not in body
        assert rows(db, models) == [count + 1 for count in counted], action
