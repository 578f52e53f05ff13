"""Demo data for trying the application: programmes, partners, funds, ambassadors, logins.

There is a login for every journey: an admin, two managers (one drafts a grant, the other
approves it), finance, an ambassador in each country (USD and GBP credit) and a recipient
who has claimed a gift, made through the same operations as the web forms, so the ledger
and the audit chain verify."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from argon2 import PasswordHasher
from cryptography.fernet import MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain.accounts import PasswordRules, create_user, find_user_by_email
from grants.domain.allowances import COUNTRY_CURRENCY, allocate_allowance
from grants.domain.claims import claim_gift
from grants.domain.funds import change_budget, open_fund
from grants.domain.gifts import give_gift
from grants.domain.ledger import find_wallet
from grants.domain.money import Money
from grants.domain.support import seed_default_lines
from grants.models import (
    Ambassador,
    CohortStatus,
    Country,
    Fund,
    FundKind,
    HelpdeskRoute,
    Partner,
    Programme,
    Relation,
    Role,
    User,
    WalletKind,
)
from grants.models.helpdesk import ANY as ANY_ROUTE
from grants.seed.hub import seed_hub
from grants.seed.portal import seed_portal
from grants.seed.providers import seed_providers

DEMO_PASSWORD = "heart-and-soul-demo"  # noqa: S105 - published demo credential, printed on seeding
"""The password of every demo login. Demo data is for trying the app, never for production."""

DEMO_DOMAIN = "heartandsoul.example"

PROGRAMMES = (
    ("EQUAL", "EQUAL", "Amplifying women and gender-expansive artists."),
    ("GLOW", "GLOW", "Spotlighting artists on the rise."),
    ("RADAR", "RADAR", "Backing emerging artists early."),
)

PARTNERS = (
    ("Backline", Country.US),
    ("MusiCares", Country.US),
    ("Music Health Alliance", Country.US),
    ("Music Minds Matter", Country.GB),
    ("The Busyhead Project", Country.US),
)

LOGINS = (
    (Role.ADMIN, "admin", "Ada Admin", "en_US"),
    (Role.MANAGER, "manager", "Morgan Manager", "en_US"),
    (Role.MANAGER, "manager.two", "Casey Manager", "en_US"),
    (Role.FINANCE, "finance", "Frankie Finance", "en_US"),
    (Role.AMBASSADOR, "ambassador", "Avery Ambassador", "en_US"),
    (Role.AMBASSADOR, "ambassador.uk", "Rowan Ambassador", "en_GB"),
    (Role.RECIPIENT, "recipient", "Riley Recipient", "en_GB"),
    (Role.NAVIGATOR, "navigator", "Noor Navigator", "en_US"),
    (Role.NAVIGATOR, "navigator.two", "Sam Navigator", "en_GB"),
    (Role.PARTNER, "partner", "Pat Partner", "en_US"),
    (Role.PARTNER, "partner.musicares", "Mel Partner", "en_US"),
)
"""The demo logins: role, email local part, display name, locale."""

LOGIN_NOTES = {
    "admin": "users and roles, and every manager screen",
    "manager": "drafts and submits grants, places allowances",
    "manager.two": "the second manager: approves what the other one submits",
    "finance": "pays tranches and therapy payouts, makes reports",
    "ambassador": "GLOW, United States: credit in USD",
    "ambassador.uk": "EQUAL, United Kingdom: credit in GBP",
    "recipient": "a bandmate who claimed a gift from Rowan Ambassador (GBP)",
    "navigator": "Backline's help desk; curates the resource hub: proposes services and changes",
    "navigator.two": "the second navigator: publishes what the other one proposes",
    "partner": "Backline's grants person: applies to funding rounds, writes progress reports",
    "partner.musicares": "MusiCares's grants person: sees only MusiCares's applications",
}
"""What each demo login is for, printed beside it."""

AMBASSADOR_LOGINS = {"Avery Ambassador": "ambassador", "Rowan Ambassador": "ambassador.uk"}
"""The demo ambassadors who are also demo logins, with their email local parts."""

RECIPIENT_GIFT = Money(16_000, "GBP")
"""What the UK ambassador gave the demo recipient, who claimed it."""

AMBASSADORS = (
    ("EQUAL", Country.US, "Jess Marlowe"),
    ("EQUAL", Country.GB, "Niamh Carter"),
    ("GLOW", Country.US, "Avery Ambassador"),
    ("GLOW", Country.GB, "Tom Ashby"),
    ("RADAR", Country.US, "Dani Reyes"),
    ("RADAR", Country.GB, "Priya Shah"),
    ("EQUAL", Country.US, "Lena Ortiz"),
    ("GLOW", Country.US, "Kai Turner"),
    ("RADAR", Country.US, "Sam Okafor"),
    ("EQUAL", Country.GB, "Maisie Hart"),
    ("GLOW", Country.GB, "Ollie Grant"),
    ("RADAR", Country.GB, "Freya Lowe"),
    ("EQUAL", Country.GB, "Rowan Ambassador"),
)
"""Ambassadors in every programme and both countries; Avery (US) and Rowan (UK) are the
ambassador demo logins."""

ALLOWANCES = {"USD": 75_000, "GBP": 60_000}
"""Each demo ambassador's allowance, in minor units of their country's therapy fund."""


@dataclass
class DemoSeed:
    """What seeding did: how many rows of each kind it added, and the logins to print."""

    created: dict[str, int] = field(default_factory=dict)
    logins: list[tuple[Role, str]] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    """What each login is for, by email."""

    def count(self, kind: str) -> None:
        self.created[kind] = self.created.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created)


def email_for(local_part: str) -> str:
    """The demo address for ``local_part``."""
    return f"{local_part}@{DEMO_DOMAIN}"


def seed_demo(
    session: Session,
    *,
    today: date,
    hasher: PasswordHasher,
    rules: PasswordRules,
    now: datetime | None = None,
    keys: MultiFernet | None = None,
) -> DemoSeed:
    """Add whatever demo data is missing; existing rows are left exactly as they are.

    ``now`` is when the recipient's gift is given and claimed: by default the present
    moment, or noon of ``today`` when ``today`` is another day. With the data ``keys``, the
    provider directory and the funds' own accounts are seeded too (their bank details are
    stored encrypted)."""
    if now is None:
        now = clock.now()
        if now.date() != today:
            now = datetime.combine(today, time(12), tzinfo=UTC)
    seed = DemoSeed()
    programmes = _seed_programmes(session, seed)
    _seed_partners(session, seed)
    for role, local_part, name, locale in LOGINS:
        email = email_for(local_part)
        if find_user_by_email(session, email) is None:
            create_user(
                session,
                email=email,
                display_name=name,
                password=DEMO_PASSWORD,
                roles=[role],
                hasher=hasher,
                rules=rules,
                locale=locale,
            )
            seed.count("users")
        seed.logins.append((role, email))
        seed.notes[email] = LOGIN_NOTES[local_part]
    manager = find_user_by_email(session, email_for("manager"))
    assert manager is not None
    _seed_funds(session, seed, today.year, manager)
    ambassadors = _seed_ambassadors(session, seed, programmes, hasher, rules)
    _seed_allowances(session, seed, today.year, manager, ambassadors)
    _seed_claimed_gift(session, seed, today.year, now, hasher, rules)
    support_lines = seed_default_lines(session)
    if support_lines:
        seed.created["support lines"] = support_lines
    _seed_hub(session, seed, now)
    _seed_helpdesk(session, seed)
    if seed_portal(session, today=today, email_for=email_for, manager=manager):
        seed.count("funding rounds")
    if keys is not None:
        finance = find_user_by_email(session, email_for("finance"))
        proposer = find_user_by_email(session, email_for("ambassador"))
        if finance is not None and proposer is not None:
            added = seed_providers(session, keys=keys, finance=finance, proposer=proposer, now=now)
            if added:
                seed.created["therapy providers"] = added
    session.flush()
    return seed


def _seed_helpdesk(session: Session, seed: DemoSeed) -> None:
    """Backline answers the help desk for every country and language, as it does today, and
    the demo navigators work for Backline."""
    session.flush()
    backline = session.scalar(select(Partner).where(Partner.display_name == "Backline"))
    assert backline is not None
    if session.scalar(select(HelpdeskRoute.id)) is None:
        session.add(HelpdeskRoute(country=ANY_ROUTE, language=ANY_ROUTE, partner_id=backline.id))
        seed.count("help desk routes")
    for local_part in ("navigator", "navigator.two"):
        navigator = find_user_by_email(session, email_for(local_part))
        if navigator is not None and navigator.partner_id is None:
            navigator.partner_id = backline.id


def _seed_hub(session: Session, seed: DemoSeed, now: datetime) -> None:
    """The resource hub's real seed data (:mod:`grants.seed.hub`), so /help is populated."""
    hub = seed_hub(session, now=now)
    for kind, count in (
        ("hub countries", hub.countries),
        ("hub organisations", hub.organizations),
        ("hub services", len(hub.services)),
    ):
        if count:
            seed.created[kind] = count


def _seed_programmes(session: Session, seed: DemoSeed) -> dict[str, Programme]:
    existing = {p.code: p for p in session.scalars(select(Programme))}
    for code, name, description in PROGRAMMES:
        if code not in existing:
            existing[code] = Programme(code=code, name=name, description=description)
            session.add(existing[code])
            seed.count("programmes")
    return existing


def _seed_partners(session: Session, seed: DemoSeed) -> None:
    existing = set(session.scalars(select(Partner.display_name)))
    for name, country in PARTNERS:
        if name not in existing:
            session.add(Partner(legal_name=name, display_name=name, country=country))
            seed.count("partners")


def _seed_funds(session: Session, seed: DemoSeed, year: int, manager: User) -> None:
    """The plan year's three funds, each opened with a budget the first time."""
    wanted = (
        (f"Partner grants {year} (USD)", FundKind.GRANTS, "USD", 25_000_000),
        (f"Therapy US {year} (USD)", FundKind.THERAPY, "USD", 6_000_000),
        (f"Therapy UK {year} (GBP)", FundKind.THERAPY, "GBP", 4_000_000),
    )
    existing = set(session.scalars(select(Fund.name)))
    for name, kind, currency, budget in wanted:
        if name not in existing:
            fund = open_fund(
                session,
                name=name,
                kind=kind,
                currency=currency,
                start=date(year, 1, 1),
                end=date(year, 12, 31),
            )
            change_budget(
                session,
                key=f"demo:budget:{fund.id}",
                actor=manager,
                fund_id=fund.id,
                amount=Money(budget, currency),
                reason="Demo budget",
            )
            seed.count("funds")


def _seed_ambassadors(
    session: Session,
    seed: DemoSeed,
    programmes: dict[str, Programme],
    hasher: PasswordHasher,
    rules: PasswordRules,
) -> list[Ambassador]:
    session.flush()
    ambassadors = []
    for code, country, name in AMBASSADORS:
        local_part = AMBASSADOR_LOGINS.get(name, name.lower().replace(" ", "."))
        email = email_for(local_part)
        user = find_user_by_email(session, email)
        if user is None:
            user = create_user(
                session,
                email=email,
                display_name=name,
                password=None,
                roles=[Role.AMBASSADOR],
                hasher=hasher,
                rules=rules,
                locale="en_GB" if country is Country.GB else "en_US",
            )
            seed.count("users")
        membership = _membership(session, user)
        if membership is None:
            membership = Ambassador(
                user=user,
                programme=programmes[code],
                country=country,
                cohort_status=CohortStatus.CURRENT,
            )
            session.add(membership)
            seed.count("ambassadors")
        ambassadors.append(membership)
    session.flush()
    return ambassadors


def _seed_allowances(
    session: Session, seed: DemoSeed, year: int, manager: User, ambassadors: list[Ambassador]
) -> None:
    """An allowance from the plan year's therapy fund of their country for each demo
    ambassador who has no wallet in it yet, so there is credit to redeem and give."""
    funds = {
        fund.currency: fund
        for fund in session.scalars(
            select(Fund).where(
                Fund.name.in_([f"Therapy US {year} (USD)", f"Therapy UK {year} (GBP)"])
            )
        )
    }
    for ambassador in ambassadors:
        if ambassador.cohort_status is not CohortStatus.CURRENT:
            continue
        fund = funds.get(COUNTRY_CURRENCY[ambassador.country])
        if fund is None or fund.closed_at is not None:
            continue
        if find_wallet(session, fund.id, ambassador.user_id, WalletKind.AMBASSADOR) is not None:
            continue
        allocate_allowance(
            session,
            key=f"demo:allowance:{fund.id}:{ambassador.id}",
            actor=manager,
            fund_id=fund.id,
            ambassador_id=ambassador.id,
            amount=Money(ALLOWANCES[fund.currency], fund.currency),
        )
        seed.count("allowances")


def _seed_claimed_gift(
    session: Session,
    seed: DemoSeed,
    year: int,
    now: datetime,
    hasher: PasswordHasher,
    rules: PasswordRules,
) -> None:
    """The UK ambassador gives the demo recipient credit and the recipient claims it, through
    the operations the forms use, unless the recipient already holds credit in that fund."""
    giver = find_user_by_email(session, email_for("ambassador.uk"))
    recipient = find_user_by_email(session, email_for("recipient"))
    fund = session.scalar(select(Fund).where(Fund.name == f"Therapy UK {year} (GBP)"))
    if giver is None or recipient is None or fund is None or fund.closed_at is not None:
        return
    if find_wallet(session, fund.id, recipient.id, WalletKind.RECIPIENT) is not None:
        return
    wallet = find_wallet(session, fund.id, giver.id, WalletKind.AMBASSADOR)
    if wallet is None:
        return
    given = give_gift(
        session,
        key=f"demo:gift:{fund.id}:{recipient.id}",
        actor=giver,
        wallet_id=wallet.id,
        amount=RECIPIENT_GIFT,
        recipient_name=recipient.display_name,
        recipient_email=recipient.email,
        relation=Relation.BANDMATE,
        message="For the sessions you mentioned after the tour.",
        now=now,
    )
    if given.claim_token is None:
        return
    claim_gift(
        session,
        key=f"demo:claim:{given.object_id}",
        token=given.claim_token,
        claimant=recipient,
        new_recipient=None,
        hasher=hasher,
        rules=rules,
        now=now,
    )
    seed.count("claimed gift")


def _membership(session: Session, user: User) -> Ambassador | None:
    return session.scalar(select(Ambassador).where(Ambassador.user_id == user.id))
