"""Every section of the allocation report ties to every other, to the minor unit, in the PDF,
the CSV and the preview page, at both privacy levels: per fund, the therapy table's
available credit, plus what is held for pending gifts and session requests, plus what is
payable to providers (plus grants awarded and not paid) is the funds table's outstanding.
Credit that bandmates and crew claimed sits in rows of their own.

At the programme level the suppression is complementary: what a withheld group holds can
be found neither in its row nor by subtracting the rows shown from any section's totals;
subtraction gives the combined row of the withheld groups, never one group."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import claims
from grants.models import (
    Ambassador,
    Country,
    Fund,
    FundKind,
    Gift,
    GiftState,
    Redemption,
    RedemptionState,
)
from grants.reports.queries import BANDMATES_AND_CREW, COMBINED_GROUPS
from grants.security import password_hasher, password_rules
from tests.factories import fund_wallet, make_ambassador
from tests.reports.dataset import NOW, TODAY, YEAR, Books
from tests.reports.support import pages_text, report_query
from tests.reports.test_reconciliation import download_pdf
from tests.reports.ties import EveryState, Figures, Row, from_csv, from_pdf, from_preview

RANGE = {"year": "", "start": f"{YEAR - 1}-01-01", "end": f"{YEAR}-12-31"}


@pytest.fixture
def every_state(books: Books) -> EveryState:
    return EveryState(books).build()


def fund_names(db: Session) -> list[str]:
    return list(db.scalars(select(Fund.name).order_by(Fund.id)))


def read_all(client: FlaskClient, funds: list[str], privacy: str) -> dict[str, Figures]:
    """The report's figures as the PDF, the CSV export and the preview page give them."""
    query = report_query(privacy=privacy, **RANGE)
    pdf = download_pdf(client, privacy=privacy, **RANGE)
    exported = client.get(f"/finance/reports/csv?{urlencode({**query, 'table': 'all'})}")
    assert exported.status_code == 200
    preview = client.get(f"/finance/reports?{urlencode(query)}")
    assert preview.status_code == 200
    return {
        "pdf": from_pdf(pdf, funds),
        "csv": from_csv(exported.get_data(as_text=True)),
        "preview": from_preview(preview.get_data(as_text=True), funds),
    }


def money(row: Row, name: str) -> int:
    figure = row.values[name]
    assert isinstance(figure, int), f"{row.label}: {name} is {figure!r}"
    return figure


def shown(rows: list[Row]) -> list[Row]:
    """The rows whose money is printed."""
    return [row for row in rows if row.values["available"] is not None]


def check_ties(figures: Figures, therapy_funds: list[str]) -> None:
    """The identities between the sections, per fund and in the totals."""
    assert figures.funds, "no fund rows were read"
    for fund in figures.funds:
        tie = figures.tie(fund.label)
        outstanding = money(fund, "outstanding")
        assert money(tie, "outstanding") == outstanding
        parts = ("available", "held_gifts", "held_sessions", "payable", "awarded")
        assert sum(money(tie, name) for name in parts) == outstanding, fund.label
        if fund.label not in therapy_funds:
            assert money(tie, "available") == money(tie, "payable") == 0
            continue
        rows = shown(figures.therapy[fund.label])
        assert rows, f"no therapy rows shown for {fund.label}"
        available = sum(money(row, "available") for row in rows)
        held = sum(money(row, "held") for row in rows)
        payable = sum(money(row, "redeemed") - money(row, "paid") for row in rows)
        assert available == money(tie, "available")
        assert held == money(tie, "held_gifts") + money(tie, "held_sessions")
        assert payable == money(tie, "payable")
        # The identity finance signs: therapy outstanding + held for pending gifts + held
        # for pending session requests + payable to providers = the funds table's outstanding.
        assert (
            available
            + money(tie, "held_gifts")
            + money(tie, "held_sessions")
            + money(tie, "payable")
            == outstanding
        )
        for row in rows:
            assert money(row, "allocated") - money(row, "claimed") - money(row, "redeemed") - money(
                row, "expired"
            ) == money(row, "held") + money(row, "available"), row.label
    for name in ("budget", "allocated", "paid", "outstanding", "remaining"):
        assert money(figures.totals["funds"], name) == sum(
            money(row, name) for row in figures.funds
        )
    for name in ("available", "held_gifts", "held_sessions", "payable", "outstanding"):
        assert money(figures.totals["reconciliation"], name) == sum(
            money(row, name) for row in figures.reconciliation
        )
    every_row = [row for rows in figures.therapy.values() for row in shown(rows)]
    for name in ("allocated", "claimed", "redeemed", "paid", "expired", "held", "available"):
        assert money(figures.totals["therapy"], name) == sum(money(row, name) for row in every_row)


@pytest.mark.parametrize("privacy", ["finance", "programme"])
def test_every_section_ties_in_the_pdf_the_csv_and_the_preview(
    db: Session,
    every_state: EveryState,
    finance: FlaskClient,
    runner: FlaskCliRunner,
    privacy: str,
) -> None:
    assert set(db.scalars(select(Gift.state))) == set(GiftState)
    assert set(db.scalars(select(Redemption.state))) == set(RedemptionState)
    assert db.scalar(select(Fund.name).where(Fund.closed_at.is_not(None))) == (
        every_state.last_year_fund
    )
    funds = fund_names(db)
    therapy_funds = [name for name in funds if name.startswith("Therapy")]
    outputs = read_all(finance, funds, privacy)
    for figures in outputs.values():
        check_ties(figures, therapy_funds)
    this_year = f"Therapy US {YEAR} (USD)"
    assert set(outputs["pdf"].therapy) == set(therapy_funds)
    if privacy == "finance":
        bandmates = next(
            row for row in outputs["csv"].therapy[this_year] if row.label == BANDMATES_AND_CREW
        )
        # Bo claimed 100.00, asked for 30.00 (held) and 20.00 (approved): 50.00 is left.
        assert bandmates.values["people"] == 1
        assert (money(bandmates, "allocated"), money(bandmates, "redeemed")) == (10_000, 2_000)
        assert (money(bandmates, "held"), money(bandmates, "available")) == (3_000, 5_000)
    pdf, csv_figures, preview = outputs["pdf"], outputs["csv"], outputs["preview"]
    for fund in funds:
        assert pdf.tie(fund).values == csv_figures.tie(fund).values == preview.tie(fund).values
        assert pdf.fund(fund).values == csv_figures.fund(fund).values
    for fund in therapy_funds:
        assert [row.values for row in pdf.therapy[fund]] == [
            row.values for row in csv_figures.therapy[fund]
        ]
        assert [row.values for row in preview.therapy[fund]] == [
            row.values for row in csv_figures.therapy[fund]
        ]
    assert runner.invoke(args=["grants", "ledger", "verify"]).exit_code == 0
    assert runner.invoke(args=["grants", "audit", "verify"]).exit_code == 0


@pytest.fixture
def with_equal(books: Books) -> Books:
    """The dataset plus five EQUAL ambassadors, one of whom has a session paid: this year's
    fund then has groups of 6 (GLOW), 5 (EQUAL), 2 (RADAR) and 1 (bandmates and crew)."""
    wallets = []
    for number in range(5):
        ambassador = make_ambassador(
            books.db, programme="EQUAL", country=Country.US, name=f"Equal {number + 1}"
        )
        wallets.append(
            fund_wallet(books.db, books.therapy_fund, ambassador, 40_000 + number, books.manager)
        )
    books.redeem(wallets[0], 7_000, "pay")
    books.gift(wallets[1], 1_100, to="Ed Keys")
    books.db.commit()
    assert TODAY.year == YEAR
    return books


def test_no_withheld_group_can_be_recovered_by_subtraction(
    db: Session, with_equal: Books, finance: FlaskClient
) -> None:
    funds = fund_names(db)
    fund = f"Therapy US {YEAR} (USD)"
    truth = {row.label: row for row in read_all(finance, funds, "finance")["csv"].therapy[fund]}
    small = ("RADAR", BANDMATES_AND_CREW)
    for name, figures in read_all(finance, funds, "programme").items():
        rows = {row.label: row for row in figures.therapy[fund]}
        for label in small:
            assert rows[label].values["people"] == "<5", name
            assert all(rows[label].values[m] is None for m in ("allocated", "available"))
        # EQUAL (5 people) is the smallest group shown otherwise: withheld with them, so
        # the withheld groups count 8 people, and not even its head count is printed.
        assert all(value is None for value in rows["EQUAL"].values.values()), name
        assert money(rows["GLOW"], "available") == money(truth["GLOW"], "available")
        combined = rows[COMBINED_GROUPS]
        withheld = [truth[label] for label in (*small, "EQUAL")]
        assert combined.values["people"] == 8
        plain = [row for row in figures.therapy[fund] if row.label != COMBINED_GROUPS]
        tie = figures.tie(fund)
        for column in ("allocated", "redeemed", "paid", "available", "held"):
            assert money(combined, column) == sum(money(row, column) for row in withheld)
            from_totals = money(figures.totals["therapy"], column) - sum(
                money(row, column) for row in shown(plain)
            )
            assert from_totals == money(combined, column), (name, column)
        from_funds = (
            money(figures.fund(fund), "outstanding")
            - money(tie, "payable")
            - sum(money(row, "held") + money(row, "available") for row in shown(plain))
        )
        assert from_funds == money(combined, "held") + money(combined, "available")
        for group in withheld:
            for column in ("allocated", "available"):
                assert money(group, column) != money(combined, column), (name, group.label)
            assert money(group, "held") + money(group, "available") != from_funds
        # What bandmates and crew received is what the ambassador groups' gifts had claimed,
        # so it can be worked out; taking it from the withheld row leaves the withheld
        # ambassador groups' allowance, which must stand for five people or more.
        received = sum(money(row, "claimed") for row in shown(plain)) + money(combined, "claimed")
        assert received == money(truth[BANDMATES_AND_CREW], "allocated")
        ambassadors_withheld = money(combined, "allocated") - received
        assert ambassadors_withheld == money(truth["RADAR"], "allocated") + money(
            truth["EQUAL"], "allocated"
        )
        assert money(truth["RADAR"], "people") + money(truth["EQUAL"], "people") >= 5


def claim(books: Books, wallet: object, name: str, minor: int) -> None:
    """A gift of ``minor`` from ``wallet``, claimed by a new bandmate called ``name``."""
    token = books.gift(wallet, minor, to=name)  # type: ignore[arg-type]
    claims.claim_gift(
        books.db,
        key=books.key(),
        token=token,
        claimant=None,
        new_recipient=claims.NewRecipient(name, "drums all night long"),
        hasher=password_hasher(),
        rules=password_rules(),
        now=NOW,
    )


def test_a_small_group_is_never_withheld_with_bandmates_alone(
    db: Session, books: Books, finance: FlaskClient
) -> None:
    """RADAR (2 people) and three bandmates would make five people, but what bandmates
    received is known from the gifts claimed: withheld together, RADAR's allowance would be
    the withheld row's less that. So an ambassador group is withheld with them too."""
    claim(books, books.glow[1], "Cy Crew", 2_000)
    claim(books, books.glow[2], "Di Bass", 3_000)
    books.db.commit()
    funds = fund_names(db)
    fund = f"Therapy US {YEAR} (USD)"
    truth = {row.label: row for row in read_all(finance, funds, "finance")["csv"].therapy[fund]}
    assert truth[BANDMATES_AND_CREW].values["people"] == 3
    for name, figures in read_all(finance, funds, "programme").items():
        rows = {row.label: row for row in figures.therapy[fund]}
        combined = rows[COMBINED_GROUPS]
        assert rows["GLOW"].values["available"] is None, name
        received = money(truth[BANDMATES_AND_CREW], "allocated")
        assert money(combined, "allocated") - received == money(truth["RADAR"], "allocated") + (
            money(truth["GLOW"], "allocated")
        )
        assert money(combined, "allocated") - received != money(truth["RADAR"], "allocated")
        check_ties(figures, [name for name in funds if name.startswith("Therapy")])


def test_a_fund_of_fewer_than_five_people_shows_its_budget_only(
    db: Session, books: Books, finance: FlaskClient
) -> None:
    """At the programme level, a therapy fund whose wallets belong to fewer than five
    people shows no figure but its budget: its allocated, paid, outstanding and remaining
    amounts would be those people's credit."""
    small = books.open("Therapy US small", FundKind.THERAPY, 800_000)
    for wallet in books.radar:
        ambassador = db.scalars(
            select(Ambassador).where(Ambassador.user_id == wallet.user_id)
        ).one()
        fund_wallet(db, small, ambassador, 12_345, books.manager)
    books.db.commit()
    funds = fund_names(db)
    finance_level = read_all(finance, funds, "finance")["csv"]
    assert money(finance_level.fund(small.name), "allocated") == 24_690
    pdf = download_pdf(finance, privacy="programme")
    text = "\n".join(pages_text(pdf))
    assert "246.90" not in text, "two people's allowances, added up"
    assert "8,000.00" in text, "the budget is no one's credit"
    for name, figures in read_all(finance, funds, "programme").items():
        line = figures.fund(small.name)
        assert line.values["budget"] == 800_000, name
        assert [line.values[key] for key in ("allocated", "paid", "outstanding", "remaining")] == [
            None
        ] * 4
        assert figures.tie(small.name).values["outstanding"] is None
        assert all(row.values["available"] is None for row in figures.therapy[small.name])
