"""Crisis and support lines: which ones a person is shown, and an admin's edits to them.

The "get support now" panel shows the active lines of one country: an ambassador's own
country; for a recipient, the country whose currency their credit is in; on a claim page,
the country of the gift's fund. When the country is not known, every active line shows.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import BindParameter, Integer, bindparam, select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.allowances import COUNTRY_CURRENCY
from grants.domain.checks import clean_text, require_role
from grants.domain.errors import InvalidInput, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.partners import website_url
from grants.models import Ambassador, Country, Fund, Gift, Role, SupportLine, User, Wallet

PHONE = re.compile(r"\+?[0-9][0-9 ().-]{0,38}")
SORT_ORDER_MAX = 9999
CURRENCY_COUNTRY = {currency: country for country, currency in COUNTRY_CURRENCY.items()}
"""The country whose therapy credit is paid in each currency."""


@dataclass(frozen=True)
class SupportLineDetails:
    """What an admin types about a support line, before it is checked."""

    country: str
    name: str
    phone: str = ""
    text_message: str = ""
    website_url: str = ""
    description: str = ""
    sort_order: int = 0
    active: bool = True


DEFAULT_LINES = (
    SupportLineDetails(
        "US",
        "988 Suicide & Crisis Lifeline",
        phone="988",
        text_message="Text 988",
        website_url="https://988lifeline.org",
        description=(
            "Free and confidential, 24/7, for anyone in emotional distress or a suicidal crisis."
        ),
        sort_order=10,
    ),
    SupportLineDetails(
        "US",
        "Crisis Text Line",
        text_message="Text HOME to 741741",
        website_url="https://www.crisistextline.org",
        description="Free, 24/7 support by text from a trained crisis counselor.",
        sort_order=20,
    ),
    SupportLineDetails(
        "US",
        "MusiCares",
        phone="1-877-303-6962",
        website_url="https://www.musicares.org",
        description="Help for music people with health, mental-health and personal needs.",
        sort_order=30,
    ),
    SupportLineDetails(
        "GB",
        "Samaritans",
        phone="116 123",
        website_url="https://www.samaritans.org",
        description="Free, day or night, for anyone who is struggling to cope.",
        sort_order=10,
    ),
    SupportLineDetails(
        "GB",
        "Shout",
        text_message="Text SHOUT to 85258",
        website_url="https://giveusashout.org",
        description="Free, confidential 24/7 text support for anyone in crisis.",
        sort_order=20,
    ),
    SupportLineDetails(
        "GB",
        "Music Minds Matter",
        phone="0808 802 8008",
        website_url="https://www.musicmindsmatter.org.uk",
        description="The music community's 24/7 mental-health support line.",
        sort_order=30,
    ),
)
"""Well-known public lines for the US and the UK, as first seeded (migration 0004 too)."""


@dataclass(frozen=True)
class SupportPanel:
    """The lines to show and the country they are for (``None``: every country's)."""

    country: Country | None
    lines: list[SupportLine]


# --- reading -------------------------------------------------------------------------------


_ACTIVE = (
    select(SupportLine)
    .where(SupportLine.active.is_(True))
    .order_by(SupportLine.country.desc(), SupportLine.sort_order, SupportLine.id)
)
_ACTIVE_IN_COUNTRY = _ACTIVE.where(SupportLine.country == bindparam("country"))


def active_lines(session: Session, country: Country | None) -> list[SupportLine]:
    """The active lines of ``country`` in their order; of every country when ``None``."""
    if country is None:
        return list(session.scalars(_ACTIVE))
    return list(session.scalars(_ACTIVE_IN_COUNTRY, {"country": country}))


def all_lines(session: Session) -> list[SupportLine]:
    """Every line, active or not, by country and order: the admin's list (a handful of rows)."""
    return list(
        session.scalars(
            select(SupportLine).order_by(
                SupportLine.country.desc(), SupportLine.sort_order, SupportLine.id
            )
        )
    )


def country_of_currency(currency: str) -> Country | None:
    """The country whose therapy credit is in ``currency``, if any."""
    return CURRENCY_COUNTRY.get(currency)


_USER_ID: BindParameter[int] = bindparam("user_id", type_=Integer)
_WHERE_THEY_ARE = select(
    select(Ambassador.country).where(Ambassador.user_id == _USER_ID).scalar_subquery(),
    select(Fund.currency)
    .join(Wallet, Wallet.fund_id == Fund.id)
    .where(Wallet.user_id == _USER_ID)
    .order_by(Wallet.created_at.desc(), Wallet.id.desc())
    .limit(1)
    .scalar_subquery(),
)
"""A person's ambassador country and the currency of their newest wallet, in one row."""


def country_of_user(session: Session, user: User) -> Country | None:
    """An ambassador's country; for anyone else holding credit, the country of the currency
    of their newest wallet; otherwise ``None``."""
    country, currency = session.execute(_WHERE_THEY_ARE, {"user_id": user.id}).one()
    if country is not None:
        return Country(country)
    return country_of_currency(currency) if currency else None


def panel_for_user(session: Session, user: User | None) -> SupportPanel:
    """The panel for a signed-in person (``None``: someone not signed in)."""
    country = country_of_user(session, user) if user is not None else None
    return SupportPanel(country, active_lines(session, country))


def panel_for_country(session: Session, country: Country) -> SupportPanel:
    """The panel for someone known to be in ``country``."""
    return SupportPanel(country, active_lines(session, country))


def panel_for_gift(session: Session, gift: Gift) -> SupportPanel:
    """The panel on a gift's claim page: the lines of the country of the gift's fund."""
    country = country_of_currency(gift.currency)
    return SupportPanel(country, active_lines(session, country))


# --- changing ------------------------------------------------------------------------------


def clean_details(details: SupportLineDetails) -> dict[str, object]:
    """The columns of a support line from ``details``, each checked."""
    try:
        country = Country(details.country.strip().upper())
    except ValueError:
        raise InvalidInput(
            "Choose the United States or the United Kingdom.", field="country"
        ) from None
    phone = " ".join(details.phone.split())
    if phone and PHONE.fullmatch(phone) is None:
        raise InvalidInput(
            "Enter a phone number in figures, such as 988 or 0808 802 8008.", field="phone"
        )
    columns: dict[str, object] = {
        "country": country,
        "name": clean_text(details.name, field="name", label="the name", required=True, limit=120),
        "phone": phone,
        "text_message": clean_text(
            details.text_message,
            field="text_message",
            label="how to text the line",
            required=False,
            limit=120,
        ),
        "website_url": website_url(details.website_url),
        "description": clean_text(
            details.description, field="description", label="the description", required=False
        ),
        "sort_order": details.sort_order,
        "active": bool(details.active),
    }
    if type(details.sort_order) is not int or not 0 <= details.sort_order <= SORT_ORDER_MAX:
        raise InvalidInput(
            f"The position is a whole number from 0 to {SORT_ORDER_MAX}.", field="sort_order"
        )
    if not (columns["phone"] or columns["text_message"] or columns["website_url"]):
        raise InvalidInput(
            "Give at least one way to reach the line: a phone number, a text or a website.",
            field="phone",
        )
    return columns


def create_support_line(
    session: Session, *, key: str, actor: User, details: SupportLineDetails
) -> Receipt:
    """Add a support line."""
    require_role(actor, Role.ADMIN, doing="edit support lines")
    columns = clean_details(details)

    def perform() -> Receipt:
        line = SupportLine(**columns)
        session.add(line)
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="support_line.create",
            object_type="support_line",
            object_id=line.id,
            after=_snapshot(line),
        )
        return Receipt("support_line.create", object_id=line.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="support_line.create",
        request=asdict(details),
        perform=perform,
    )


def update_support_line(
    session: Session, *, key: str, actor: User, line_id: int, details: SupportLineDetails
) -> Receipt:
    """Change a support line; saving the same details again changes and audits nothing."""
    require_role(actor, Role.ADMIN, doing="edit support lines")
    columns = clean_details(details)

    def perform() -> Receipt:
        line = session.get(SupportLine, line_id)
        if line is None:
            raise NotFound("There is no such support line.")
        before = _snapshot(line)
        for name, value in columns.items():
            setattr(line, name, value)
        after = _snapshot(line)
        if after != before:
            session.flush()
            audit.record(
                session,
                actor_id=actor.id,
                action="support_line.update",
                object_type="support_line",
                object_id=line.id,
                before={k: v for k, v in before.items() if after[k] != v},
                after={k: v for k, v in after.items() if before[k] != v},
            )
        return Receipt("support_line.update", object_id=line.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="support_line.update",
        request={"line": line_id, **asdict(details)},
        perform=perform,
    )


def seed_default_lines(session: Session) -> int:
    """Add :data:`DEFAULT_LINES` for each country that has no line at all; returns how many
    were added. A country an admin has set up is left exactly as it is."""
    present = set(session.scalars(select(SupportLine.country).distinct()))
    added = 0
    for details in DEFAULT_LINES:
        columns = clean_details(details)
        if columns["country"] in present:
            continue
        session.add(SupportLine(**columns))
        added += 1
    session.flush()
    return added


def _snapshot(line: SupportLine) -> dict[str, object]:
    return {
        "country": line.country.value,
        "name": line.name,
        "phone": line.phone,
        "text_message": line.text_message,
        "website_url": line.website_url,
        "description": line.description,
        "sort_order": line.sort_order,
        "active": line.active,
    }
