"""Concurrent requests against one wallet, on the SQLite file database and on PostgreSQL.

Each worker behaves like one request handler: its own application context, session and
connection, one domain operation per transaction, commit once. Threads share a process;
the spawned processes share nothing but the database. Whatever the interleaving, the wallet
ends exact to the cent, never below zero, and each request either succeeded or was refused
with :class:`InsufficientFunds`; the ledger and the audit chain stay consistent.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import create_app
from grants.domain import claims, gifts, redemptions
from grants.domain.audit import verify_chain
from grants.domain.claims import NewRecipient
from grants.domain.errors import DomainError, InsufficientFunds, InvalidState
from grants.domain.ledger import find_wallet, verify_ledger
from grants.domain.money import Money
from grants.domain.wallets import wallet_balances
from grants.extensions import db as database
from grants.models import (
    AuditEvent,
    Gift,
    GiftState,
    LedgerTransaction,
    Redemption,
    Role,
    User,
    WalletKind,
)
from grants.security import password_hasher, password_rules
from tests.conftest import FAST_ARGON2
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TODAY = NOW.date()
PRICE = 1_000
"""Every request in the race asks for 10.00 USD."""

THREADS = 8
PROCESSES = 4
REQUESTS_EACH = 6
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Race:
    """What the workers need to find the wallet again from another process."""

    config: dict[str, Any]
    user_id: int
    wallet_id: int


def outcome_of(request: Callable[[], object], session: Session) -> str:
    """Run one request as a view would: commit on success and after a refusal alike."""
    try:
        request()
    except InsufficientFunds:
        session.commit()
        return "refused"
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return "done"


def spend(race: Race, worker: str) -> list[str]:
    """Alternate gifts and redemptions of :data:`PRICE` until this worker's quota is spent.

    Must run inside an application context of its own.
    """
    session = database.session
    outcomes = []
    for number in range(REQUESTS_EACH):
        actor = session.get(User, race.user_id)
        assert actor is not None
        key = f"{worker}-{number}"
        if number % 2:

            def request(key: str = key, actor: User = actor) -> object:
                return redemptions.request_redemption(
                    session,
                    key=key,
                    actor=actor,
                    wallet_id=race.wallet_id,
                    amount=Money(PRICE, "USD"),
                    provider_name="Dr Lee, Nashville",
                    session_date=date(2026, 5, 20),
                    now=NOW,
                )
        else:

            def request(key: str = key, actor: User = actor) -> object:
                return gifts.give_gift(
                    session,
                    key=key,
                    actor=actor,
                    wallet_id=race.wallet_id,
                    amount=Money(PRICE, "USD"),
                    recipient_name="Sam Crew",
                    recipient_email=f"crew-{key}@example.org",
                    relation="crew",
                    now=NOW,
                )

        outcomes.append(outcome_of(request, session))
    return outcomes


def process_worker(race: Race, worker: str, start: Any, results: Any) -> None:
    """Entry point of a spawned process: build the app, say ready, wait, spend, report."""
    try:
        app = create_app(race.config)
        with app.app_context():
            database.session.execute(select(1))
            database.session.rollback()
            results.put(("ready", worker, None))
            if not start.wait(START_TIMEOUT):
                raise TimeoutError("the race never started")
            results.put(("outcomes", worker, spend(race, worker)))
            database.session.remove()
            database.engine.dispose()
    except BaseException:
        results.put(("error", worker, traceback.format_exc()))


class Threads:
    """Run callables on threads, each in an application context of its own, and collect
    their results or their errors."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.results: dict[str, object] = {}
        self.errors: dict[str, str] = {}
        self._threads: list[threading.Thread] = []

    def start(self, name: str, work: Callable[[], object]) -> None:
        def run() -> None:
            try:
                with self.app.app_context():
                    try:
                        self.results[name] = work()
                    finally:
                        database.session.remove()
            except BaseException:
                self.errors[name] = traceback.format_exc()

        thread = threading.Thread(target=run, name=name)
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(START_TIMEOUT * 2)
            assert not thread.is_alive(), f"{thread.name} did not finish"
        assert not self.errors, "\n".join(self.errors.values())


@pytest.fixture
def race_config(tmp_path: Path, database_url: str) -> dict[str, Any]:
    """The configuration every worker, thread or process, builds its application from."""
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "TESTING": True,
        **FAST_ARGON2,
    }


@pytest.fixture
def racing_app(make_app, race_config: dict[str, Any]) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    app: Flask = make_app(**race_config)
    with app.app_context():
        yield app


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_threads_and_processes_gifting_and_redeeming_never_overspend_a_wallet(
    racing_app: Flask, race_config: dict[str, Any]
) -> None:
    session = database.session
    manager = make_user(session, Role.MANAGER)
    fund = make_fund(session, budget=1_000_000, manager=manager)
    ambassador = make_ambassador(session)
    credit = 25_500
    wallet = fund_wallet(session, fund, ambassador, credit, manager)
    race = Race(config=race_config, user_id=ambassador.user_id, wallet_id=wallet.id)
    session.commit()
    events_before = audit_count(session)
    session.commit()

    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=process_worker, args=(race, f"process-{n}", start, results))
        for n in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        for _ in range(PROCESSES):
            kind, worker, detail = results.get(timeout=START_TIMEOUT)
            assert kind == "ready", f"{worker} failed to start:\n{detail}"

        lowest = {"available": credit, "held": 0}
        done = threading.Event()

        def watch() -> None:
            """Read the wallet over and over while the race runs, keeping the lowest values."""
            while not done.is_set():
                balances = wallet_balances(database.session, race.wallet_id)
                database.session.rollback()
                lowest["available"] = min(lowest["available"], balances.available)
                lowest["held"] = min(lowest["held"], balances.held)

        threads = Threads(racing_app)
        threads.start("watcher", watch)
        for n in range(THREADS):
            name = f"thread-{n}"
            threads.start(name, lambda name=name: start.wait(START_TIMEOUT) and spend(race, name))
        start.set()

        outcomes: dict[str, list[str]] = {}
        for _ in range(PROCESSES):
            kind, worker, detail = results.get(timeout=START_TIMEOUT * 2)
            assert kind == "outcomes", f"{worker} failed:\n{detail}"
            outcomes[worker] = detail
        done.set()
        threads.join()
    finally:
        start.set()
        for process in processes:
            process.join(START_TIMEOUT)
            if process.is_alive():
                process.kill()
    for n in range(THREADS):
        outcomes[f"thread-{n}"] = threads.results[f"thread-{n}"]  # type: ignore[assignment]

    every = [outcome for worker_outcomes in outcomes.values() for outcome in worker_outcomes]
    assert len(every) == (THREADS + PROCESSES) * REQUESTS_EACH
    assert set(every) <= {"done", "refused"}
    succeeded = every.count("done")
    assert succeeded == credit // PRICE
    assert every.count("refused") == len(every) - credit // PRICE
    assert sum("done" in worker_outcomes for worker_outcomes in outcomes.values()) > 1, (
        "one worker took everything: the race did not interleave"
    )

    session.expire_all()
    balances = wallet_balances(session, wallet.id)
    assert balances.available == credit - succeeded * PRICE == 500
    assert balances.held == succeeded * PRICE
    assert lowest["available"] >= 0
    assert lowest["held"] >= 0
    given = session.scalar(select(func.count()).select_from(Gift))
    requested = session.scalar(select(func.count()).select_from(Redemption))
    assert given + requested == succeeded
    assert verify_ledger(session) == []
    assert verify_chain(session) == []
    assert audit_count(session) == events_before + succeeded


def test_the_same_key_sent_at_once_from_many_threads_posts_once(racing_app: Flask) -> None:
    session = database.session
    manager = make_user(session, Role.MANAGER)
    fund = make_fund(session, budget=100_000, manager=manager)
    ambassador = make_ambassador(session)
    wallet = fund_wallet(session, fund, ambassador, 10_000, manager)
    user_id, wallet_id = ambassador.user_id, wallet.id
    session.commit()
    transactions_before = session.scalar(select(func.count()).select_from(LedgerTransaction))
    session.commit()

    barrier = threading.Barrier(THREADS)

    def retry() -> object:
        barrier.wait(START_TIMEOUT)
        inner = database.session
        receipt = redemptions.request_redemption(
            inner,
            key="double-click",
            actor=inner.get(User, user_id),  # type: ignore[arg-type]
            wallet_id=wallet_id,
            amount=Money(4_000, "USD"),
            provider_name="Dr Lee, Nashville",
            session_date=date(2026, 5, 20),
            now=NOW,
        )
        inner.commit()
        return receipt

    threads = Threads(racing_app)
    for n in range(THREADS):
        threads.start(f"retry-{n}", retry)
    threads.join()

    receipts = list(threads.results.values())
    assert len({receipt.object_id for receipt in receipts}) == 1  # type: ignore[attr-defined]
    assert sorted(receipt.replayed for receipt in receipts) == [False] + [True] * (THREADS - 1)  # type: ignore[attr-defined]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Redemption)) == 1
    assert (
        session.scalar(select(func.count()).select_from(LedgerTransaction))
        == transactions_before + 1
    )
    assert wallet_balances(session, wallet_id).available == 6_000
    assert verify_ledger(session) == []
    assert verify_chain(session) == []


def test_of_a_claim_and_a_revoke_racing_for_each_gift_exactly_one_wins(racing_app: Flask) -> None:
    session = database.session
    manager = make_user(session, Role.MANAGER)
    fund = make_fund(session, budget=100_000, manager=manager)
    ambassador = make_ambassador(session)
    wallet = fund_wallet(session, fund, ambassador, 8 * PRICE, manager)
    given = []
    for number in range(THREADS):
        receipt = gifts.give_gift(
            session,
            key=f"gift-{number}",
            actor=ambassador.user,
            wallet_id=wallet.id,
            amount=Money(PRICE, "USD"),
            recipient_name="Sam Crew",
            recipient_email=f"crew-{number}@example.org",
            relation="crew",
            now=NOW,
        )
        given.append((receipt.object_id, receipt.claim_token))
    giver_id, wallet_id = ambassador.user_id, wallet.id
    session.commit()

    barrier = threading.Barrier(2 * THREADS)

    def claim(token: str) -> str:
        barrier.wait(START_TIMEOUT)
        inner = database.session

        def request() -> object:
            return claims.claim_gift(
                inner,
                key=f"claim-{token[:8]}",
                token=token,
                claimant=None,
                new_recipient=NewRecipient("Sam Crew", "mixing desk all night"),
                hasher=password_hasher(),
                rules=password_rules(),
                now=NOW,
            )

        return settled(request, inner)

    def revoke(gift_id: int) -> str:
        barrier.wait(START_TIMEOUT)
        inner = database.session

        def request() -> object:
            return gifts.revoke_gift(
                inner,
                key=f"revoke-{gift_id}",
                actor=inner.get(User, giver_id),  # type: ignore[arg-type]
                gift_id=gift_id,
                now=NOW,
            )

        return settled(request, inner)

    threads = Threads(racing_app)
    for gift_id, token in given:
        threads.start(f"claim-{gift_id}", lambda token=token: claim(token))
        threads.start(f"revoke-{gift_id}", lambda gift_id=gift_id: revoke(gift_id))
    threads.join()

    session.expire_all()
    claimed = 0
    for gift_id, _token in given:
        outcomes = {threads.results[f"claim-{gift_id}"], threads.results[f"revoke-{gift_id}"]}
        assert outcomes == {"done", "too late"}, f"gift {gift_id}: {outcomes}"
        gift = session.get(Gift, gift_id)
        assert gift is not None
        if threads.results[f"claim-{gift_id}"] == "done":
            assert gift.state is GiftState.CLAIMED
            claimed += 1
        else:
            assert gift.state is GiftState.REVOKED
    balances = wallet_balances(session, wallet_id)
    assert balances.held == 0
    assert balances.available == (THREADS - claimed) * PRICE
    recipients = session.scalars(select(User).where(User.email.like("crew-%"))).all()
    assert len(recipients) == claimed
    for recipient in recipients:
        received = find_wallet(session, fund.id, recipient.id, WalletKind.RECIPIENT)
        assert received is not None
        assert wallet_balances(session, received.id).available == PRICE
    assert verify_ledger(session) == []
    assert verify_chain(session) == []


def settled(request: Callable[[], object], session: Session) -> str:
    """``done`` if the request went through, ``too late`` if the gift had already settled."""
    try:
        request()
    except InvalidState:
        session.commit()
        return "too late"
    session.commit()
    return "done"


def test_of_two_claims_of_one_link_the_loser_is_told_it_was_already_claimed(
    racing_app: Flask,
) -> None:
    """Two people open the same link and claim at once: the second waits for the first
    and is told the gift was already claimed, not that its email has an account (which is
    what PostgreSQL answered when both created the recipient's account)."""
    session = database.session
    manager = make_user(session, Role.MANAGER)
    fund = make_fund(session, budget=100_000, manager=manager)
    ambassador = make_ambassador(session)
    wallet = fund_wallet(session, fund, ambassador, PRICE, manager)
    token = gifts.give_gift(
        session,
        key="gift",
        actor=ambassador.user,
        wallet_id=wallet.id,
        amount=Money(PRICE, "USD"),
        recipient_name="Sam Crew",
        recipient_email="sam.crew@example.org",
        relation="crew",
        now=NOW,
    ).claim_token
    assert token is not None
    session.commit()
    audits_before = audit_count(session)
    session.commit()

    first_claimed, second_started = threading.Event(), threading.Event()

    def claim(name: str) -> str:
        inner = database.session
        try:
            claims.claim_gift(
                inner,
                key=f"claim-{name}",
                token=token,
                claimant=None,
                new_recipient=NewRecipient(name, "mixing desk all night"),
                hasher=password_hasher(),
                rules=password_rules(),
                now=NOW,
            )
        except DomainError as refusal:
            inner.commit()
            return refusal.message
        return "claimed"

    def first() -> str:
        outcome = claim("Sam First")
        first_claimed.set()
        assert second_started.wait(START_TIMEOUT)
        time.sleep(0.5)
        database.session.commit()
        return outcome

    def second() -> str:
        assert first_claimed.wait(START_TIMEOUT)
        second_started.set()
        return claim("Sam Second")

    threads = Threads(racing_app)
    threads.start("first", first)
    threads.start("second", second)
    threads.join()

    assert threads.results == {
        "first": "claimed",
        "second": "This gift has already been claimed.",
    }
    session.expire_all()
    recipient = session.scalars(select(User).where(User.email == "sam.crew@example.org")).one()
    assert recipient.display_name == "Sam First"
    received = find_wallet(session, fund.id, recipient.id, WalletKind.RECIPIENT)
    assert received is not None
    assert wallet_balances(session, received.id).available == PRICE
    assert wallet_balances(session, wallet.id).held == 0
    assert audit_count(session) == audits_before + 2
    assert verify_ledger(session) == []
    assert verify_chain(session) == []
