"""The therapy rows of the allocation report: per fund, a row per programme and country of
ambassadors and a row of bandmates and crew, from the running totals of each wallet's flows;
at the ``programme`` level, groups under five people withheld with complementary
suppression; and the per-person lines of the ``finance`` level."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from grants.domain.privacy import SMALL_CELL_THRESHOLD, SUPPRESSED, suppress_small_count
from grants.models import (
    Ambassador,
    Fund,
    Programme,
    TransactionKind,
    User,
    Wallet,
    WalletKind,
)
from grants.reports.flows import flows_at, paid_at
from grants.reports.parameters import Count, Privacy, ReportParameters


class CellKind(StrEnum):
    """What a row of the therapy table counts."""

    AMBASSADORS = "ambassadors"
    """The ambassadors of one programme in one country, in their own wallets."""
    RECIPIENTS = "recipients"
    """Bandmates and crew: credit they claimed from gifts, in their own wallets."""
    COMBINED = "combined"
    """At the programme level: the groups withheld in one fund, added together."""


BANDMATES_AND_CREW = "Bandmates and crew"
COMBINED_GROUPS = "Withheld groups"


@dataclass(frozen=True)
class TherapyCell:
    """One row of the therapy table: a group of wallets of one fund, in minor units.

    For every row ``allocated - claimed - redeemed - expired = held + available``, where
    ``allocated`` is the allowance of an ambassador group and the credit received from gifts
    of the bandmates-and-crew row, and ``claimed`` is what recipients claimed from the
    group's gifts. Money figures are ``None`` when withheld at the ``programme`` level.
    """

    fund_id: int
    fund: str
    kind: CellKind
    programme: str
    country: str
    people: Count
    allocated: int | None
    gifts: Count
    """Gifts sent and not withdrawn: pending or claimed."""
    gifted: int | None
    claims: Count
    claimed: int | None
    redeemed: int | None
    """Sessions finance approved, paid or not yet."""
    paid: int | None
    """Approved sessions paid to the therapists."""
    expired: int | None
    """Credit that went back to the fund: expired gifts and requests, plan-year close."""
    held_gifts: int | None
    """Held for gifts not yet claimed, revoked or expired."""
    held_sessions: int | None
    """Held for session requests finance has not decided."""
    available: int | None
    """Credit its holders can spend or give now."""

    @property
    def suppressed(self) -> bool:
        return self.allocated is None

    @property
    def held(self) -> int | None:
        if self.held_gifts is None or self.held_sessions is None:
            return None
        return self.held_gifts + self.held_sessions

    @property
    def outstanding(self) -> int | None:
        """Credit still owed to the group's people: held and available."""
        if self.held is None or self.available is None:
            return None
        return self.held + self.available


@dataclass(frozen=True)
class AmbassadorLine:
    """One person's credit in one fund (finance level only): an ambassador, or a bandmate
    or crew member holding credit claimed from gifts. No provider, no session date."""

    fund: str
    name: str
    programme: str
    country: str
    allocated: int
    """The allowance of an ambassador; what a bandmate or crew member received."""
    gifted: int
    redeemed: int
    remaining: int
    """Held and available."""


RETURNED_TO_FUND = (
    TransactionKind.GIFT_RELEASE,
    TransactionKind.REDEMPTION_RELEASE,
    TransactionKind.PLAN_YEAR_CLOSE,
)
"""Kinds that move credit out of a wallet back to its fund (a release back to the wallet
itself nets to zero over the wallet's two accounts)."""

GIFT_HOLD_KINDS = (
    TransactionKind.GIFT_HOLD,
    TransactionKind.GIFT_CLAIM,
    TransactionKind.GIFT_RELEASE,
)
"""Kinds whose postings on a hold account make up the credit held for pending gifts."""

MONEY_FIGURES = (
    "allocated",
    "gifted",
    "claimed",
    "redeemed",
    "paid",
    "expired",
    "held_gifts",
    "held_sessions",
    "available",
)
"""The money columns of a therapy row, in the order the wallet query returns them."""

COUNT_FIGURES = ("people", "gifts", "claims")


def _wallet_flows(session: Session, fund_ids: Sequence[int], position: int) -> Any:
    """Per wallet of the funds (ambassadors' and bandmates' alike), its flows by kind at
    ``position`` (a subquery), from the running totals of :mod:`grants.reports.flows`: the
    cost follows the number of wallets, not the number of postings.

    A plan-year close empties every hold of its fund, so a wallet whose hold account took
    part in one holds nothing for gifts any more, whatever its gift postings add up to.
    """
    sides = union_all(
        select(
            Wallet.id.label("wallet_id"),
            Wallet.account_id.label("account_id"),
            literal(0).label("held"),
        ).where(Wallet.fund_id.in_(fund_ids)),
        select(
            Wallet.id.label("wallet_id"),
            Wallet.hold_account_id.label("account_id"),
            literal(1).label("held"),
        ).where(Wallet.fund_id.in_(fund_ids)),
    ).subquery()
    flows = flows_at(session, position)
    kind = flows.c.kind
    held = sides.c.held == 1

    def of(*kinds: str) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = kind.in_(kinds)
        return condition

    def total(condition: ColumnElement[bool], sign: int = 1) -> Any:
        return func.coalesce(func.sum(case((condition, flows.c.amount * sign), else_=0)), 0)

    def number(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, flows.c.postings), else_=0)), 0)

    received = of(
        TransactionKind.ALLOWANCE.value,
        f"reversal:{TransactionKind.ALLOWANCE.value}",
        TransactionKind.GIFT_CLAIM.value,
    )
    closed = number(and_(held, of(TransactionKind.PLAN_YEAR_CLOSE.value))) > 0
    held_gifts = case((closed, 0), else_=total(and_(held, of(*(k.value for k in GIFT_HOLD_KINDS)))))
    return (
        select(
            sides.c.wallet_id,
            total(and_(received, ~held)).label("allocated"),
            (
                number(and_(held, of(TransactionKind.GIFT_HOLD.value)))
                - number(and_(held, of(TransactionKind.GIFT_RELEASE.value)))
            ).label("gifts"),
            total(
                and_(held, of(TransactionKind.GIFT_HOLD.value, TransactionKind.GIFT_RELEASE.value))
            ).label("gifted"),
            number(and_(held, of(TransactionKind.GIFT_CLAIM.value))).label("claims"),
            total(and_(held, of(TransactionKind.GIFT_CLAIM.value)), -1).label("claimed"),
            total(and_(held, of(TransactionKind.REDEMPTION_APPROVAL.value)), -1).label("redeemed"),
            total(of(*(k.value for k in RETURNED_TO_FUND)), -1).label("expired"),
            held_gifts.label("held_gifts"),
            (total(held) - held_gifts).label("held_sessions"),
            total(~held).label("available"),
        )
        .select_from(sides)
        .join(flows, flows.c.account_id == sides.c.account_id)
        .group_by(sides.c.wallet_id)
        .subquery()
    )


@dataclass
class _Group:
    """The raw figures of one therapy row before privacy is applied."""

    fund_id: int
    kind: CellKind
    programme: str
    country: str
    counts: dict[str, int]
    money: dict[str, int]

    @property
    def people(self) -> int:
        return self.counts["people"]

    def add(self, other: _Group) -> None:
        for name in COUNT_FIGURES:
            self.counts[name] += other.counts[name]
        for name in MONEY_FIGURES:
            self.money[name] += other.money[name]


def therapy_rows(
    session: Session,
    parameters: ReportParameters,
    funds: Sequence[Fund],
    position: int,
) -> tuple[list[TherapyCell], list[AmbassadorLine]]:
    fund_ids = [fund.id for fund in funds]
    flows = _wallet_flows(session, fund_ids, position)
    payments = paid_at(session, parameters.cutoff)
    paid = (
        select(payments.c.wallet_id, func.sum(payments.c.amount).label("amount"))
        .group_by(payments.c.wallet_id)
        .subquery()
    )
    per_wallet = (
        select(
            Wallet.id.label("wallet_id"),
            Wallet.fund_id.label("fund_id"),
            Wallet.kind.label("kind"),
            Wallet.user_id.label("user_id"),
            User.display_name.label("name"),
            Programme.code.label("programme"),
            Ambassador.country.label("country"),
            flows.c.allocated,
            flows.c.gifts,
            flows.c.gifted,
            flows.c.claims,
            flows.c.claimed,
            flows.c.redeemed,
            func.coalesce(paid.c.amount, 0).label("paid"),
            flows.c.expired,
            flows.c.held_gifts,
            flows.c.held_sessions,
            flows.c.available,
        )
        .select_from(flows)
        .join(Wallet, Wallet.id == flows.c.wallet_id)
        .join(User, User.id == Wallet.user_id)
        .outerjoin(
            Ambassador,
            and_(Ambassador.user_id == Wallet.user_id, Wallet.kind == WalletKind.AMBASSADOR),
        )
        .outerjoin(Programme, Programme.id == Ambassador.programme_id)
        .outerjoin(paid, paid.c.wallet_id == Wallet.id)
    ).subquery()
    groups_query = (
        select(
            per_wallet.c.fund_id,
            per_wallet.c.kind,
            per_wallet.c.programme,
            per_wallet.c.country,
            func.count(per_wallet.c.user_id.distinct()),
            func.sum(per_wallet.c.gifts),
            func.sum(per_wallet.c.claims),
            *(func.sum(per_wallet.c[name]) for name in MONEY_FIGURES),
        )
        .group_by(
            per_wallet.c.fund_id, per_wallet.c.kind, per_wallet.c.programme, per_wallet.c.country
        )
        .order_by(
            per_wallet.c.fund_id, per_wallet.c.kind, per_wallet.c.programme, per_wallet.c.country
        )
    )
    by_fund: dict[int, list[_Group]] = {fund_id: [] for fund_id in fund_ids}
    for fund_id, kind, code, country, *figures in session.execute(groups_query):
        recipients = WalletKind(kind) is WalletKind.RECIPIENT
        by_fund[fund_id].append(
            _Group(
                fund_id=fund_id,
                kind=CellKind.RECIPIENTS if recipients else CellKind.AMBASSADORS,
                programme=BANDMATES_AND_CREW if recipients else code,
                country="" if recipients else str(country),
                counts={
                    name: int(value) for name, value in zip(COUNT_FIGURES, figures[:3], strict=True)
                },
                money={
                    name: int(value) for name, value in zip(MONEY_FIGURES, figures[3:], strict=True)
                },
            )
        )
    names = {fund.id: fund.name for fund in funds}
    programme_level = parameters.privacy is Privacy.PROGRAMME
    cells: list[TherapyCell] = []
    for fund_id, groups in by_fund.items():
        countries = {group.country for group in groups if group.kind is CellKind.AMBASSADORS}
        for group in groups:
            if group.kind is CellKind.RECIPIENTS and len(countries) == 1:
                group.country = countries.pop()
        ordered = sorted(groups, key=lambda g: (g.kind is CellKind.RECIPIENTS, g.programme))
        if programme_level:
            cells.extend(_protected(names[fund_id], ordered))
        else:
            cells.extend(_cell(names[fund_id], group) for group in ordered)
    ambassadors: list[AmbassadorLine] = []
    if not programme_level:
        ambassadors = [
            AmbassadorLine(
                fund=names[fund_id],
                name=name,
                programme=code or BANDMATES_AND_CREW,
                country=str(country) if country else "",
                allocated=int(allocated),
                gifted=int(gifted),
                redeemed=int(redeemed),
                remaining=int(held_gifts) + int(held_sessions) + int(available),
            )
            for (
                fund_id,
                name,
                code,
                country,
                allocated,
                gifted,
                redeemed,
                held_gifts,
                held_sessions,
                available,
            ) in session.execute(
                select(
                    per_wallet.c.fund_id,
                    per_wallet.c.name,
                    per_wallet.c.programme,
                    per_wallet.c.country,
                    per_wallet.c.allocated,
                    per_wallet.c.gifted,
                    per_wallet.c.redeemed,
                    per_wallet.c.held_gifts,
                    per_wallet.c.held_sessions,
                    per_wallet.c.available,
                ).order_by(
                    per_wallet.c.fund_id,
                    per_wallet.c.kind,
                    per_wallet.c.programme,
                    per_wallet.c.country,
                    per_wallet.c.name,
                    per_wallet.c.wallet_id,
                )
            )
        ]
    return cells, ambassadors


def _cell(
    fund: str,
    group: _Group,
    *,
    kind: CellKind | None = None,
    counts: dict[str, Count | None] | None = None,
    withheld: bool = False,
) -> TherapyCell:
    """A therapy row of ``group``: its own figures, or the counts given and no money."""
    shown: dict[str, Count | None] = counts if counts is not None else dict(group.counts)

    def money(name: str) -> int | None:
        return None if withheld else group.money[name]

    return TherapyCell(
        fund_id=group.fund_id,
        fund=fund,
        kind=kind or group.kind,
        programme=group.programme,
        country=group.country,
        people=shown["people"],
        gifts=shown["gifts"],
        claims=shown["claims"],
        allocated=money("allocated"),
        gifted=money("gifted"),
        claimed=money("claimed"),
        redeemed=money("redeemed"),
        paid=money("paid"),
        expired=money("expired"),
        held_gifts=money("held_gifts"),
        held_sessions=money("held_sessions"),
        available=money("available"),
    )


def _protected(fund: str, groups: Sequence[_Group]) -> list[TherapyCell]:
    """The rows of one fund at the ``programme`` level, with complementary suppression.

    A group of fewer than five people is withheld, and its figures are added up with other
    withheld groups in a row of their own, so that the table's totals still tie to the
    funds table. What bandmates and crew received is no secret (it is what the ambassador
    groups' gifts had claimed), so subtracting it from the withheld row gives the withheld
    ambassador groups' own figures: those must count five people or more between them, and
    bandmates and crew, when withheld, are withheld with one ambassador group or more, so
    that their spending is never alone in the row. The smallest groups shown are withheld
    too until both hold (:func:`_enough`). Counts of gifts and claims under five show as
    ``<5``.
    """
    small = [group for group in groups if group.people < SMALL_CELL_THRESHOLD]
    if not small:
        return [_cell(fund, group, counts=_small_counts(group.counts)) for group in groups]
    withheld = list(small)
    spare = sorted(
        (
            group
            for group in groups
            if group.people >= SMALL_CELL_THRESHOLD and group.kind is CellKind.AMBASSADORS
        ),
        key=lambda g: (g.people, g.programme, g.country),
    )
    while spare and not _enough(withheld):
        withheld.append(spare.pop(0))
    rows = []
    for group in groups:
        if group not in withheld:
            rows.append(_cell(fund, group, counts=_small_counts(group.counts)))
        elif group.people < SMALL_CELL_THRESHOLD:
            rows.append(
                _cell(fund, group, counts=dict.fromkeys(COUNT_FIGURES, SUPPRESSED), withheld=True)
            )
        else:
            rows.append(
                _cell(fund, group, counts=dict.fromkeys(COUNT_FIGURES, None), withheld=True)
            )
    combined = _Group(
        fund_id=withheld[0].fund_id,
        kind=CellKind.COMBINED,
        programme=COMBINED_GROUPS,
        country="",
        counts=dict.fromkeys(COUNT_FIGURES, 0),
        money=dict.fromkeys(MONEY_FIGURES, 0),
    )
    for group in withheld:
        combined.add(group)
    countries = {group.country for group in withheld}
    combined.country = countries.pop() if len(countries) == 1 else ""
    if _enough(withheld):
        rows.append(_cell(fund, combined, counts=_small_counts(combined.counts)))
    else:
        rows.append(
            _cell(fund, combined, counts=dict.fromkeys(COUNT_FIGURES, SUPPRESSED), withheld=True)
        )
    return rows


def _enough(withheld: Sequence[_Group]) -> bool:
    """Whether ``withheld`` may be shown added up: its ambassador groups count five people
    or more between them, and it is more than one group."""
    ambassadors = [group for group in withheld if group.kind is CellKind.AMBASSADORS]
    people = sum(group.people for group in ambassadors)
    return people >= SMALL_CELL_THRESHOLD and len(withheld) >= 2


def _small_counts(counts: dict[str, int]) -> dict[str, Count | None]:
    return {name: suppress_small_count(value) for name, value in counts.items()}
