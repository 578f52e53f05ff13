"""Budget pools that grants and therapy credit are drawn from."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from grants.models.base import Base, UTCDateTime, enum_column, utcnow


class FundKind(StrEnum):
    """What a fund pays for."""

    GRANTS = "grants"
    THERAPY = "therapy"


FUND_TIME_ZONES: dict[str, str] = {"USD": "America/New_York", "GBP": "Europe/London"}
"""A new fund's time zone by its currency, until a manager chooses another; a currency not
listed here defaults to UTC."""


def default_fund_time_zone(currency: str) -> str:
    """The time zone a fund in ``currency`` keeps its plan year in unless told otherwise."""
    return FUND_TIME_ZONES.get(currency, "UTC")


def _time_zone_by_currency(context: Any) -> str:
    """A fund row's time zone when none is given: by the currency being inserted."""
    return default_fund_time_zone(str(context.get_current_parameters()["currency"]))


class Fund(Base):
    """A budget pool in one currency for one plan year.

    The budget itself is not a column: it is the balance of the fund's ledger account, so
    that every change to it is a ledger transaction.
    """

    __tablename__ = "funds"
    __table_args__ = (
        CheckConstraint("plan_year_end > plan_year_start", name="plan_year_order"),
        CheckConstraint(
            "length(currency) = 3 AND currency = upper(currency)", name="currency_code"
        ),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[FundKind] = mapped_column(enum_column(FundKind, "fund_kind"))
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code; every amount in this fund is in its minor units."""
    plan_year_start: Mapped[date]
    plan_year_end: Mapped[date]
    """The last day of the plan year (inclusive), a day in the fund's :attr:`time_zone`."""
    time_zone: Mapped[str] = mapped_column(String(64), default=_time_zone_by_currency)
    """The IANA time zone the fund's plan-year days are days in: its last day ends at
    midnight there."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the plan year was closed; a closed fund takes no new credit movements."""
    invoice_required: Mapped[bool] = mapped_column(server_default=true(), default=True)
    """Whether finance must see the provider's invoice before approving a session (or record
    why not)."""
    payer_name: Mapped[str] = mapped_column(String(140), default="", server_default="")
    """The account holder's name the bank files give as the payer."""
    payer_account: Mapped[str | None] = mapped_column(Text)
    """The fund's own bank account, encrypted with the data key like a provider's."""
    payer_summary: Mapped[str] = mapped_column(String(120), default="", server_default="")
    ach_company_id: Mapped[str] = mapped_column(String(10), default="", server_default="")
    """The company identification the originating bank gave for ACH files (US funds)."""
    ach_bank_name: Mapped[str] = mapped_column(String(23), default="", server_default="")
    """The originating bank's name as ACH files give it (US funds)."""

    @property
    def label(self) -> str:
        """The fund's name with its currency said once, as a choice in a form shows it: a name
        that already states its currency (such as "Therapy US 2026 (USD)") is shown as it is."""
        if re.search(rf"\b{re.escape(self.currency)}\b", self.name):
            return self.name
        return f"{self.name} ({self.currency})"

    def __repr__(self) -> str:
        return f"<Fund {self.id} {self.name}>"
