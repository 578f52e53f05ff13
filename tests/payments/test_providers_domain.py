"""The provider directory, bank details and invoices in the domain: who may propose, how
search reads its text, what verification needs, what suspension and a change of bank
details stop, and who may add and read an invoice. Every refusal leaves the tables as they
were."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.data_key import (
    KEY_FILE,
    DataKeyError,
    add_key,
    data_keys,
    decrypt,
    generate_key,
    load_keys,
)
from grants.domain.documents import readable_document, uploads_folder
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.invoices import MAX_INVOICES, attach_invoice_once, invoices_of
from grants.domain.payment_files import set_payer
from grants.domain.provider_bank import (
    confirm_bank_details,
    reveal_bank_details,
    rotate_tokens,
    set_bank_details,
)
from grants.domain.providers import (
    bookable,
    propose_provider,
    search_providers,
    suspend_provider,
    update_provider,
    verify_provider,
)
from grants.domain.redemptions import reject_redemption
from grants.models import (
    AuditEvent,
    Document,
    Fund,
    Provider,
    ProviderStatus,
    Redemption,
    RedemptionState,
    Role,
)
from tests.factories import make_ambassador, make_user
from tests.payments.builders import (
    LICENCE,
    Payments,
    audit_actions,
    balances,
    counts,
    details,
    docx,
    refusals_recorded,
    us_bank,
)
from tests.payments.test_provider_payments import NOW, PDF, told_provider


@pytest.fixture
def run(app: Flask, db: Session) -> Payments:
    return Payments(app, db)


def names(providers: list[Provider]) -> list[str]:
    return [provider.name for provider in providers]


# --- proposing and searching -----------------------------------------------------------------


def test_a_bad_country_name_or_email_or_a_manager_proposing_is_refused_writing_nothing(
    run: Payments, db: Session
) -> None:
    before = counts(db), refusals_recorded(db)
    for changes, field in (
        ({"country": "XX"}, "country"),
        ({"country": "USA"}, "country"),
        ({"name": "   "}, "name"),
        ({"email": "zoe at example"}, "email"),
        ({"kind": "robot"}, "kind"),
    ):
        with pytest.raises(InvalidInput) as refused:
            run.propose_with(details(**changes))
        assert refused.value.field == field, changes
    with pytest.raises(NotAllowed, match="propose a provider"):
        run.propose_with(details(), actor=make_user(db, Role.MANAGER))
    assert (counts(db), refusals_recorded(db)) == before


def test_the_same_key_twice_proposes_one_provider(run: Payments, db: Session) -> None:
    receipts = [
        propose_provider(db, key="propose-1", actor=run.ambassador.user, details=details(), now=NOW)
        for _ in range(2)
    ]
    assert receipts[0].object_id == receipts[1].object_id is not None
    assert counts(db, [Provider]) == {"Provider": 1}
    assert audit_actions(db, "provider") == ["provider.propose"]


def test_search_ignores_accents_and_case_matches_city_prefixes_and_filters_statuses(
    run: Payments, db: Session
) -> None:
    run.verified("Dr Zoë Lee")
    run.propose_with(details("ZOE LEE-SMITH", practice="", city="Nashua"))
    run.verified("Sam Ortiz", practice="Fret Not Clinic", city="Knoxville")
    both = (ProviderStatus.VERIFIED, ProviderStatus.PROPOSED)

    assert names(search_providers(db, text="zoe LEE")) == ["Dr Zoë Lee"]
    assert names(search_providers(db, text="ZOË lee", statuses=both)) == [
        "Dr Zoë Lee",
        "ZOE LEE-SMITH",
    ]
    assert names(search_providers(db, text="fret clinic")) == ["Sam Ortiz"]
    assert names(search_providers(db, city="NÁSH", statuses=both)) == [
        "Dr Zoë Lee",
        "ZOE LEE-SMITH",
    ]
    assert names(search_providers(db, city="ville", statuses=both)) == []
    assert names(search_providers(db, text="zoe", city="knox")) == []
    assert names(search_providers(db, statuses=(ProviderStatus.PROPOSED,))) == ["ZOE LEE-SMITH"]


def test_wildcards_typed_in_a_search_are_plain_characters(run: Payments, db: Session) -> None:
    run.verified("Dr Zoë Lee")
    run.verified("100% Care", practice="")
    run.verified("Sound_Mind", practice="", city="Memphis")

    assert names(search_providers(db, text="%")) == ["100% Care"]
    assert names(search_providers(db, text="_")) == ["Sound_Mind"]
    assert names(search_providers(db, text="d_m")) == ["Sound_Mind"]
    assert names(search_providers(db, city="%")) == []
    assert names(search_providers(db, city="_")) == []
    assert len(search_providers(db, city="nash")) == 2


# --- verifying and suspending ----------------------------------------------------------------


def test_verifying_names_everything_missing_and_changes_nothing(run: Payments, db: Session) -> None:
    provider_id = run.propose_with(details(email=""))
    before = counts(db)
    with pytest.raises(InvalidInput) as refused:
        verify_provider(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    assert refused.value.message == (
        "Before verifying Dr Zoë Lee (Music Row Therapy), add the licence type, the licence "
        "number, who issued the licence, an email address and bank details."
    )
    assert refused.value.field == "status"
    provider = db.get_one(Provider, provider_id)
    assert (provider.status, provider.version) == (ProviderStatus.PROPOSED, 1)
    assert counts(db) == before


def test_verifying_with_only_bank_details_missing_names_them_then_once_is_enough(
    run: Payments, db: Session
) -> None:
    provider_id = run.propose_with(details(**LICENCE))
    with pytest.raises(InvalidInput) as refused:
        verify_provider(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    assert refused.value.message == (
        "Before verifying Dr Zoë Lee (Music Row Therapy), add bank details."
    )
    assert db.get_one(Provider, provider_id).status is ProviderStatus.PROPOSED

    run.give(provider_id, us_bank())
    verify_provider(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    version, before = db.get_one(Provider, provider_id).version, counts(db)
    with pytest.raises(InvalidState, match="verified already"):
        verify_provider(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    assert counts(db) == before
    assert db.get_one(Provider, provider_id).version == version


def test_a_suspension_needs_a_reason(run: Payments, db: Session) -> None:
    provider_id = run.verified()
    before = counts(db)
    with pytest.raises(InvalidInput) as refused:
        suspend_provider(db, actor=run.finance, provider_id=provider_id, reason="  ", now=NOW)
    assert refused.value.field == "reason"
    assert db.get_one(Provider, provider_id).status is ProviderStatus.VERIFIED
    assert counts(db) == before


def test_a_suspended_provider_is_neither_booked_nor_paid_until_verified_again(
    run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    session_id = run.approved(provider_id, 12_000)
    suspend_provider(
        db, actor=run.finance, provider_id=provider_id, reason="Licence lapsed", now=NOW
    )
    ledger, before = balances(db), counts(db)

    with pytest.raises(InvalidInput) as refused:
        bookable(db, provider_id, run.ambassador.user)
    assert refused.value.field == "provider_id"
    with pytest.raises(InvalidInput, match="cannot take sessions"):
        run.book_in(None, provider_id, 5_000)
    with pytest.raises(InvalidState, match="suspended: Licence lapsed Nothing was paid"):
        run.pay([session_id], "ACH-SUSPENDED")
    assert (balances(db), counts(db)) == (ledger, before)
    assert db.get_one(Redemption, session_id).state is RedemptionState.APPROVED

    verify_provider(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    assert bookable(db, provider_id, run.ambassador.user).status is ProviderStatus.VERIFIED
    batch = run.pay([session_id], "ACH-REINSTATED")
    assert batch.amount == 12_000
    assert db.get_one(Redemption, session_id).state is RedemptionState.PAID
    assert audit_actions(db, "provider")[-2:] == ["provider.suspend", "provider.verify"]


def test_a_form_opened_before_another_change_is_refused(run: Payments, db: Session) -> None:
    provider_id = run.propose_with(details(**LICENCE))
    stale = db.get_one(Provider, provider_id).version
    update_provider(
        db,
        actor=run.finance,
        provider_id=provider_id,
        details=details(**LICENCE, city="Memphis"),
        version=stale,
        now=NOW,
    )
    before = counts(db)
    form = {"actor": run.finance, "provider_id": provider_id, "version": stale, "now": NOW}
    attempts = (
        lambda: update_provider(db, details=details(), **form),
        lambda: set_bank_details(db, details=us_bank(), keys=run.keys, **form),
        lambda: verify_provider(db, **form),
    )
    for attempt in attempts:
        with pytest.raises(InvalidState, match="changed this provider after you opened"):
            attempt()
    provider = db.get_one(Provider, provider_id)
    assert (provider.city, provider.bank_details, provider.version) == ("Memphis", None, stale + 1)
    assert counts(db) == before


# --- bank details ----------------------------------------------------------------------------


def test_first_bank_details_hold_nothing_and_email_nobody(run: Payments, db: Session) -> None:
    provider_id = run.propose_with(details(**LICENCE))
    provider = run.give(provider_id, us_bank())
    assert provider.payouts_held is False
    assert told_provider(db) == []
    assert audit_actions(db, "provider")[-1] == "provider.bank_details_give"
    verify_provider(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    run.approved(provider_id, 9_000)


def test_a_change_holds_payouts_and_tells_the_address_held_before_it(
    run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    paid_later = run.approved(provider_id, 7_000)
    waiting = run.book_in(None, provider_id, 6_000)
    run.invoice(waiting)

    run.give(provider_id, us_bank("000999888777"))
    update_provider(
        db,
        actor=run.finance,
        provider_id=provider_id,
        details=details(**(LICENCE | {"email": "billing@new-practice.example"})),
        version=None,
        now=NOW,
    )
    (told,) = told_provider(db)
    assert told.recipient == "zoe@example.org"
    assert json.loads(told.payload or "{}")["to"] == "zoe@example.org"
    assert db.get_one(Provider, provider_id).email == "billing@new-practice.example"

    ledger, before = balances(db), counts(db)
    with pytest.raises(InvalidState, match="bank details changed"):
        run.approve(waiting)
    with pytest.raises(InvalidState, match=r"bank details changed.*Nothing was paid"):
        run.pay([paid_later], "ACH-HELD")
    assert (balances(db), counts(db)) == (ledger, before)
    assert db.get_one(Redemption, waiting).state is RedemptionState.REQUESTED

    confirm_bank_details(db, actor=run.second, provider_id=provider_id, version=None, now=NOW)
    run.approve(waiting)
    assert run.pay([paid_later, waiting], "ACH-CONFIRMED").amount == 13_000


def test_only_another_member_of_finance_confirms_a_change(run: Payments, db: Session) -> None:
    provider_id = run.verified()
    run.give(provider_id, us_bank("000999888777"))
    before = counts(db)
    with pytest.raises(NotAllowed, match="another member of finance"):
        confirm_bank_details(db, actor=run.finance, provider_id=provider_id, version=None, now=NOW)
    assert db.get_one(Provider, provider_id).payouts_held is True
    assert counts(db) == before
    confirm_bank_details(db, actor=run.second, provider_id=provider_id, version=None, now=NOW)
    assert db.get_one(Provider, provider_id).payouts_held is False
    with pytest.raises(InvalidState, match="not held"):
        confirm_bank_details(db, actor=run.second, provider_id=provider_id, version=None, now=NOW)


def test_only_finance_sees_bank_details(run: Payments, db: Session) -> None:
    provider_id = run.verified()
    before = counts(db)
    for actor in (run.ambassador.user, make_user(db, Role.MANAGER), make_user(db, Role.ADMIN)):
        with pytest.raises(NotAllowed, match="see bank details"):
            reveal_bank_details(db, actor=actor, provider_id=provider_id, keys=run.keys)
    assert counts(db) == before
    shown = reveal_bank_details(db, actor=run.second, provider_id=provider_id, keys=run.keys)
    assert shown.account_number == "000123456789"
    assert audit_actions(db)[-1] == "provider.bank_details_reveal"


def test_the_stored_token_hides_the_account_and_opens_only_with_the_instance_key(
    app: Flask, run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    db.commit()
    token = db.scalar(select(Provider.bank_details).where(Provider.id == provider_id))
    assert token is not None
    assert "000123456789" not in token
    assert json.loads(decrypt(data_keys(app), token))["account_number"] == "000123456789"
    stranger = load_keys(generate_key(), app.instance_path)
    with pytest.raises(DataKeyError) as refused:
        decrypt(stranger, token)
    assert token not in str(refused.value)


def test_rotating_tokens_re_encrypts_every_one_under_the_new_key(
    app: Flask, run: Payments, db: Session
) -> None:
    first = run.verified("Dr Zoë Lee")
    second = run.verified("Sam Ortiz", bank=us_bank("000555444333", holder="Sam Ortiz"))
    old_key = (Path(app.instance_path) / KEY_FILE).read_text().split()[0]

    def tokens() -> list[str]:
        providers = db.scalars(select(Provider.bank_details).order_by(Provider.id)).all()
        funds = db.scalars(select(Fund.payer_account).where(Fund.id == run.fund.id)).all()
        return [token for token in [*providers, *funds] if token is not None]

    before = tokens()
    add_key(app.instance_path)
    new_key = (Path(app.instance_path) / KEY_FILE).read_text().split()[0]
    assert new_key != old_key

    assert rotate_tokens(db, keys=data_keys(app)) == len(before) == 3
    after = tokens()
    assert all(old != new for old, new in zip(before, after, strict=True))
    new_alone = load_keys(new_key, app.instance_path)
    old_alone = load_keys(old_key, app.instance_path)
    opened = [json.loads(decrypt(new_alone, token))["account_number"] for token in after]
    assert opened == ["000123456789", "000555444333", "9876543210"]
    for token in after:
        with pytest.raises(DataKeyError):
            decrypt(old_alone, token)
    assert {first, second} == set(db.scalars(select(Provider.id)))


# --- invoices --------------------------------------------------------------------------------


def test_approval_without_an_invoice_is_refused_where_the_fund_asks_for_one(
    run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    session_id = run.book_in(None, provider_id, 8_050)
    ledger, before, recorded = balances(db), counts(db), refusals_recorded(db)
    with pytest.raises(InvalidInput, match="no invoice or receipt") as refused:
        run.approve(session_id)
    assert refused.value.field == "invoice_waiver"
    assert (balances(db), counts(db)) == (ledger, before)
    assert refusals_recorded(db) == recorded + 1, "the refusal is kept under its key"
    assert db.get_one(Redemption, session_id).state is RedemptionState.REQUESTED


def test_a_waiver_approves_without_an_invoice_and_stays_with_the_session(
    run: Payments, db: Session
) -> None:
    provider_id = run.verified()
    session_id = run.book_in(None, provider_id, 8_050)
    run.approve(session_id, waiver="  Receipt seen by phone; scanner broken ")
    redemption = db.get_one(Redemption, session_id)
    assert redemption.state is RedemptionState.APPROVED
    assert redemption.invoice_waiver == "Receipt seen by phone; scanner broken"
    assert invoices_of(db, session_id) == []


def test_the_waiver_is_in_the_approval_s_audit_event(run: Payments, db: Session) -> None:
    provider_id = run.verified()
    session_id = run.book_in(None, provider_id, 8_050)
    run.approve(session_id, waiver="Receipt seen by phone")
    after = db.scalars(
        select(AuditEvent.after).where(
            AuditEvent.action == "redemption.approve", AuditEvent.object_id == session_id
        )
    ).one()
    assert json.loads(after).get("invoice_waiver") == "Receipt seen by phone"


def test_a_fund_that_asks_for_no_invoice_approves_without_one(run: Payments, db: Session) -> None:
    set_payer(
        db,
        actor=run.finance,
        fund_id=run.fund.id,
        details=None,
        ach_company_id="1234567890",
        ach_bank_name="JPMORGAN CHASE",
        invoice_required=False,
        keys=run.keys,
        now=NOW,
    )
    provider_id = run.verified()
    session_id = run.book_in(None, provider_id, 8_050)
    run.approve(session_id)
    redemption = db.get_one(Redemption, session_id)
    assert (redemption.state, redemption.invoice_waiver) == (RedemptionState.APPROVED, "")


def test_a_session_booked_by_name_alone_is_decided_as_before(run: Payments, db: Session) -> None:
    assert db.get_one(Fund, run.fund.id).invoice_required is True
    approved = run.book_in(None, None, 4_000, name="Dr Legacy, Nashville")
    run.approve(approved)
    rejected = run.book_in(None, None, 3_000, name="Dr Legacy, Nashville")
    reject_redemption(
        db, key=run.key(), actor=run.finance, redemption_id=rejected, reason="Duplicate", now=NOW
    )
    first, second = db.get_one(Redemption, approved), db.get_one(Redemption, rejected)
    assert (first.state, first.provider_id, first.invoice_waiver) == (
        RedemptionState.APPROVED,
        None,
        "",
    )
    assert second.state is RedemptionState.REJECTED
    assert run.pay([approved], "ACH-LEGACY").amount == 4_000


def test_an_invoice_is_refused_on_a_decided_or_foreign_session_past_five_or_not_a_pdf(
    app: Flask, run: Payments, db: Session
) -> None:
    folder = uploads_folder(app.instance_path)
    holder = run.ambassador.user
    provider_id = run.verified()
    decided = run.book_in(None, provider_id, 3_000)
    run.approve(decided, waiver="Paid by card at the desk")
    open_session = run.book_in(None, provider_id, 3_000)
    for _ in range(MAX_INVOICES):
        run.invoice_by(holder, open_session, PDF, folder)
    stored = sorted(path.name for path in folder.iterdir())
    assert len(stored) == MAX_INVOICES
    fresh = run.book_in(None, provider_id, 3_000)
    before = counts(db)

    with pytest.raises(InvalidState, match="decided this session"):
        run.invoice_by(holder, decided, PDF, folder)
    with pytest.raises(NotFound):
        run.invoice_by(make_ambassador(db).user, fresh, PDF, folder)
    with pytest.raises(InvalidInput, match="at most 5 files") as sixth:
        run.invoice_by(holder, open_session, PDF, folder)
    assert sixth.value.field == "invoice"
    with pytest.raises(InvalidInput, match="PDF, or a photo") as word:
        run.invoice_by(holder, fresh, docx(), folder)
    assert word.value.field == "invoice"

    assert sorted(path.name for path in folder.iterdir()) == stored
    assert counts(db) == before
    assert len(invoices_of(db, open_session)) == MAX_INVOICES
    assert invoices_of(db, fresh) == invoices_of(db, decided) == []


def test_an_invoice_is_read_by_the_redeemer_and_finance_only(run: Payments, db: Session) -> None:
    provider_id = run.verified()
    session_id = run.book_in(None, provider_id, 3_000)
    run.invoice(session_id)
    (document,) = invoices_of(db, session_id)
    for reader in (run.ambassador.user, run.finance):
        assert readable_document(db, actor=reader, document_id=document.id) is document
    for outsider in (
        make_user(db, Role.MANAGER),
        make_user(db, Role.ADMIN),
        make_ambassador(db).user,
    ):
        with pytest.raises(NotFound):
            readable_document(db, actor=outsider, document_id=document.id)


def test_an_invoice_sent_twice_under_one_key_is_stored_once(run: Payments, db: Session) -> None:
    provider_id = run.verified()
    session_id = run.book_in(None, provider_id, 3_000)
    folder = Path(run.app.instance_path) / "invoices"

    def send() -> tuple[Document, bool]:
        return attach_invoice_once(
            db,
            key="invoice-form-1",
            actor=run.ambassador.user,
            redemption_id=session_id,
            upload_stream=io.BytesIO(PDF),
            filename="invoice.pdf",
            folder=folder,
            max_bytes=1_000_000,
            now=NOW,
        )

    first, first_replayed = send()
    again, replayed = send()

    assert (first_replayed, replayed) == (False, True)
    assert again.id == first.id
    assert [document.id for document in invoices_of(db, session_id)] == [first.id]
    assert sorted(path.name for path in folder.iterdir()) == [first.stored_name]
