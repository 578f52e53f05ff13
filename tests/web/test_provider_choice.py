"""Booking a session with a provider from the directory, or proposing one, with the invoice;
the redeemer's session page and its invoices; and finance seeing the provider and the
invoices beside the request, approving without an invoice only with a reason."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants.domain import redemptions
from grants.domain.providers import fold
from grants.models import (
    AuditEvent,
    Document,
    Provider,
    ProviderKind,
    ProviderStatus,
    Redemption,
    RedemptionState,
    User,
)
from grants.web.documents import uploads_folder
from tests.factories import TODAY, World, build_world
from tests.support import csrf_token, form_fields, forms_on, sign_in, submit
from tests.wallets import INVOICE, balances, redeem_page, request_session

SESSION_DAY = (TODAY - timedelta(days=3)).isoformat()


@pytest.fixture
def world(db: Session) -> World:
    return build_world(db)


def add_provider(
    db: Session,
    name: str,
    *,
    status: ProviderStatus = ProviderStatus.VERIFIED,
    practice: str = "",
    city: str = "Nashville",
) -> int:
    """A provider in the directory, proposed and (unless ``status`` says otherwise)
    verified by finance."""
    finance = db.scalars(select(User).where(User.email == "finance@example.org")).one()
    now = datetime.now(UTC)
    provider = Provider(
        kind=ProviderKind.PERSON,
        name=name,
        practice=practice,
        country="US",
        city=city,
        licence_type="LCSW",
        search_name=fold(f"{name} {practice}"),
        search_city=fold(city),
        status=status,
        proposed_by_id=finance.id,
        proposed_at=now,
        verified_by_id=finance.id if status is ProviderStatus.VERIFIED else None,
        verified_at=now if status is ProviderStatus.VERIFIED else None,
        suspension_reason="Licence lapsed" if status is ProviderStatus.SUSPENDED else "",
    )
    db.add(provider)
    db.commit()
    return provider.id


def rows(db: Session, *models: type[Any]) -> tuple[int, ...]:
    """How many rows each model has."""
    db.rollback()
    found = tuple(db.scalar(select(func.count()).select_from(model)) or 0 for model in models)
    db.commit()
    return found


def stored_files(app: Flask) -> list[str]:
    """The files in the uploads folder (temporary ones included)."""
    with app.test_request_context():
        folder = uploads_folder()
    return sorted(path.name for path in folder.iterdir())


def book(client: FlaskClient, wallet_id: int, changes: dict[str, Any], query: str = "") -> Any:
    """Post the booking form shown at the redeem page (after ``query``, a search) with
    ``changes``, as a browser sends it."""
    url = redeem_page(wallet_id) + query
    data = {**form_fields(client, url), "session_date": SESSION_DAY, "amount": "80", **changes}
    return client.post(url, data=data, content_type="multipart/form-data")


PROPOSAL = {
    "provider_kind": "person",
    "provider_name": "Dr Ana Núñez",
    "provider_practice": "Eastside Counselling",
    "provider_city": "Memphis",
    "provider_country": "US",
    "provider_email": "ana@example.org",
    "provider_licence_type": "LPC",
}


def only_redemption(db: Session) -> Redemption:
    db.rollback()
    found = db.scalars(select(Redemption)).one()
    db.commit()
    return found


# --- choosing a provider ---------------------------------------------------------------------


def test_the_search_finds_verified_providers_ignoring_accents_and_nobody_else(
    app: Flask, db: Session, world: World
) -> None:
    zoe = add_provider(db, "Dr Zoë Lee", practice="Music Row Therapy")
    proposed = add_provider(db, "Zoe Proposed", status=ProviderStatus.PROPOSED)
    suspended = add_provider(db, "Zoe Suspended", status=ProviderStatus.SUSPENDED)
    add_provider(db, "Zoe Elsewhere", city="Austin")
    client = sign_in(app, world.avery)

    page = client.get(redeem_page(world.avery_wallet) + "?q=ZOE+lee&city=nash").get_data(
        as_text=True
    )
    assert f'name="provider_id" value="{zoe}"' in page
    assert "Dr Zoë Lee" in page
    assert "Music Row Therapy · Nashville · LCSW" in page
    assert 'value="ZOE lee"' in page, "the search is shown as typed"
    for hidden in (proposed, suspended):
        assert f'name="provider_id" value="{hidden}"' not in page
    assert "Zoe Elsewhere" not in page, "another city"

    everyone = client.get(redeem_page(world.avery_wallet) + "?q=zoe").get_data(as_text=True)
    assert page.count('name="provider_id"') == 1
    assert everyone.count('name="provider_id"') == 2
    assert "Zoe Proposed" not in everyone
    assert "Zoe Suspended" not in everyone
    [booking] = [
        action
        for action, fields in forms_on(client, redeem_page(world.avery_wallet) + "?q=zoe")
        if "key" in fields
    ]
    assert booking == f"{redeem_page(world.avery_wallet)}?q=zoe", "a refusal lists them again"

    nobody = client.get(redeem_page(world.avery_wallet) + "?q=nobody").get_data(as_text=True)
    assert "No verified provider matches “nobody”" in nobody
    assert '<details class="proposal" open>' in nobody


def test_booking_with_a_chosen_provider_keeps_their_id_and_name(
    app: Flask, db: Session, world: World
) -> None:
    zoe = add_provider(db, "Dr Zoë Lee", practice="Music Row Therapy")
    client = sign_in(app, world.avery)
    response = book(client, world.avery_wallet, {"provider_id": str(zoe)}, "?q=zoe")
    assert response.status_code == 302
    assert response.headers["Location"] == "/wallet/"
    redemption = only_redemption(db)
    assert (redemption.provider_id, redemption.provider_name) == (
        zoe,
        "Dr Zoë Lee (Music Row Therapy)",
    )
    assert (redemption.amount, redemption.state) == (8_000, RedemptionState.REQUESTED)
    assert balances(db, world.avery_wallet) == (52_000, 8_000)
    told = client.get("/wallet/").get_data(as_text=True)
    assert "Your request is with finance." in told
    assert "Add the invoice or receipt from the session&#39;s page when you have it." in told


def test_choosing_from_the_list_and_describing_another_is_refused(
    app: Flask, db: Session, world: World
) -> None:
    zoe = add_provider(db, "Dr Zoë Lee")
    client = sign_in(app, world.avery)
    before = rows(db, Provider, Redemption)
    response = book(client, world.avery_wallet, {"provider_id": str(zoe), **PROPOSAL}, "?q=zoe")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="provider_id-error"' in page
    assert "keep one of them" in page
    assert f'value="{zoe}" checked' in page, "the choice is kept"
    assert rows(db, Provider, Redemption) == before


# --- proposing one ----------------------------------------------------------------------------


def test_booking_with_a_proposal_adds_the_provider_and_the_session_together(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    form = client.get(redeem_page(world.avery_wallet)).get_data(as_text=True)
    assert "waits for finance to verify them before it is paid" in form
    assert '<option selected value="US">United States</option>' in form

    response = book(client, world.avery_wallet, PROPOSAL)
    assert response.status_code == 302
    db.rollback()
    provider = db.scalars(select(Provider)).one()
    avery = db.scalars(select(User).where(User.email == world.avery)).one()
    assert provider.status is ProviderStatus.PROPOSED
    assert provider.proposed_by_id == avery.id
    assert (provider.name, provider.practice, provider.city) == (
        "Dr Ana Núñez",
        "Eastside Counselling",
        "Memphis",
    )
    assert (provider.country, provider.email, provider.licence_type) == (
        "US",
        "ana@example.org",
        "LPC",
    )
    redemption = only_redemption(db)
    assert redemption.provider_id == provider.id
    assert redemption.provider_name == "Dr Ana Núñez (Eastside Counselling)"
    told = client.get("/wallet/").get_data(as_text=True)
    assert (
        "Finance verifies Dr Ana Núñez (Eastside Counselling) before the session is paid." in told
    )

    detail = client.get(f"/wallet/redemptions/{redemption.id}").get_data(as_text=True)
    assert "Waiting for finance to verify this provider" in detail


def test_a_refused_booking_with_a_proposal_writes_neither(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    before = rows(db, Provider, Redemption, AuditEvent)

    over = book(client, world.avery_wallet, {**PROPOSAL, "amount": "600.01"})
    assert over.status_code == 409
    assert "There is not enough available credit for this." in over.get_data(as_text=True)
    assert rows(db, Provider, Redemption, AuditEvent) == before

    outside = book(client, world.avery_wallet, {**PROPOSAL, "session_date": "2001-01-01"})
    assert outside.status_code == 422
    assert "The session must fall within the plan year" in outside.get_data(as_text=True)
    assert rows(db, Provider, Redemption, AuditEvent) == before

    country = book(client, world.avery_wallet, {**PROPOSAL, "provider_country": "XX"})
    page = country.get_data(as_text=True)
    assert country.status_code == 422
    assert re.search(
        r'id="provider_country-error">Choose the country the provider practises in\.<', page
    )
    assert '<details class="proposal" open>' in page
    assert 'value="Dr Ana Núñez"' in page, "what was typed is kept"
    assert rows(db, Provider, Redemption, AuditEvent) == before
    assert balances(db, world.avery_wallet) == (60_000, 0)

    assert book(client, world.avery_wallet, PROPOSAL).status_code == 302
    assert rows(db, Provider, Redemption) == (1, 1)


def test_a_resubmitted_booking_proposes_books_and_stores_its_invoice_once(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    url = redeem_page(world.avery_wallet)
    fields = {**form_fields(client, url), **PROPOSAL, "session_date": SESSION_DAY, "amount": "80"}
    for _ in range(2):
        data = {**fields, "invoice": (io.BytesIO(INVOICE), "invoice.pdf")}
        assert client.post(url, data=data, content_type="multipart/form-data").status_code == 302
    assert rows(db, Provider, Redemption, Document) == (1, 1, 1)
    assert len(stored_files(app)) == 1
    assert "This request was already sent" in client.get("/wallet/").get_data(as_text=True)


# --- the invoice ------------------------------------------------------------------------------


def test_an_invoice_given_with_the_booking_is_for_the_redeemer_and_finance_only(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    assert request_session(client, world.avery_wallet).status_code == 302
    redemption = only_redemption(db)
    document = db.scalars(select(Document)).one()
    assert (document.redemption_id, document.partner_id) == (redemption.id, None)
    assert (document.filename, document.content_type) == ("invoice.pdf", "application/pdf")
    db.commit()

    download = f"/documents/{document.id}"
    mine = client.get(download, buffered=True)
    assert (mine.status_code, mine.data) == (200, INVOICE)
    finance = sign_in(app, world.finance)
    assert finance.get(download, buffered=True).data == INVOICE
    for outsider in (world.other, world.manager):
        assert sign_in(app, outsider).get(download).status_code == 404, outsider

    detail = client.get(f"/wallet/redemptions/{redemption.id}").get_data(as_text=True)
    assert f'href="{download}">invoice.pdf</a>' in detail
    review = finance.get(f"/finance/redemptions/{redemption.id}").get_data(as_text=True)
    assert f'href="{download}">invoice.pdf</a>' in review
    assert "Verified" in review


def test_a_file_that_is_not_an_invoice_is_refused_and_nothing_is_kept(
    app: Flask, db: Session, world: World
) -> None:
    zoe = add_provider(db, "Dr Zoë Lee")
    client = sign_in(app, world.avery)
    before = rows(db, Provider, Redemption, Document, AuditEvent)
    texts = {
        b"Session on Tuesday with Dr Lee. Eighty dollars.": "An invoice or receipt must be a PDF",
        b"date,amount\n2026-05-01,80\n": "An invoice or receipt must be a PDF, or a photo",
    }
    for choice in ({"provider_id": str(zoe)}, PROPOSAL):
        for content, message in texts.items():
            fake = (io.BytesIO(content), "invoice.pdf")
            response = book(client, world.avery_wallet, {**choice, "invoice": fake}, "?q=zoe")
            page = response.get_data(as_text=True)
            assert response.status_code == 422
            assert f'id="invoice-error">{message}' in page
            assert rows(db, Provider, Redemption, Document, AuditEvent) == before
            assert stored_files(app) == []
    assert balances(db, world.avery_wallet) == (60_000, 0)


def test_an_invoice_is_added_later_from_the_session_page_until_finance_decides(
    app: Flask, db: Session, world: World
) -> None:
    client = sign_in(app, world.avery)
    assert request_session(client, world.avery_wallet, invoice="").status_code == 302
    redemption = only_redemption(db)
    page_url = f"/wallet/redemptions/{redemption.id}"
    action = f"/wallet/redemptions/{redemption.id}/invoice"
    page = client.get(page_url).get_data(as_text=True)
    assert "None yet." in page
    assert rows(db, Document) == (0,)

    empty = submit(client, page_url, {}, action=action)
    assert empty.status_code == 422
    assert "Choose the invoice or receipt to upload." in empty.get_data(as_text=True)
    stranger = sign_in(app, world.other)
    theirs = stranger.post(
        action,
        data={
            "csrf_token": csrf_token(stranger, "/wallet/"),
            "key": "stranger-1",
            "invoice": (io.BytesIO(INVOICE), "invoice.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert theirs.status_code == 404
    assert rows(db, Document) == (0,)

    fields = form_fields(client, page_url, action)
    added = upload(client, action, fields, "Receipt May.pdf")
    assert (added.status_code, added.headers["Location"]) == (302, page_url)
    document = db.scalars(select(Document)).one()
    assert document.redemption_id == redemption.id
    db.commit()
    page = client.get(page_url).get_data(as_text=True)
    assert "Receipt May.pdf is added to the session" in page
    assert f'href="/documents/{document.id}">Receipt May.pdf</a>' in page

    stale = form_fields(client, page_url, action)
    finance = db.scalars(select(User).where(User.email == world.finance)).one()
    redemptions.approve_redemption(
        db, key="approve-1", actor=finance, redemption_id=redemption.id, now=datetime.now(UTC)
    )
    db.commit()
    page = client.get(page_url).get_data(as_text=True)
    assert action not in page, "no upload once finance has decided"
    late = upload(client, action, stale, "late.pdf")
    assert late.status_code == 409
    assert "Finance has decided this session (approved)" in late.get_data(as_text=True)
    assert rows(db, Document) == (1,)
    assert len(stored_files(app)) == 1


def upload(client: FlaskClient, action: str, fields: dict[str, str], name: str) -> TestResponse:
    data = {**fields, "invoice": (io.BytesIO(INVOICE), name)}
    return client.post(action, data=data, content_type="multipart/form-data")


# --- finance ------------------------------------------------------------------------------------


def review(client: FlaskClient, redemption_id: int) -> str:
    return client.get(f"/finance/redemptions/{redemption_id}").get_data(as_text=True)


def approve(
    client: FlaskClient, redemption_id: int, changes: dict[str, str] | None = None
) -> TestResponse:
    url = f"/finance/redemptions/{redemption_id}"
    return submit(client, url, changes or {}, action=f"{url}/approve")


def test_approving_without_an_invoice_needs_a_reason_on_its_field(
    app: Flask, db: Session, world: World
) -> None:
    ambassador = sign_in(app, world.avery)
    assert request_session(ambassador, world.avery_wallet, invoice="").status_code == 302
    redemption = only_redemption(db)
    finance = sign_in(app, world.finance)

    queue = finance.get("/finance/redemptions").get_data(as_text=True)
    assert "No invoice: review to approve" in queue
    assert f"/finance/redemptions/{redemption.id}/approve" not in queue
    page = review(finance, redemption.id)
    assert "None, though this fund asks for one." in page
    assert "Approve without an invoice because" in page

    before = rows(db, AuditEvent)
    refused = approve(finance, redemption.id)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert re.search(r'id="invoice_waiver-error">There is no invoice or receipt', page)
    assert 'aria-invalid="true"' in page
    assert rows(db, AuditEvent) == before
    assert only_redemption(db).state is RedemptionState.REQUESTED

    waiver = "Receipt seen on a call; the clinic's scanner is broken"
    assert approve(finance, redemption.id, {"invoice_waiver": waiver}).status_code == 302
    approved = only_redemption(db)
    assert (approved.state, approved.invoice_waiver) == (RedemptionState.APPROVED, waiver)
    page = review(finance, redemption.id)
    assert "Approved without an invoice because" in page
    assert "Receipt seen on a call; the clinic&#39;s scanner is broken" in page


def test_a_session_with_a_proposed_provider_waits_for_them_to_be_verified(
    app: Flask, db: Session, world: World
) -> None:
    ambassador = sign_in(app, world.avery)
    assert book(ambassador, world.avery_wallet, PROPOSAL).status_code == 302
    redemption = only_redemption(db)
    finance = sign_in(app, world.finance)

    queue = finance.get("/finance/redemptions").get_data(as_text=True)
    assert "Verify the provider first" in queue
    assert '<span class="status status-requested">Proposed</span>' in queue
    assert f"/finance/redemptions/{redemption.id}/approve" not in queue
    page = review(finance, redemption.id)
    assert (
        "Dr Ana Núñez (Eastside Counselling) is not verified yet; verify the provider first."
        in page
    )
    assert "Approve payout" not in page
    assert "Memphis, US · LPC" in page
    if "finance.provider" in app.view_functions:
        assert f'href="/finance/providers/{redemption.provider_id}"' in page

    before = rows(db, AuditEvent)
    stale = form_fields(finance, "/finance/redemptions", "/logout")
    refused = finance.post(
        f"/finance/redemptions/{redemption.id}/approve",
        data={"csrf_token": stale["csrf_token"], "key": "approve-proposed"},
    )
    assert refused.status_code == 409
    assert "is not verified yet; verify the provider first." in refused.get_data(as_text=True)
    assert rows(db, AuditEvent) == before
    assert only_redemption(db).state is RedemptionState.REQUESTED


def test_finance_sees_each_provider_standing_and_the_invoices_in_the_queue(
    app: Flask, db: Session, world: World
) -> None:
    ambassador = sign_in(app, world.avery)
    assert request_session(ambassador, world.avery_wallet, amount="50").status_code == 302
    zoe = add_provider(db, "Dr Zoë Lee")
    assert (
        book(ambassador, world.avery_wallet, {"provider_id": str(zoe)}, "?q=zoe").status_code == 302
    )
    db.execute(Provider.__table__.update().where(Provider.id == zoe).values(payouts_held=True))
    db.commit()
    finance = sign_in(app, world.finance)
    queue = finance.get("/finance/redemptions").get_data(as_text=True)
    assert '<span class="status status-approved">Verified</span>' in queue
    assert '<span class="status status-submitted">Payouts held</span>' in queue
    assert "1 file" in queue
    assert "Payouts held: not payable now" in queue
    assert queue.count('action="/finance/redemptions/') == 1, "only the payable one"
