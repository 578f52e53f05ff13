"""Reading the report's figures back from each of its outputs (the PDF, the CSV, the preview
page) into one shape, so the same identities can be checked on all three, and a dataset
holding every state a gift, a session request and a plan year can be in."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pdfplumber
from sqlalchemy import select

from grants.domain import gifts, plan_year
from grants.domain.gifts import hash_token
from grants.domain.money import Money
from grants.models import Ambassador, FundKind, Gift, Wallet, WalletKind
from tests.factories import fund_wallet
from tests.reports.dataset import NOW, YEAR, Books

FIGURE = re.compile(r"^-?\$?\d[\d,]*\.\d\d$")
COUNT = re.compile(r"^(\d+|<5)$")
WITHHELD = "—"
COUNTRY = re.compile(r" (US|GB)$")

THERAPY_VALUES = (
    "people",
    "allocated",
    "gifts",
    "gifted",
    "claims",
    "claimed",
    "redeemed",
    "paid",
    "expired",
    "held",
    "available",
)
RECONCILIATION_VALUES = (
    "available",
    "held_gifts",
    "held_sessions",
    "payable",
    "awarded",
    "outstanding",
)
FUND_VALUES = ("budget", "allocated", "paid", "outstanding", "remaining")

Value = int | str | None
"""Money in minor units, a count, ``"<5"``, or ``None`` when withheld."""


def value(text: str) -> Value:
    """A cell as printed: money to minor units, a count to a number, ``—`` or empty to None."""
    text = text.strip()
    if text in ("", WITHHELD):
        return None
    if text == "<5":
        return text
    if FIGURE.match(text):
        return int(Decimal(text.replace("$", "").replace(",", "")) * 100)
    return int(text)


@dataclass
class Row:
    label: str
    values: dict[str, Value]


@dataclass
class Figures:
    """The report's figures as one output shows them: rows per table, the therapy and
    per-person rows under the fund they belong to."""

    funds: list[Row] = field(default_factory=list)
    reconciliation: list[Row] = field(default_factory=list)
    therapy: dict[str, list[Row]] = field(default_factory=dict)
    totals: dict[str, Row] = field(default_factory=dict)

    def fund(self, name: str) -> Row:
        return next(row for row in self.funds if row.label == name)

    def tie(self, name: str) -> Row:
        return next(row for row in self.reconciliation if row.label == name)

    def add(self, table: str, fund: str, row: Row) -> None:
        """File ``row`` of ``table`` (``fund``: the fund a therapy row stands under)."""
        if row.label.startswith("Total"):
            self.totals[table] = row
        elif table == "funds":
            self.funds.append(row)
        elif table == "reconciliation":
            self.reconciliation.append(row)
        else:
            self.therapy.setdefault(fund, []).append(row)


def from_csv(text: str) -> Figures:
    """The figures of the report's whole-CSV export (or the PDF's attachment)."""
    figures = Figures()
    header: dict[str, list[str]] = {}
    for cells in csv.reader(io.StringIO(text)):
        if len(cells) < 3 or cells[0] not in ("funds", "reconciliation", "therapy"):
            continue
        table = cells[0]
        if table not in header:
            header[table] = cells
            continue
        named = dict(zip(header[table], cells, strict=True))
        if table == "funds":
            row = Row(named["fund"], {key: value(named[key]) for key in FUND_VALUES})
        elif table == "reconciliation":
            row = Row(named["fund"], {key: value(named[key]) for key in RECONCILIATION_VALUES})
        else:
            row = Row(named["programme"], {key: value(named[key]) for key in THERAPY_VALUES})
        if named["fund"] in ("Total", "Total of the rows shown"):
            row.label = named["fund"]
        figures.add(table, named["fund"], row)
    return figures


def _printed_row(words: list[str], names: tuple[str, ...]) -> Row | None:
    """A row printed as words: its label first, then one value per column of ``names``."""
    count = len(names)
    if len(words) <= count:
        return None
    tail = words[-count:]
    if not all(FIGURE.match(w) or COUNT.match(w) or w == WITHHELD for w in tail):
        return None
    return Row(" ".join(words[:-count]), dict(zip(names, map(value, tail), strict=True)))


def _collect(figures: Figures, lines: list[list[str]], funds: list[str]) -> Figures:
    """Sort printed lines (each a list of words) into the tables they belong to, following
    the section headings and the fund captions of the therapy table."""
    section = ""
    fund = ""
    for words in lines:
        line = " ".join(words)
        if line.startswith("Funds"):
            section = "funds"
        elif line.startswith("Outstanding, by where it is"):
            section = "reconciliation"
        elif line.startswith("Grants by partner"):
            section = "grants"
        elif line.startswith("Therapy credit by programme and country"):
            section = "therapy"
        elif line.startswith("Therapy credit by person"):
            section = "people"
        elif section == "therapy" and line in funds:
            fund = line
        elif section in ("funds", "reconciliation", "therapy"):
            names = {
                "funds": FUND_VALUES,
                "reconciliation": RECONCILIATION_VALUES,
                "therapy": THERAPY_VALUES,
            }[section]
            if section == "funds":
                words = words[:1] + words[-len(FUND_VALUES) :] if len(words) > 5 else words
            row = _printed_row(words, names)
            if row is None:
                continue
            if section == "funds":
                row.label = next((name for name in funds if line.startswith(name)), row.label)
            if section == "therapy":
                row.label = COUNTRY.sub("", row.label)
            figures.add(section, fund, row)
    return figures


def from_pdf(pdf: bytes, funds: list[str]) -> Figures:
    """The figures printed in the PDF, read back with pdfplumber, line by line."""
    lines: list[list[str]] = []
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for page in document.pages:
            text = page.extract_text() or ""
            lines.extend(line.split() for line in text.splitlines())
    return _collect(Figures(), lines, funds)


class _Tables(HTMLParser):
    """Headings and table rows of the preview page, in order, as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[list[str]] = []
        self._cells: list[str] | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h3", "tr"):
            self._cells = []
        if tag in ("h3", "th", "td") and self._cells is not None:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td", "h3") and self._text is not None and self._cells is not None:
            self._cells.append(" ".join("".join(self._text).split()))
            self._text = None
        if tag in ("h3", "tr") and self._cells is not None:
            self.lines.append(self._cells)
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def from_preview(html: str, funds: list[str]) -> Figures:
    """The figures of the preview page's tables."""
    parser = _Tables()
    parser.feed(html)
    lines = []
    for cells in parser.lines:
        texts = [cell for cell in cells if cell]
        if len(texts) == 1:
            lines.append([texts[0]])
            continue
        # A row: its leading text cells joined into one label word, then its values.
        label = []
        while texts and not (FIGURE.match(texts[0]) or COUNT.match(texts[0])):
            if texts[0] == WITHHELD and label:
                break
            label.append(texts.pop(0))
        lines.append([" ".join(label), *texts])
    return _collect(Figures(), [_split_label(line, funds) for line in lines], funds)


def _split_label(line: list[str], funds: list[str]) -> list[str]:
    """A preview line as words, keeping a fund's name whole so it can be recognised."""
    if len(line) == 1:
        return line[0].split() if line[0] not in funds else [line[0]]
    return [*line[0].split(), *line[1:]]


# --- a dataset with every state ------------------------------------------------------------


@dataclass
class EveryState:
    """The report dataset (gifts claimed, pending and revoked; sessions paid, approved and
    requested), with an expired gift, a rejected and a cancelled request, a bandmate's own
    requests, and last year's fund, closed with a gift pending, a request undecided and one
    approved but not yet paid."""

    books: Books
    last_year_fund: str = ""

    def build(self) -> EveryState:
        books = self.books
        db = books.db
        glow = books.glow
        expiring = books.gift(glow[1], 1_500, to="Cy Crew", at=NOW - timedelta(days=40))
        gift_id = db.scalar(select(Gift.id).where(Gift.token_hash == hash_token(expiring)))
        assert gift_id is not None
        gifts.expire_gift(db, key=books.key(), gift_id=gift_id, now=NOW)
        books.redeem(glow[2], 1_200, "reject")
        books.redeem(glow[3], 700, "cancel")
        bandmate = db.scalars(select(Wallet).where(Wallet.kind == WalletKind.RECIPIENT)).one()
        books.redeem(bandmate, 3_000)
        books.redeem(bandmate, 2_000, "approve")
        self._last_year()
        db.commit()
        return self

    def _last_year(self) -> None:
        books = self.books
        db = books.db
        fund = books.open("Therapy US", FundKind.THERAPY, 1_000_000, year=YEAR - 1)
        self.last_year_fund = fund.name
        then = NOW.replace(year=YEAR - 1, month=6, day=1)
        wallets = [
            fund_wallet(db, fund, ambassador, 20_000, books.manager)
            for ambassador in db.scalars(
                select(Ambassador)
                .where(Ambassador.user_id.in_([wallet.user_id for wallet in books.glow]))
                .order_by(Ambassador.id)
            )
        ]
        books.gift(wallets[0], 2_500, to="Di Bass", at=then)
        books.redeem(wallets[1], 4_000, at=then)
        books.redeem(wallets[2], 6_000, "approve", at=then)
        plan_year.close_plan_year(
            db, key=books.key(), actor=books.finance, fund_id=fund.id, now=NOW
        )


def _usd(minor: int) -> Money:
    return Money(minor, "USD")
