"""A day is a day somewhere: a person's "today" is taken in their time zone, and a fund's
plan year ends at midnight after its last day in the fund's own time zone. Each is tested
at 23:30 and 00:30 local time, on both sides of the daylight-saving changes of 2026
(Europe/London 29 March and 25 October, America/New_York 8 March and 1 November)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import gifts, plan_year, redemptions
from grants.domain.errors import InvalidInput, InvalidState
from grants.domain.funds import create_fund, plan_year_deadline, plan_year_over
from grants.domain.idempotency import Receipt
from grants.domain.money import Money
from grants.models import Country, Fund, Redemption, Relation, Role, User
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user

_keys = itertools.count(1)

ZONES = {Country.GB: "Europe/London", Country.US: "America/New_York"}
CURRENCIES = {Country.GB: "GBP", Country.US: "USD"}


def at(zone: str, *local: int) -> datetime:
    """The UTC instant at which clocks in ``zone`` show ``local`` (year, month, day, hour,
    minute)."""
    year, month, day, hour, minute = local
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def holder(
    db: Session, country: Country, locale: str = "en_US", time_zone: str | None = None
) -> tuple[User, int]:
    """An ambassador in ``country`` with credit in a fund of its currency for 2026."""
    manager = make_user(db, Role.MANAGER)
    fund = make_fund(db, currency=CURRENCIES[country], budget=1_000_000, manager=manager)
    ambassador = make_ambassador(db, country=country, locale=locale)
    ambassador.user.time_zone = time_zone
    wallet = fund_wallet(db, fund, ambassador, 100_000, manager)
    return ambassador.user, wallet.id


def redeem(
    db: Session, user: User, wallet_id: int, day: date, now: datetime, **today: date
) -> Redemption | None:
    receipt = redemptions.request_redemption(
        db,
        key=f"local-{next(_keys)}",
        actor=user,
        wallet_id=wallet_id,
        amount=Money(1_000, "GBP" if user.locale == "en_GB" else "USD"),
        provider_name="Dr Rivera",
        session_date=day,
        now=now,
        **today,
    )
    return db.get(Redemption, receipt.object_id)


# --- the bug: a UK ambassador just after midnight in summer ---------------------------------


def test_a_uk_ambassador_at_half_past_midnight_in_summer_may_ask_for_todays_session(
    db: Session,
) -> None:
    """00:30 BST on 15 July is 23:30 UTC on the 14th: the UTC date refused a session dated
    that day as "in the future"; the ambassador's own date accepts it, and refuses the 16th."""
    user, wallet_id = holder(db, Country.GB, locale="en_GB")
    now = datetime(2026, 7, 14, 23, 30, tzinfo=UTC)
    assert clock.date_in(now, "Europe/London") == date(2026, 7, 15)
    redemption = redeem(db, user, wallet_id, date(2026, 7, 15), now)
    assert redemption is not None
    assert redemption.session_date == date(2026, 7, 15)
    with pytest.raises(InvalidInput, match="cannot be in the future") as refused:
        redeem(db, user, wallet_id, date(2026, 7, 16), now)
    assert refused.value.field == "session_date"


def test_a_uk_ambassador_at_half_past_eleven_at_night_is_still_in_that_day(db: Session) -> None:
    user, wallet_id = holder(db, Country.GB, locale="en_GB")
    now = at("Europe/London", 2026, 7, 15, 23, 30)
    assert now == datetime(2026, 7, 15, 22, 30, tzinfo=UTC)
    assert redeem(db, user, wallet_id, date(2026, 7, 15), now) is not None
    with pytest.raises(InvalidInput, match="cannot be in the future"):
        redeem(db, user, wallet_id, date(2026, 7, 16), now)


def test_a_us_ambassador_late_in_the_evening_cannot_ask_for_the_utc_date(db: Session) -> None:
    """23:30 in New York is already the next day in UTC; that day is tomorrow for them."""
    user, wallet_id = holder(db, Country.US)
    now = at("America/New_York", 2026, 7, 15, 23, 30)
    assert now.date() == date(2026, 7, 16)
    assert redeem(db, user, wallet_id, date(2026, 7, 15), now) is not None
    with pytest.raises(InvalidInput, match="cannot be in the future"):
        redeem(db, user, wallet_id, date(2026, 7, 16), now)


def test_a_chosen_time_zone_outranks_the_country(db: Session) -> None:
    """An ambassador in the UK who chose New York's time is judged by New York's date."""
    user, wallet_id = holder(db, Country.GB, locale="en_GB", time_zone="America/New_York")
    now = datetime(2026, 7, 15, 2, 0, tzinfo=UTC)  # 03:00 in London, 22:00 on the 14th in NY
    with pytest.raises(InvalidInput, match="cannot be in the future"):
        redeem(db, user, wallet_id, date(2026, 7, 15), now)
    assert redeem(db, user, wallet_id, date(2026, 7, 14), now) is not None


def test_the_day_the_view_passes_is_the_day_judged_by(db: Session) -> None:
    """The view knows the person's date and passes it; the domain reads no clock."""
    user, wallet_id = holder(db, Country.US)
    now = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="cannot be in the future"):
        redeem(db, user, wallet_id, date(2026, 7, 15), now, today=date(2026, 7, 14))
    assert redeem(db, user, wallet_id, date(2026, 7, 14), now, today=date(2026, 7, 14))


# --- both sides of the daylight-saving changes ----------------------------------------------

CHANGES = [
    # (country, the local moment, the local date it is)
    (Country.GB, (2026, 3, 28, 23, 30), date(2026, 3, 28)),  # GMT, the night before
    (Country.GB, (2026, 3, 29, 0, 30), date(2026, 3, 29)),  # GMT, 30 minutes before
    (Country.GB, (2026, 3, 29, 23, 30), date(2026, 3, 29)),  # BST from 01:00 that night
    (Country.GB, (2026, 3, 30, 0, 30), date(2026, 3, 30)),  # BST
    (Country.GB, (2026, 10, 24, 23, 30), date(2026, 10, 24)),  # BST
    (Country.GB, (2026, 10, 25, 0, 30), date(2026, 10, 25)),  # BST, before 02:00 BST
    (Country.GB, (2026, 10, 25, 23, 30), date(2026, 10, 25)),  # GMT again
    (Country.GB, (2026, 10, 26, 0, 30), date(2026, 10, 26)),  # GMT
    (Country.US, (2026, 3, 7, 23, 30), date(2026, 3, 7)),  # EST
    (Country.US, (2026, 3, 8, 0, 30), date(2026, 3, 8)),  # EST, before 02:00
    (Country.US, (2026, 3, 8, 23, 30), date(2026, 3, 8)),  # EDT
    (Country.US, (2026, 3, 9, 0, 30), date(2026, 3, 9)),  # EDT
    (Country.US, (2026, 10, 31, 23, 30), date(2026, 10, 31)),  # EDT
    (Country.US, (2026, 11, 1, 0, 30), date(2026, 11, 1)),  # EDT, before 02:00 EDT
    (Country.US, (2026, 11, 1, 23, 30), date(2026, 11, 1)),  # EST again
    (Country.US, (2026, 11, 2, 0, 30), date(2026, 11, 2)),  # EST
]


@pytest.mark.parametrize(("country", "local", "day"), CHANGES)
def test_today_is_the_persons_date_either_side_of_a_clock_change(
    db: Session, country: Country, local: tuple[int, ...], day: date
) -> None:
    zone = ZONES[country]
    now = at(zone, *local)
    assert clock.date_in(now, zone) == day
    user, wallet_id = holder(db, country, locale="en_GB" if country is Country.GB else "en_US")
    assert redeem(db, user, wallet_id, day, now) is not None
    with pytest.raises(InvalidInput, match="cannot be in the future"):
        redeem(db, user, wallet_id, day + timedelta(days=1), now)


def test_utc_offsets_across_the_changes_are_the_zones() -> None:
    """The instants the table above stands on: the offsets move where the zones say."""
    london, new_york = "Europe/London", "America/New_York"
    assert at(london, 2026, 3, 29, 0, 30) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert at(london, 2026, 3, 29, 23, 30) == datetime(2026, 3, 29, 22, 30, tzinfo=UTC)
    assert at(london, 2026, 10, 25, 0, 30) == datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    assert at(london, 2026, 10, 25, 23, 30) == datetime(2026, 10, 25, 23, 30, tzinfo=UTC)
    assert at(new_york, 2026, 3, 8, 0, 30) == datetime(2026, 3, 8, 5, 30, tzinfo=UTC)
    assert at(new_york, 2026, 3, 8, 23, 30) == datetime(2026, 3, 9, 3, 30, tzinfo=UTC)
    assert at(new_york, 2026, 11, 1, 0, 30) == datetime(2026, 11, 1, 4, 30, tzinfo=UTC)
    assert at(new_york, 2026, 11, 1, 23, 30) == datetime(2026, 11, 2, 4, 30, tzinfo=UTC)


def test_a_day_starts_and_ends_at_local_midnight_even_on_a_short_or_long_day() -> None:
    assert clock.start_of_day(date(2026, 3, 29), "Europe/London") == datetime(
        2026, 3, 29, 0, 0, tzinfo=UTC
    )
    assert clock.end_of_day(date(2026, 3, 29), "Europe/London") == datetime(
        2026, 3, 29, 23, 0, tzinfo=UTC
    ), "23 hours long"
    assert clock.end_of_day(date(2026, 11, 1), "America/New_York") - clock.start_of_day(
        date(2026, 11, 1), "America/New_York"
    ) == timedelta(hours=25)


def test_today_in_reads_the_one_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 7, 14, 23, 30, tzinfo=UTC))
    assert clock.today() == date(2026, 7, 14)
    assert clock.today_in("Europe/London") == date(2026, 7, 15)
    assert clock.today_in("America/New_York") == date(2026, 7, 14)


# --- a fund's plan year ends in the fund's own time zone ------------------------------------


def test_a_new_fund_keeps_its_plan_year_in_its_currencys_time_zone(db: Session) -> None:
    assert make_fund(db, currency="USD").time_zone == "America/New_York"
    assert make_fund(db, currency="GBP").time_zone == "Europe/London"


def test_a_manager_may_choose_a_funds_time_zone_and_an_unknown_one_is_refused(
    db: Session,
) -> None:
    manager = make_user(db, Role.MANAGER)

    def opened(name: str, zone: str | None) -> Fund | None:
        receipt = create_fund(
            db,
            key=f"fund-{next(_keys)}",
            actor=manager,
            name=name,
            kind="therapy",
            start=date(2026, 1, 1),
            end=date(2026, 12, 31),
            budget=Money(100_000, "USD"),
            time_zone=zone,
        )
        return db.get(Fund, receipt.object_id)

    chosen = opened("Therapy Nashville 2026", "America/Chicago")
    assert chosen is not None
    assert chosen.time_zone == "America/Chicago"
    by_currency = opened("Therapy USD 2026", None)
    assert by_currency is not None
    assert by_currency.time_zone == "America/New_York"
    for wrong in ("Mars/Olympus_Mons", "EST5EDT; DROP TABLE funds", "x" * 65):
        with pytest.raises(InvalidInput, match="Choose a time zone") as refused:
            opened(f"Refused {next(_keys)}", wrong)
        assert refused.value.field == "time_zone"
    assert db.scalar(select(func.count()).where(Fund.name.like("Refused%"))) == 0


@pytest.mark.parametrize(
    ("currency", "last_moment", "first_moment_after"),
    [
        # 23:30 on the last day and 00:30 on the next, local time, in winter
        (
            "GBP",
            datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
            datetime(2027, 1, 1, 0, 30, tzinfo=UTC),
        ),
        ("USD", datetime(2027, 1, 1, 4, 30, tzinfo=UTC), datetime(2027, 1, 1, 5, 30, tzinfo=UTC)),
    ],
)
def test_giving_stops_at_midnight_in_the_funds_time_zone(
    db: Session, currency: str, last_moment: datetime, first_moment_after: datetime
) -> None:
    manager = make_user(db, Role.MANAGER)
    fund = make_fund(db, currency=currency, budget=1_000_000, manager=manager)
    country = Country.GB if currency == "GBP" else Country.US
    ambassador = make_ambassador(db, country=country)
    wallet = fund_wallet(db, fund, ambassador, 10_000, manager)

    def give(now: datetime) -> Receipt:
        return gifts.give_gift(
            db,
            key=f"gift-{next(_keys)}",
            actor=ambassador.user,
            wallet_id=wallet.id,
            amount=Money(100, currency),
            recipient_name="Sam Drummer",
            recipient_email=f"sam{next(_keys)}@example.org",
            relation=Relation.BANDMATE,
            now=now,
        )

    assert clock.date_in(last_moment, fund.time_zone) == date(2026, 12, 31)
    assert not plan_year_over(fund, last_moment)
    assert give(last_moment).object_id is not None
    assert plan_year_over(fund, first_moment_after)
    with pytest.raises(InvalidState, match="has ended"):
        give(first_moment_after)
    deadline = plan_year_deadline(fund)
    assert clock.date_in(deadline, fund.time_zone) == date(2027, 1, 1)
    assert deadline.astimezone(ZoneInfo(fund.time_zone)).hour == 0


def test_a_plan_year_ending_in_summer_closes_after_midnight_bst_not_utc(db: Session) -> None:
    """A London fund whose plan year ends on 30 June closes from 00:30 BST on 1 July, which
    is still 30 June in UTC; at 23:30 BST on 30 June it is refused."""
    finance = make_user(db, Role.FINANCE)
    manager = make_user(db, Role.MANAGER)
    fund = make_fund(
        db,
        currency="GBP",
        start=date(2025, 7, 1),
        end=date(2026, 6, 30),
        budget=100_000,
        manager=manager,
    )

    def close(now: datetime) -> object:
        return plan_year.close_plan_year(
            db, key=f"close-{next(_keys)}", actor=finance, fund_id=fund.id, now=now
        )

    with pytest.raises(InvalidState, match=r"runs until Jun 30, 2026 \(the end of that day in"):
        close(at("Europe/London", 2026, 6, 30, 23, 30))
    after_midnight = at("Europe/London", 2026, 7, 1, 0, 30)
    assert after_midnight.date() == date(2026, 6, 30)
    close(after_midnight)
    db.refresh(fund)
    assert fund.closed_at == after_midnight
