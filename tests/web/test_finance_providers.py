"""Finance's directory of therapy providers through the screens: searching it, adding a
provider, verifying, suspending, giving and changing bank details (the hold, the email to the
provider, the second member of finance), seeing the details in full, stale forms, and who
may reach what."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants.data_key import data_keys
from grants.domain.provider_bank import set_bank_details
from grants.domain.providers import ProviderDetails, propose_provider, update_provider
from grants.models import AuditEvent, OutboxMessage, Provider, ProviderStatus, Role
from grants.payments.bank_details import check_us
from grants.provider_mail import SUBJECT, bank_details_changed
from tests.factories import make_ambassador, make_user
from tests.support import csrf_token, form_fields, sign_in, submit
from tests.wallets import body_of, outbox

NOW = datetime(2026, 6, 1, 14, 30, tzinfo=UTC)
DIRECTORY = "/finance/providers"
US_BANK = {
    "scheme": "us",
    "account_holder": "Zoe Lee LCSW",
    "routing_number": "011000015",
    "account_number": "000123456789",
    "account_type": "checking",
}
LICENCE = {
    "licence_type": "LCSW",
    "licence_number": "LCSW-4411",
    "licence_issuer": "Tennessee Board of Social Work",
}


def page_of(provider_id: int) -> str:
    return f"{DIRECTORY}/{provider_id}"


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)


class Directory:
    """Two members of finance and a way to put providers in the directory directly."""

    def __init__(self, app: Flask, db: Session) -> None:
        self.app, self.db = app, db
        self.finance = make_user(db, Role.FINANCE, email="frankie@example.org", name="Frankie")
        self.second = make_user(db, Role.FINANCE, email="sam@example.org", name="Sam Second")
        self.keys = 0

    def propose(self, name: str, city: str = "Nashville", **extra: str) -> int:
        self.keys += 1
        receipt = propose_provider(
            self.db,
            key=f"propose-{self.keys}",
            actor=self.finance,
            details=ProviderDetails(kind="person", name=name, country="US", city=city, **extra),
            now=NOW,
        )
        assert receipt.object_id is not None
        return receipt.object_id

    def bank(self, provider_id: int, account: str = "000123456789") -> None:
        set_bank_details(
            self.db,
            actor=self.finance,
            provider_id=provider_id,
            details=check_us(
                account_holder="Zoe Lee LCSW",
                routing_number="011000015",
                account_number=account,
                account_type="checking",
            ),
            keys=data_keys(self.app),
            version=None,
            now=NOW,
        )

    def provider(self, provider_id: int) -> Provider:
        self.db.rollback()
        found = self.db.get_one(Provider, provider_id)
        self.db.refresh(found)
        return found

    def audits(self, action: str) -> int:
        self.db.rollback()
        count = self.db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )
        self.db.commit()
        return count or 0


@pytest.fixture
def directory(app: Flask, db: Session) -> Directory:
    made = Directory(app, db)
    db.commit()
    return made


@pytest.fixture
def finance(app: Flask, directory: Directory) -> FlaskClient:
    return sign_in(app, directory.finance.email)


def verify(client: FlaskClient, provider_id: int) -> TestResponse:
    action = f"{page_of(provider_id)}/verify"
    return submit(client, page_of(provider_id), {}, action=action)


def give_bank(client: FlaskClient, provider_id: int, **changes: str) -> TestResponse:
    return submit(client, f"{page_of(provider_id)}/bank", {**US_BANK, **changes})


def error_on(page: str, field: str) -> str:
    """The error message shown under ``field`` on ``page``."""
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    assert match, f"no error on {field}"
    return match.group(1)


# --- the directory ---------------------------------------------------------------------------


def test_the_directory_searches_without_accents_by_city_prefix_and_status(
    directory: Directory, finance: FlaskClient
) -> None:
    zoe = directory.propose("Dr Zoë Lee", practice="Music Row Therapy", email="zoe@example.org")
    directory.propose("Sam Patel", city="London")
    directory.propose("Ana Nashe", city="Memphis")
    held = directory.propose("Calm Minds Clinic", city="Nashville", email="calm@example.org")
    directory.bank(held)
    directory.bank(held, account="000999888777")
    directory.db.commit()

    def names(query: str) -> list[str]:
        page = text_of(finance.get(f"{DIRECTORY}?{query}"))
        return re.findall(r'<a href="/finance/providers/\d+">([^<]+)</a>', page)

    assert names("q=zoe") == ["Dr Zoë Lee"]
    assert names("q=ZOE+music") == ["Dr Zoë Lee"], "every word, in name or practice"
    assert names("q=zoe+jazz") == []
    assert names("city=nash&sort=name") == ["Calm Minds Clinic", "Dr Zoë Lee"]
    assert names("status=held") == ["Calm Minds Clinic"]
    assert names("status=verified") == []
    assert names("status=nonsense&sort=name") == [
        "Ana Nashe",
        "Calm Minds Clinic",
        "Dr Zoë Lee",
        "Sam Patel",
    ]
    assert names("") == ["Calm Minds Clinic", "Ana Nashe", "Sam Patel", "Dr Zoë Lee"]

    listing = finance.get(DIRECTORY)
    assert listing.headers["Cache-Control"] == "no-store"
    page = text_of(listing)
    assert "Payouts held" in page
    assert "Routing 011000015 · Checking ····8777" in page
    assert "000999888777" not in page
    assert re.search(r'stat-value">4</span><span class="stat-label">proposed', page)
    assert re.search(r'stat-value">1</span><span class="stat-label">with payouts held', page)
    assert "No provider matches that search." in text_of(finance.get(f"{DIRECTORY}?q=nobody"))
    dashboard = text_of(finance.get("/finance/"))
    assert "4 providers wait for verification or a bank change to confirm." in dashboard
    assert f'href="{DIRECTORY}"' in dashboard
    assert page_of(zoe) in text_of(finance.get(f"{DIRECTORY}?q=Zo%C3%AB"))


def test_adding_a_provider_shows_it_proposed_and_a_resubmission_adds_nothing(
    directory: Directory, finance: FlaskClient
) -> None:
    fields = form_fields(finance, f"{DIRECTORY}/new")
    refused = finance.post(f"{DIRECTORY}/new", data={**fields, "name": "  ", "country": "US"})
    assert refused.status_code == 422
    assert error_on(text_of(refused), "name") == "Enter the provider&#39;s name."
    fields = form_fields(finance, f"{DIRECTORY}/new")
    data = {
        **fields,
        "kind": "person",
        "name": "Dr Zoë Lee",
        "practice": "Music Row Therapy",
        "country": "US",
        "city": "Nashville",
        "region": "TN",
    }
    added = finance.post(f"{DIRECTORY}/new", data=data)
    assert added.status_code == 302
    provider = directory.db.scalars(select(Provider)).one()
    assert added.headers["Location"] == page_of(provider.id)
    assert provider.status is ProviderStatus.PROPOSED
    assert provider.proposed_by_id == directory.finance.id
    page = text_of(finance.get(page_of(provider.id)))
    assert "The provider was added as proposed." in page
    assert '<span class="status status-proposed">Proposed</span>' in page
    assert "by Frankie" in page
    assert "No bank details yet" in page

    again = finance.post(f"{DIRECTORY}/new", data=data)
    assert again.headers["Location"] == page_of(provider.id)
    directory.db.rollback()
    assert directory.db.scalar(select(func.count()).select_from(Provider)) == 1


def test_verifying_names_what_is_missing_until_the_licence_email_and_bank_are_in(
    directory: Directory, finance: FlaskClient
) -> None:
    provider_id = directory.propose("Dr Zoë Lee")
    directory.db.commit()
    refused = verify(finance, provider_id)
    assert refused.status_code == 422
    assert (
        "Before verifying Dr Zoë Lee, add the licence type, the licence number, who issued the "
        "licence, an email address and bank details." in text_of(refused)
    )
    assert directory.provider(provider_id).status is ProviderStatus.PROPOSED

    edit = f"{page_of(provider_id)}/edit"
    assert submit(finance, edit, {**LICENCE, "email": "Zoe@Example.org"}).status_code == 302
    refused = verify(finance, provider_id)
    assert "Before verifying Dr Zoë Lee, add bank details." in text_of(refused)
    assert give_bank(finance, provider_id).status_code == 302
    given = directory.provider(provider_id)
    assert given.bank_summary == "Routing 011000015 · Checking ····6789"
    assert given.payouts_held is False, "details given for the first time hold nothing"

    assert verify(finance, provider_id).status_code == 302
    verified = directory.provider(provider_id)
    assert verified.status is ProviderStatus.VERIFIED
    assert verified.verified_by_id == directory.finance.id
    assert verified.email == "zoe@example.org"
    page = text_of(finance.get(page_of(provider_id)))
    assert "Dr Zoë Lee is verified" in page
    assert '<span class="status status-verified">Verified</span>' in page
    assert "LCSW LCSW-4411" in page
    assert f"{page_of(provider_id)}/verify" not in page


def test_suspending_needs_a_reason_which_the_page_then_shows(
    directory: Directory, finance: FlaskClient
) -> None:
    provider_id = directory.propose("Dr Zoë Lee")
    directory.db.commit()
    action = f"{page_of(provider_id)}/suspend"
    refused = submit(finance, page_of(provider_id), {"reason": " "}, action=action)
    assert refused.status_code == 422
    assert error_on(text_of(refused), "reason") == "Enter why."
    assert directory.provider(provider_id).status is ProviderStatus.PROPOSED
    reason = "Licence lapsed on the board's register."
    assert (
        submit(finance, page_of(provider_id), {"reason": reason}, action=action).status_code == 302
    )
    assert directory.provider(provider_id).status is ProviderStatus.SUSPENDED
    page = text_of(finance.get(page_of(provider_id)))
    assert reason.replace("'", "&#39;") in page
    assert action not in page


# --- bank details ------------------------------------------------------------------------------


def test_a_bad_routing_number_is_shown_on_its_field_and_nothing_is_stored(
    directory: Directory, finance: FlaskClient
) -> None:
    provider_id = directory.propose("Dr Zoë Lee")
    directory.db.commit()
    refused = give_bank(finance, provider_id, routing_number="011000016")
    assert refused.status_code == 422
    assert refused.headers["Cache-Control"] == "no-store"
    assert error_on(text_of(refused), "routing_number") == (
        "The routing number 011000016 fails its check digit; check it against a cheque or the "
        "bank&#39;s letter."
    )
    refused_uk = give_bank(
        finance, provider_id, scheme="gb", sort_code="20-00-00", gb_account_number="12345"
    )
    assert refused_uk.status_code == 422
    assert "A UK account number" in error_on(text_of(refused_uk), "gb_account_number")
    refused_iban = give_bank(
        finance, provider_id, scheme="iban", iban="DE89 3704 0044 0532 0130 01"
    )
    assert "check digits" in error_on(text_of(refused_iban), "iban")
    stored = directory.provider(provider_id)
    assert stored.bank_details is None
    assert stored.bank_summary == ""
    assert directory.audits("provider.bank_details_give") == 0

    assert (
        give_bank(
            finance, provider_id, scheme="iban", iban="de89 3704 0044 0532 0130 00", bic=""
        ).status_code
        == 302
    )
    assert directory.provider(provider_id).bank_summary == "IBAN DE89 ···· 3000"


def test_a_change_holds_payouts_emails_the_provider_and_needs_another_member(
    app: Flask, directory: Directory, finance: FlaskClient
) -> None:
    provider_id = directory.propose("Dr Zoë Lee", email="zoe@example.org")
    directory.bank(provider_id)
    directory.db.commit()
    form_page = text_of(finance.get(f"{page_of(provider_id)}/bank"))
    assert (
        "Changing them holds this provider's payouts until another member of finance "
        "confirms, and emails the provider at zoe@example.org." in form_page
    )

    assert give_bank(finance, provider_id, account_number="55501234").status_code == 302
    changed = directory.provider(provider_id)
    assert changed.payouts_held is True
    assert changed.bank_summary == "Routing 011000015 · Checking ····1234"
    page = text_of(finance.get(page_of(provider_id)))
    assert '<span class="badge badge-urgent">Payouts held</span>' in page
    assert "Payouts held" in text_of(finance.get(DIRECTORY))

    emails = [m for m in outbox(app) if m["To"] == "zoe@example.org"]
    assert len(emails) == 1
    email = emails[0]
    assert email["Subject"] == SUBJECT
    text = " ".join(body_of(email.get_payload()[0]).split())
    assert "Routing 011000015 · Checking ····1234" in text
    assert "55501234" not in text
    assert re.search(r"were changed on \w{3} \d+, 2\d{3}, \d+:\d\d [AP]M E[DS]T", text), text
    assert "contact the Heart & Soul Funding finance team before any payment is made" in text

    own = submit(finance, page_of(provider_id), {}, action=f"{page_of(provider_id)}/bank/confirm")
    assert own.status_code == 403
    assert (
        "You changed these bank details; another member of finance must confirm them."
        in text_of(own)
    )
    assert directory.provider(provider_id).payouts_held is True

    second = sign_in(app, directory.second.email)
    confirmed = submit(
        second, page_of(provider_id), {}, action=f"{page_of(provider_id)}/bank/confirm"
    )
    assert confirmed.status_code == 302
    assert directory.provider(provider_id).payouts_held is False
    assert directory.audits("provider.bank_details_confirm") == 1
    assert "Payouts held" not in text_of(second.get(page_of(provider_id)))


def test_the_email_is_not_rendered_once_the_provider_is_gone(app: Flask, db: Session) -> None:
    payload = {
        "provider": 987654,
        "summary": "IBAN DE89 ···· 3000",
        "changed_at": NOW.isoformat(),
        "to": "gone@example.org",
    }
    assert bank_details_changed(db, payload, NOW) is None


def test_showing_the_full_details_is_audited_and_kept_by_no_browser(
    directory: Directory, finance: FlaskClient
) -> None:
    provider_id = directory.propose("Dr Zoë Lee", email="zoe@example.org")
    directory.bank(provider_id)
    directory.db.commit()
    page = finance.get(page_of(provider_id))
    assert page.headers["Cache-Control"] == "no-store"
    assert "000123456789" not in text_of(page)
    assert directory.audits("provider.bank_details_reveal") == 0

    action = f"{page_of(provider_id)}/bank/reveal"
    revealed = submit(finance, page_of(provider_id), {}, action=action)
    assert revealed.status_code == 200
    assert revealed.headers["Cache-Control"] == "no-store"
    shown = text_of(revealed)
    assert "<code>000123456789</code>" in shown
    assert "<code>011000015</code>" in shown
    assert directory.audits("provider.bank_details_reveal") == 1
    assert "000123456789" not in text_of(finance.get(page_of(provider_id)))
    assert finance.get(f"{page_of(provider_id)}/bank").headers["Cache-Control"] == "no-store"

    bare = directory.propose("Sam Patel")
    directory.db.commit()
    fields = form_fields(finance, page_of(bare), f"{page_of(bare)}/verify")
    refused = finance.post(f"{page_of(bare)}/bank/reveal", data=fields)
    assert refused.status_code == 409
    assert "There are no bank details to show." in text_of(refused)


# --- stale forms and who may come in --------------------------------------------------------


def test_a_form_opened_before_someone_else_saved_is_refused(
    directory: Directory, finance: FlaskClient
) -> None:
    provider_id = directory.propose("Dr Zoë Lee", email="zoe@example.org")
    directory.db.commit()
    edit = f"{page_of(provider_id)}/edit"
    stale_edit = form_fields(finance, edit)
    stale_bank = form_fields(finance, f"{page_of(provider_id)}/bank")
    assert stale_edit["name"] == "Dr Zoë Lee"
    assert stale_edit["country"] == "US"
    update_provider(
        directory.db,
        actor=directory.second,
        provider_id=provider_id,
        details=ProviderDetails(kind="person", name="Dr Zoë Lee-Park", country="US"),
        version=None,
        now=NOW,
    )
    directory.db.commit()

    refused = finance.post(edit, data={**stale_edit, "city": "Memphis"})
    assert refused.status_code == 409
    assert "Someone changed this provider after you opened the form" in text_of(refused)
    assert "Open the form again with the current details" in text_of(refused)
    refused = finance.post(f"{page_of(provider_id)}/bank", data={**stale_bank, **US_BANK})
    assert refused.status_code == 409
    assert "Someone changed this provider after you opened the form" in text_of(refused)
    kept = directory.provider(provider_id)
    assert (kept.name, kept.city, kept.bank_details) == ("Dr Zoë Lee-Park", "", None)
    assert submit(finance, edit, {"city": "Memphis"}).status_code == 302
    assert directory.provider(provider_id).city == "Memphis"


@pytest.mark.parametrize("role", [Role.AMBASSADOR, Role.MANAGER, Role.ADMIN])
def test_only_finance_reaches_the_directory(
    app: Flask, db: Session, directory: Directory, role: Role
) -> None:
    provider_id = directory.propose("Dr Zoë Lee", email="zoe@example.org")
    directory.bank(provider_id)
    if role is Role.AMBASSADOR:
        email = make_ambassador(db, email="amb@example.org").user.email
    else:
        email = make_user(db, role).email
    db.commit()
    other = sign_in(app, email)
    page = page_of(provider_id)
    token = {"csrf_token": csrf_token(other, "/account"), "key": "k", "version": "1"}
    reads = [DIRECTORY, f"{DIRECTORY}/new", page, f"{page}/edit", f"{page}/bank"]
    writes = [
        f"{DIRECTORY}/new",
        f"{page}/edit",
        f"{page}/bank",
        f"{page}/verify",
        f"{page}/suspend",
        f"{page}/bank/reveal",
        f"{page}/bank/confirm",
    ]
    for path in reads:
        assert other.get(path).status_code == 403, path
    for path in writes:
        assert other.post(path, data={**token, "reason": "x"}).status_code == 403, path
    assert app.test_client().get(DIRECTORY).status_code == 302
    assert directory.audits("provider.bank_details_reveal") == 0
    assert directory.provider(provider_id).status is ProviderStatus.PROPOSED
    db.rollback()
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0
