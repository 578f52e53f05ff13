"""Therapy allowances through the managers' screens: one ambassador, a cohort after a preview
that writes nothing, credit use with small cells suppressed, bad input, and who may reach what."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import gifts, redemptions
from grants.domain.ambassadors import AmbassadorSearch, find_ambassador, find_ambassadors
from grants.domain.errors import NotAllowed
from grants.domain.ledger import find_wallet, fund_balances
from grants.domain.money import Money
from grants.domain.wallets import wallet_balances
from grants.models import (
    Account,
    Ambassador,
    AuditEvent,
    CohortStatus,
    Country,
    IdempotencyRecord,
    LedgerTransaction,
    Role,
    TransactionKind,
    Wallet,
    WalletKind,
)
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.support import counting_statements, csrf_token, form_fields, sign_in

TODAY = datetime.now(UTC).date()
THIS_YEAR = TODAY.year
NEW = "/manager/allowances/new"
COHORT = "/manager/allowances/cohort"
USE = "/manager/credit-use"


class Programme:
    """Therapy funds in both currencies, ambassadors of three programmes, two managers."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.manager = make_user(db, Role.MANAGER, email="morgan@example.org")
        self.finance = make_user(db, Role.FINANCE, email="frankie@example.org")
        start, end = date(THIS_YEAR, 1, 1), date(THIS_YEAR, 12, 31)
        self.usd = make_fund(
            db, name="Therapy US", budget=1_000_000, manager=self.manager, start=start, end=end
        )
        self.gbp = make_fund(
            db,
            name="Therapy UK",
            currency="GBP",
            budget=1_000_000,
            manager=self.manager,
            start=start,
            end=end,
        )
        self.jess = make_ambassador(db, programme="EQUAL", name="Jess Marlowe")
        self.radar_us = [make_ambassador(db, programme="RADAR") for _ in range(6)]
        self.radar_gb = [make_ambassador(db, programme="RADAR", country=Country.GB)]
        self.alumna = make_ambassador(db, programme="GLOW", name="Ada Alumna")
        self.alumna.cohort_status = CohortStatus.ALUMNI
        db.flush()

    def footprint(self) -> tuple[int, ...]:
        """Counts any allocation would change. (A refusal for a business reason is recorded
        against its key, so that a retry gets the same answer: idempotency records are counted
        by :meth:`records`.)"""
        self.db.rollback()
        counts = tuple(
            self.db.scalar(select(func.count()).select_from(model)) or 0
            for model in (LedgerTransaction, AuditEvent, Wallet, Account)
        )
        self.db.commit()
        return counts

    def records(self) -> int:
        self.db.rollback()
        count = self.db.scalar(select(func.count()).select_from(IdempotencyRecord))
        self.db.commit()
        return count or 0

    def allowances(self) -> int:
        self.db.rollback()
        count = self.db.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == TransactionKind.ALLOWANCE)
        )
        self.db.commit()
        return count or 0

    def available(self, ambassador: Ambassador) -> int:
        self.db.rollback()
        wallet = find_wallet(self.db, self.usd.id, ambassador.user_id, WalletKind.AMBASSADOR)
        balance = wallet_balances(self.db, wallet.id).available if wallet else 0
        self.db.commit()
        return balance


@pytest.fixture
def world(db: Session) -> Programme:
    programme = Programme(db)
    db.commit()
    return programme


@pytest.fixture
def manager(app: Flask, world: Programme) -> FlaskClient:
    return sign_in(app, world.manager.email)


# --- one ambassador -------------------------------------------------------------------------

CHOICE = re.compile(
    r'<a href="/manager/allowances/new\?ambassador=(?P<id>\d+)&amp;q=[^"]*">'
    r"Allocate to (?P<name>[^<]*)</a>"
)
MORE = "More than 20 ambassadors match"


def search(manager: FlaskClient, text: str) -> tuple[str, list[str]]:
    """The search page for ``text`` and the names it offers to allocate to, in its order."""
    response = manager.get(NEW, query_string={"q": text})
    assert response.status_code == 200, text
    page = response.get_data(as_text=True)
    return page, [found["name"] for found in CHOICE.finditer(page)]


def shown(email: str) -> str:
    """``email`` as a page shows it: it may break after its ``@``."""
    return email.replace("@", "@<wbr>")


def chosen(manager: FlaskClient, text: str, name: str) -> str:
    """The address of the form for ``name``, as the search for ``text`` links to it."""
    page, _ = search(manager, text)
    link = next(found for found in CHOICE.finditer(page) if found["name"] == name)
    return link[0].split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")


def test_allocating_to_one_ambassador_found_by_search_posts_once(
    world: Programme, manager: FlaskClient
) -> None:
    bare = manager.get(NEW).get_data(as_text=True)
    assert "Find the ambassador" in bare
    assert not CHOICE.search(bare), "no list of ambassadors before a search"
    assert "Jess Marlowe" not in bare
    assert 'name="amount"' not in bare

    page, names = search(manager, "marlowe")
    assert names == ["Jess Marlowe"]
    assert "EQUAL" in page
    assert "United States" in page
    assert "Current" in page
    assert shown(world.jess.user.email) in page

    url = chosen(manager, "marlowe", "Jess Marlowe")
    assert url == f"{NEW}?ambassador={world.jess.id}&q=marlowe"
    form = manager.get(url).get_data(as_text=True)
    assert "<dt>Ambassador</dt><dd>Jess Marlowe<br>" in form
    assert "<dt>Programme</dt><dd>EQUAL</dd>" in form
    assert "<dt>Country</dt><dd>United States</dd>" in form
    assert f'<a href="{NEW}?q=marlowe">Choose someone else</a>' in form
    assert "Therapy US (USD)" in form
    fields = {**form_fields(manager, url), "amount": "250.00"}
    assert (fields["ambassador_id"], fields["fund_id"]) == (str(world.jess.id), str(world.usd.id))

    response = manager.post(url, data=fields)
    assert response.status_code == 302
    assert response.headers["Location"] == NEW
    done = manager.get(NEW).get_data(as_text=True)
    assert "$250.00 was allocated to Jess Marlowe from Therapy US." in done
    assert world.available(world.jess) == 25_000
    before = world.footprint()

    again = manager.post(url, data=fields)
    assert again.status_code == 302
    assert "already allocated" in manager.get(NEW).get_data(as_text=True)
    assert world.footprint() == before
    assert world.allowances() == 1
    assert fund_balances(world.db, world.usd.id).remaining == 1_000_000 - 25_000


def test_the_search_finds_part_of_a_name_or_an_email_whatever_its_case(
    world: Programme, manager: FlaskClient
) -> None:
    kit = make_ambassador(world.db, name="Kit Ramos", email="kit.ramos@bandcrew.org")
    upcoming = make_ambassador(world.db, name="Uma Upcoming", email="uma@crew.example")
    upcoming.cohort_status = CohortStatus.UPCOMING
    world.db.commit()
    for text in ("MARL", "jess m", "  Jess Marlowe  ", "sS mA"):
        assert search(manager, text)[1] == ["Jess Marlowe"], text
    for text in ("ramos@band", "BANDCREW.ORG", "kit.r"):
        assert search(manager, text)[1] == ["Kit Ramos"], text
    assert search(manager, "crew")[1] == ["Kit Ramos", "Uma Upcoming"], "listed by name"
    page, names = search(manager, "uma@")
    assert names == ["Uma Upcoming"]
    assert '<span class="status status-upcoming">Upcoming</span>' in page
    assert shown(kit.user.email) in search(manager, "Kit")[0]


def test_percent_and_underscore_typed_stand_for_themselves(
    world: Programme, manager: FlaskClient
) -> None:
    make_ambassador(world.db, name="Dee Dee", email="dee_dee@example.org")
    make_ambassador(world.db, name="Ron 100% Rivera", email="ron@example.org")
    make_ambassador(world.db, name="Back\\slash Bo", email="bo@example.org")
    world.db.commit()
    assert search(manager, "_")[1] == ["Dee Dee"]
    assert search(manager, "e_d")[1] == ["Dee Dee"]
    assert search(manager, "%")[1] == ["Ron 100% Rivera"]
    assert search(manager, "0%")[1] == ["Ron 100% Rivera"]
    assert search(manager, "\\")[1] == ["Back\\slash Bo"]
    page, names = search(manager, "j%s")
    assert names == []
    assert "No ambassador matches “j%s”" in page


def test_alumni_are_never_listed_nor_offered(world: Programme, manager: FlaskClient) -> None:
    page, names = search(manager, "alumna")
    assert names == []
    assert "No ambassador matches “alumna”" in page
    assert "Alumni are not listed" in page
    assert "Ada Alumna" not in search(manager, "a")[0]

    refused = manager.get(NEW, query_string={"ambassador": str(world.alumna.id)})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Ada Alumna is among the programme&#39;s alumni, who receive no new allowances." in page
    assert 'name="q"' in page, "back to the search"
    assert 'name="amount"' not in page


def test_more_than_twenty_matches_ask_for_more_of_the_search(
    world: Programme, manager: FlaskClient
) -> None:
    crew = [make_ambassador(world.db, name=f"Crew Member {n:02d}") for n in range(20)]
    world.db.commit()
    page, names = search(manager, "crew member")
    assert len(names) == 20
    assert MORE not in page, "exactly twenty is all of them"

    make_ambassador(world.db, name="Crew Member 20")
    world.db.commit()
    page, names = search(manager, "CREW MEMBER")
    assert names == [a.user.display_name for a in crew], "the first twenty to join, by name"
    assert MORE in page
    assert search(manager, "crew member 2")[1] == ["Crew Member 20"]


def test_a_search_without_text_lists_nobody(world: Programme, manager: FlaskClient) -> None:
    for text in ("", "   "):
        page, names = search(manager, text)
        assert names == []
        assert "matches" not in page, repr(text)
    long = manager.get(NEW, query_string={"q": "Jess Marlowe" + " x" * 5_000})
    assert long.status_code == 200
    assert 'value="Jess Marlowe x x' in long.get_data(as_text=True), "read as far as it fits"
    for odd, status in (("²", 200), ("\u202e", 200), ("Jess\x00", 400)):
        assert manager.get(NEW, query_string={"q": odd}).status_code == status, repr(odd)
    found = find_ambassadors(world.db, actor=world.manager, text="Jess\x00")
    assert found == AmbassadorSearch("Jess\x00", [], more=False)


def test_an_ambassador_who_cannot_be_chosen_leads_back_to_the_search(
    world: Programme, manager: FlaskClient
) -> None:
    for raw, status, message in [
        ("999999", 404, "There is no such ambassador. Find them by name or email."),
        ("x", 404, "There is no such ambassador."),
        ("", 404, "There is no such ambassador."),
        ("²", 404, "There is no such ambassador."),
        ("9" * 10_000, 404, "There is no such ambassador."),
        (str(world.alumna.id), 422, "who receive no new allowances"),
    ]:
        response = manager.get(NEW, query_string={"ambassador": raw})
        assert response.status_code == status, raw[:10]
        page = response.get_data(as_text=True)
        assert message in page, raw[:10]
        assert 'role="search"' in page, raw[:10]
        assert 'name="amount"' not in page, raw[:10]


def test_names_in_any_script_are_found_whatever_their_case(
    world: Programme, manager: FlaskClient
) -> None:
    """Lower case is every script's, not only A to Z (SQLite's own lower() is the latter)."""
    make_ambassador(world.db, programme="GLOW", name="Élodie Øster-Şahin")
    world.db.commit()
    for text in ("Élodie", "élodie", "ÉLODIE", "øster-ş", "ŞAHIN"):
        assert search(manager, text)[1] == ["Élodie Øster-Şahin"], text


def test_a_refused_choice_keeps_the_search_that_led_to_it(
    world: Programme, manager: FlaskClient
) -> None:
    response = manager.get(NEW, query_string={"q": "Ada", "ambassador": str(world.alumna.id)})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "who receive no new allowances" in page
    assert 'value="Ada"' in page, "the search box still holds what was typed"


def test_only_managers_may_look_up_ambassadors(world: Programme) -> None:
    """The search lists people's emails: the domain refuses anyone but a manager or admin."""
    with pytest.raises(NotAllowed):
        find_ambassadors(world.db, actor=world.finance, text="Jess")
    with pytest.raises(NotAllowed):
        find_ambassador(world.db, actor=world.finance, ambassador_id=world.jess.id)
    assert find_ambassadors(world.db, actor=world.manager, text="Jess").matches


def test_allowance_refusals_say_why_and_write_nothing(
    world: Programme, manager: FlaskClient
) -> None:
    before = world.footprint()
    usd, jess = str(world.usd.id), str(world.jess.id)
    url = f"{NEW}?ambassador={jess}"
    choose = "Choose an ambassador: find them by name or email."
    cases = [
        ({"amount": "0"}, 422, "Enter an amount greater than zero."),
        ({"amount": "-5"}, 422, "Enter an amount greater than zero."),
        ({"amount": "12.345"}, 422, "USD amounts have at most 2 decimal places."),
        ({"amount": "ten"}, 422, "Enter an amount in figures"),
        ({"amount": ""}, 422, "This field is required."),
        ({"amount": "10000.01"}, 409, "cannot cover this allocation; nothing was allocated"),
        (
            {"fund_id": str(world.gbp.id)},
            422,
            "United States ambassadors are not paid from a GBP fund.",
        ),
        ({"fund_id": "999999"}, 422, "Choose a therapy fund."),
        ({"fund_id": "x"}, 422, "Invalid Choice: could not coerce."),
        ({"fund_id": "9" * 10}, 422, "Invalid Choice: could not coerce."),
        ({"ambassador_id": "9" * 10}, 422, choose),
        ({"ambassador_id": "x"}, 422, choose),
        ({"ambassador_id": ""}, 422, choose),
        ({"ambassador_id": str(world.alumna.id)}, 422, "Alumni do not receive new allowances."),
        ({"ambassador_id": "999999"}, 404, "There is no such ambassador."),
    ]
    for changes, status, message in cases:
        data = {**form_fields(manager, url), "fund_id": usd, "ambassador_id": jess, "amount": "5"}
        response = manager.post(url, data={**data, **changes})
        text = response.get_data(as_text=True)
        assert response.status_code == status, (changes, response.status_code)
        assert message in text, changes
        assert world.footprint() == before, changes
        if "ambassador_id" in changes and status == 422:
            error = text.split('id="ambassador_id-error">', 1)[1].split("</p>", 1)[0]
            assert message in error, "shown next to whom the allowance is for"

    alumna = {**form_fields(manager, url), "ambassador_id": str(world.alumna.id), "amount": "5"}
    page = manager.post(url, data=alumna).get_data(as_text=True)
    assert "<dt>Ambassador</dt><dd>Ada Alumna<br>" in page, "the form says whom it names"


OPTION = re.compile(
    r'<option(?P<attrs>[^>]*)value="(?P<value>[^"]*)"[^>]*>(?P<label>[^<]*)</option>'
)
GROUP = re.compile(r'<optgroup label="(?P<label>[^"]*)">(?P<options>.*?)</optgroup>', re.S)


def fund_select(page: str) -> str:
    """The fund field's ``<select>`` on ``page``."""
    found = re.search(r'<select[^>]*\bid="fund_id".*?</select>', page, re.S)
    assert found, "no fund field"
    return found[0]


def test_the_form_offers_each_ambassador_the_funds_of_their_currency(
    world: Programme, manager: FlaskClient
) -> None:
    """The funds are grouped by the country they pay, and the fund preselected pays the
    ambassador chosen: a form sent as it is shown allocates."""
    page = manager.get(f"{NEW}?ambassador={world.jess.id}").get_data(as_text=True)
    groups = {
        group["label"]: [option["value"] for option in OPTION.finditer(group["options"])]
        for group in GROUP.finditer(fund_select(page))
    }
    assert groups == {
        "United States (USD)": [str(world.usd.id)],
        "United Kingdom (GBP)": [str(world.gbp.id)],
    }

    before = world.allowances()
    for ambassador, fund in ((world.jess, world.usd), (world.radar_gb[0], world.gbp)):
        url = f"{NEW}?ambassador={ambassador.id}"
        fields = form_fields(manager, url)
        assert (fields["ambassador_id"], fields["fund_id"]) == (str(ambassador.id), str(fund.id))
        response = manager.post(url, data={**fields, "amount": "40"})
        assert response.status_code == 302, response.get_data(as_text=True)
    assert world.allowances() == before + 2


def test_a_fund_in_another_currency_is_refused_next_to_the_fund_field(
    world: Programme, manager: FlaskClient
) -> None:
    before, records = world.footprint(), world.records()
    fields = {
        **form_fields(manager, f"{NEW}?ambassador={world.jess.id}"),
        "fund_id": str(world.gbp.id),
        "amount": "40",
    }
    refused = manager.post(NEW, data=fields)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error = page.split('id="fund_id-error">', 1)[1].split("</p>", 1)[0]
    assert error == (
        "United States ambassadors are not paid from a GBP fund. "
        "Choose one of the United States (USD) funds."
    )
    assert 'aria-describedby="fund_id-hint fund_id-error"' in fund_select(page)
    assert "<dt>Ambassador</dt><dd>Jess Marlowe<br>" in page, "still the same person"
    assert (world.footprint(), world.records()) == (before, records), "nothing is written"

    uk = {**fields, "ambassador_id": str(world.radar_gb[0].id), "fund_id": str(world.usd.id)}
    page = manager.post(NEW, data=uk).get_data(as_text=True)
    assert "United Kingdom ambassadors are not paid from a USD fund." in page
    assert (world.footprint(), world.records()) == (before, records)


def test_a_fund_label_states_its_currency_once(world: Programme, manager: FlaskClient) -> None:
    named = make_fund(world.db, name=f"Therapy US {THIS_YEAR} (USD)", budget=100_000)
    world.db.commit()
    for url in (f"{NEW}?ambassador={world.jess.id}", COHORT):
        labels = [
            o["label"]
            for o in OPTION.finditer(fund_select(manager.get(url).get_data(as_text=True)))
        ]
        assert sorted(labels) == sorted(
            [f"Therapy US {THIS_YEAR} (USD)", "Therapy US (USD)", "Therapy UK (GBP)"]
        ), url
        assert named.name in labels


def test_the_pages_send_as_many_statements_for_a_few_ambassadors_as_for_many(
    app: Flask, world: Programme, manager: FlaskClient
) -> None:
    """Neither the search nor the form reads the programme's whole list."""
    urls = [NEW, f"{NEW}?q=marlowe", f"{NEW}?q=nobody", f"{NEW}?ambassador={world.jess.id}"]

    def counts() -> list[int]:
        sent = []
        for url in urls:
            manager.get(url)
            with counting_statements(app) as seen:
                assert manager.get(url).status_code == 200, url
            sent.append(len(seen))
        return sent

    few = counts()
    for number in range(40):
        make_ambassador(world.db, name=f"Marlowe Cousin {number}")
    world.db.commit()
    assert counts() == few


# --- a cohort -------------------------------------------------------------------------------


def preview_url(**criteria: str) -> str:
    return f"{COHORT}?{urlencode(criteria)}"


def test_a_cohort_allocation_is_previewed_then_confirmed_once(
    world: Programme, manager: FlaskClient
) -> None:
    assert manager.get(COHORT).status_code == 200
    before, records = world.footprint(), world.records()
    url = preview_url(fund_id=str(world.usd.id), programme="RADAR", country="", amount="200")
    preview = manager.get(url)
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert '<span class="stat-value">6</span><span class="stat-label">current ambassadors' in page
    assert "$1,200.00" in page
    assert "$10,000.00" in page  # left in the fund
    assert "Allocate $1,200.00 to 6 ambassadors" in page
    assert "RADAR, both countries, from Therapy US." in page
    assert world.footprint() == before, "a preview writes nothing"
    assert world.records() == records

    fields = form_fields(manager, url, COHORT)
    assert (fields["programme"], fields["country"], fields["amount"]) == ("RADAR", "", "200")
    response = manager.post(COHORT, data=fields)
    assert response.status_code == 302
    done = manager.get(COHORT).get_data(as_text=True)
    assert "$200.00 was allocated to each of 6 ambassadors from Therapy US: $1,200.00" in done
    assert [world.available(a) for a in world.radar_us] == [20_000] * 6
    after = world.footprint()

    again = manager.post(COHORT, data=fields)
    assert again.status_code == 302
    assert "already made" in manager.get(COHORT).get_data(as_text=True)
    assert world.footprint() == after
    assert world.allowances() == 1
    world.db.expire_all()
    assert fund_balances(world.db, world.usd.id).remaining == 1_000_000 - 120_000


def test_a_cohort_that_changed_since_its_preview_is_not_allocated(
    world: Programme, manager: FlaskClient
) -> None:
    url = preview_url(fund_id=str(world.usd.id), programme="RADAR", country="", amount="200")
    fields = form_fields(manager, url, COHORT)
    newcomer = make_ambassador(world.db, programme="RADAR")
    world.db.commit()
    before, allowances = world.footprint(), world.allowances()

    refused = manager.post(COHORT, data=fields)

    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "The cohort has changed since the preview: it now has 7 ambassadors." in page
    assert "Allocate $1,400.00 to 7 ambassadors" in page
    assert world.allowances() == allowances
    assert world.footprint() == before
    confirmed = manager.post(COHORT, data=form_fields(manager, url, COHORT))
    assert confirmed.status_code == 302
    assert world.available(newcomer) == 20_000


def test_a_cohort_by_country_alone(world: Programme, manager: FlaskClient) -> None:
    url = preview_url(fund_id=str(world.gbp.id), programme="", country="GB", amount="150")
    page = manager.get(url).get_data(as_text=True)
    assert "Allocate £150.00 to 1 ambassador<" in page
    assert "Every programme, United Kingdom, from Therapy UK." in page
    assert manager.post(COHORT, data=form_fields(manager, url, COHORT)).status_code == 302
    world.db.rollback()
    wallet = find_wallet(world.db, world.gbp.id, world.radar_gb[0].user_id, WalletKind.AMBASSADOR)
    assert wallet is not None
    assert wallet_balances(world.db, wallet.id).available == 15_000


def test_cohort_refusals_say_why_and_write_nothing(world: Programme, manager: FlaskClient) -> None:
    before = world.footprint()
    usd = str(world.usd.id)
    for criteria, status, message in [
        ({"amount": "0"}, 422, "Enter an amount greater than zero."),
        ({"amount": "-1"}, 422, "Enter an amount greater than zero."),
        ({"amount": "1.001"}, 422, "USD amounts have at most 2 decimal places."),
        ({"amount": ""}, 422, "This field is required."),
        ({"country": "GB"}, 422, "United Kingdom ambassadors are not paid from a USD fund."),
        ({"country": "FR"}, 422, "Not a valid choice"),
        ({"programme": "NOPE"}, 422, "Not a valid choice"),
        ({"fund_id": "999999"}, 422, "Choose a therapy fund."),
    ]:
        query = {"fund_id": usd, "programme": "RADAR", "country": "", "amount": "5", **criteria}
        response = manager.get(preview_url(**query))
        assert response.status_code == status, (criteria, response.status_code)
        page = response.get_data(as_text=True)
        assert message in page, criteria
        assert f'method="post" action="{COHORT}"' not in page, criteria
        assert world.footprint() == before, criteria

    too_much = preview_url(fund_id=usd, programme="RADAR", country="", amount="1666.67")
    fields = form_fields(manager, too_much, COHORT)
    refused = manager.post(COHORT, data=fields)
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "The fund&#39;s remaining budget cannot cover this allocation" in page
    assert "Allocate $10,000.02 to 6 ambassadors" in page
    assert world.allowances() == 0

    for tampered, status, message in [
        ({"amount": "0"}, 422, "greater than zero"),
        ({"country": "XX"}, 422, "Choose a country."),
        ({"fund_id": ""}, 422, "preview the allocation again"),
        ({"programme": "GLOW", "country": "US"}, 422, "No current ambassadors match"),
    ]:
        fields = form_fields(
            manager, preview_url(fund_id=usd, programme="RADAR", amount="5"), COHORT
        )
        response = manager.post(COHORT, data={**fields, **tampered})
        assert response.status_code == status, tampered
        assert message in response.get_data(as_text=True), tampered
    assert world.allowances() == 0
    assert world.footprint() == before


def test_fund_and_ambassador_ids_that_are_no_plain_number_are_refused_or_ignored(
    world: Programme, manager: FlaskClient
) -> None:
    """``²`` passes ``str.isdigit`` but ``int`` refuses it, and ten thousand digits fit no
    database integer: the confirmation is refused, credit use shows no fund chosen and the
    allowance form leads back to the search."""
    before, records = world.footprint(), world.records()
    preview = preview_url(fund_id=str(world.usd.id), programme="RADAR", amount="5")
    for number, odd in enumerate(("²", "9" * 10_000)):
        fields = form_fields(manager, preview, COHORT)
        refused = manager.post(COHORT, data={**fields, "fund_id": odd, "key": f"odd-{number}"})
        assert refused.status_code == 422, odd[:5]
        assert "Choose a therapy fund." in refused.get_data(as_text=True)
        use = manager.get(f"{USE}?fund={odd}")
        assert use.status_code == 200, odd[:5]
        assert "Therapy US" in use.get_data(as_text=True)
        shown = manager.get(f"{NEW}?ambassador={odd}")
        assert shown.status_code == 404, odd[:5]
        assert "There is no such ambassador." in shown.get_data(as_text=True)
    assert world.allowances() == 0
    assert (world.footprint(), world.records()) == (before, records)


# --- credit use -----------------------------------------------------------------------------


def test_credit_use_suppresses_cells_of_fewer_than_five_people(
    world: Programme, manager: FlaskClient
) -> None:
    db = world.db
    for ambassador in world.radar_us[:5]:
        fund_wallet(db, world.usd, ambassador, 40_000, world.manager)
    equal = [world.jess, *(make_ambassador(db, programme="EQUAL") for _ in range(3))]
    wallets = [fund_wallet(db, world.usd, a, 30_000, world.manager) for a in equal]
    radar_wallet = find_wallet(db, world.usd.id, world.radar_us[0].user_id, WalletKind.AMBASSADOR)
    assert radar_wallet is not None
    gift = gifts.give_gift(
        db,
        key="gift",
        actor=radar_wallet.user,
        wallet_id=radar_wallet.id,
        amount=Money(5_000, "USD"),
        recipient_name="Bo Drummer",
        recipient_email="bo.drummer@example.org",
        relation="bandmate",
        now=datetime.now(UTC),
    )
    assert gift.claim_token
    for wallet, provider in ((radar_wallet, "Dr Radar Clinic"), (wallets[0], "Dr Equal Clinic")):
        redemption = redemptions.request_redemption(
            db,
            key=f"redeem-{wallet.id}",
            actor=wallet.user,
            wallet_id=wallet.id,
            amount=Money(7_000, "USD"),
            provider_name=provider,
            session_date=date(THIS_YEAR, 1, 1),
            now=datetime.now(UTC),
        )
        redemptions.approve_redemption(
            db,
            key=f"approve-{wallet.id}",
            actor=world.finance,
            redemption_id=redemption.object_id,
            now=datetime.now(UTC),
        )
    db.commit()

    page = manager.get(USE).get_data(as_text=True)
    rows = {
        row.split("</td>", 1)[0].split("<td>", 1)[1]: row
        for row in page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    }
    assert set(rows) == {"EQUAL", "RADAR"}
    assert "&lt;5" in rows["EQUAL"]
    assert "$" not in rows["EQUAL"]
    assert rows["EQUAL"].count("suppressed: fewer than 5 people") == 4
    radar = rows["RADAR"]
    for figure in (">5<", "$2,000.00", "$50.00", "$70.00", "$1,880.00"):
        assert figure in radar, figure
    for private in ("Dr Radar Clinic", "Dr Equal Clinic", "Bo Drummer", "bo.drummer@", "Jess"):
        assert private not in page

    only_uk = manager.get(f"{USE}?fund={world.gbp.id}").get_data(as_text=True)
    assert "No ambassador holds credit from this fund yet." in only_uk
    assert manager.get(f"{USE}?fund=abc").status_code == 200


def test_the_manager_dashboard_links_to_allowances(world: Programme, manager: FlaskClient) -> None:
    page = manager.get("/manager/").get_data(as_text=True)
    for path in (NEW, COHORT, USE):
        assert f'href="{path}"' in page


# --- who may reach what ---------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.AMBASSADOR, Role.RECIPIENT, Role.FINANCE])
def test_only_managers_reach_the_allowance_screens(
    app: Flask, world: Programme, role: Role
) -> None:
    user = make_user(world.db, role, email="outsider@example.org")
    world.db.commit()
    client = sign_in(app, user.email)
    token = csrf_token(client, NEW)  # the 403 page signs out by form
    before = world.footprint()
    query = preview_url(fund_id=str(world.usd.id), programme="RADAR", amount="200")
    for path in (NEW, COHORT, query, USE):
        response = client.get(path)
        assert response.status_code == 403, path
    cohort = {"fund_id": str(world.usd.id), "programme": "RADAR", "country": "", "amount": "200"}
    single = {"fund_id": str(world.usd.id), "ambassador_id": str(world.jess.id), "amount": "200"}
    for path, data in ((NEW, single), (COHORT, cohort)):
        response = client.post(path, data={"csrf_token": token, "key": "k-" + path, **data})
        assert response.status_code == 403, path
    assert world.footprint() == before


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, world: Programme) -> None:
    client = app.test_client()
    token = csrf_token(client, "/login")
    for path in (NEW, COHORT, USE):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    for path in (NEW, COHORT):
        response = client.post(path, data={"csrf_token": token})
        assert response.status_code == 302


def test_no_manager_route_shows_a_redemption_or_a_gift(
    world: Programme, manager: FlaskClient
) -> None:
    wallet = fund_wallet(world.db, world.usd, world.jess, 10_000, world.manager)
    redemption = redemptions.request_redemption(
        world.db,
        key="r",
        actor=wallet.user,
        wallet_id=wallet.id,
        amount=Money(1_000, "USD"),
        provider_name="Dr Private",
        session_date=date(THIS_YEAR, 1, 1),
        now=datetime.now(UTC),
    )
    gift = gifts.give_gift(
        world.db,
        key="g",
        actor=wallet.user,
        wallet_id=wallet.id,
        amount=Money(500, "USD"),
        recipient_name="Rita Roadie",
        recipient_email="rita@example.org",
        relation="crew",
        now=datetime.now(UTC),
    )
    world.db.commit()
    rid = redemption.object_id
    for path in (f"/wallet/redemptions/{rid}", f"/wallet/gifts/{gift.object_id}"):
        response = manager.get(path)
        assert response.status_code == 404, path
        page = response.get_data(as_text=True)
        assert "Dr Private" not in page
        assert "Rita Roadie" not in page
    page = manager.get(USE).get_data(as_text=True)
    assert "Dr Private" not in page
    assert "Rita Roadie" not in page
    for path in (f"/finance/redemptions/{rid}", "/finance/redemptions/987654"):
        assert manager.get(path).status_code == 403, "the same answer whether it exists or not"
    rules = [rule.rule for rule in manager.application.url_map.iter_rules()]
    manager_rules = [rule for rule in rules if rule.startswith("/manager/")]
    assert not [rule for rule in manager_rules if "redemption" in rule or "gift" in rule]
