"""A report already made is served again from the cache, byte for byte, without rendering;
a new ledger transaction changes the fingerprint and the report is made afresh. Made reports
are rows of the database, whole or absent; two makers of one report leave the first."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import allowances
from grants.domain.money import Money
from grants.models import Ambassador, ReportFile, ReportJob
from grants.reports.build import RenderCounter, prepare
from grants.reports.cache import report_cache
from grants.reports.fingerprint import ledger_fingerprint
from grants.reports.queries import ReportParameters, report_parameters, scope_funds
from grants.reports.store import OwnTransactions, engine_of
from tests.reports.dataset import Books
from tests.reports.support import attachments, report_query
from tests.reports.test_reconciliation import download_pdf


def parameters_of(db: Session, privacy: str = "finance") -> ReportParameters:
    query = report_query(privacy=privacy)
    return report_parameters(
        db,
        currency=query["currency"],
        year=int(query["year"]),
        privacy=privacy,
        now=datetime.now(UTC),
    )


def made_reports(app: Flask) -> dict[str, tuple[str, bytes]]:
    """Every made report in ``app``'s database: its file name and PDF, by cache key."""
    query = select(ReportFile.key, ReportFile.file_name, ReportFile.pdf)
    rows = OwnTransactions(engine_of(app)).read(lambda session: session.execute(query).all())
    return {key: (file_name, pdf) for key, file_name, pdf in rows}


def stored(app: Flask) -> list[str]:
    """The keys of every made report and job record in ``app``'s database."""
    reports, jobs = select(ReportFile.key), select(ReportJob.key)
    return OwnTransactions(engine_of(app)).read(
        lambda session: [*session.scalars(reports), *session.scalars(jobs)]
    )


def test_a_repeated_report_comes_from_the_cache(
    app: Flask, db: Session, books: Books, finance: FlaskClient
) -> None:
    before = RenderCounter.count
    first = download_pdf(finance)
    assert RenderCounter.count == before + 1
    cached = made_reports(app)
    assert len(cached) == 1
    [(file_name, pdf)] = cached.values()
    assert pdf == first
    assert file_name.startswith("allocation-USD-")
    assert file_name.endswith(".pdf")

    again = download_pdf(finance)
    assert again == first
    assert RenderCounter.count == before + 1, "served without rendering"

    other = download_pdf(finance, privacy="programme")
    assert other != first
    assert RenderCounter.count == before + 2
    assert len(made_reports(app)) == 2
    assert not (Path(app.instance_path) / "reports").exists(), "nothing is kept in files"


def test_a_new_transaction_changes_the_fingerprint(
    app: Flask, db: Session, books: Books, finance: FlaskClient
) -> None:
    parameters = parameters_of(db)
    old = prepare(db, parameters)
    first = download_pdf(finance)
    before = RenderCounter.count

    ambassador = books.glow[5]
    allowances.allocate_allowance(
        db,
        key="one-more",
        actor=books.manager,
        fund_id=books.therapy_fund.id,
        ambassador_id=_ambassador_id(db, ambassador.user_id),
        amount=Money(1_234, "USD"),
    )
    db.commit()

    new = prepare(db, parameters)
    assert new.data.position > old.data.position
    assert new.fingerprint != old.fingerprint
    assert new.key != old.key
    fund_ids = [fund.id for fund in scope_funds(db, parameters)]
    assert ledger_fingerprint(db, position=old.data.position, fund_ids=fund_ids) == (
        old.fingerprint
    ), "the ledger at the old position is unchanged"

    second = download_pdf(finance)
    assert second != first
    assert RenderCounter.count == before + 1
    assert new.fingerprint.encode() in _attached_csv(second)
    assert old.fingerprint.encode() in _attached_csv(first)


def _ambassador_id(db: Session, user_id: int) -> int:
    found = db.scalar(select(Ambassador.id).where(Ambassador.user_id == user_id))
    assert found is not None
    return found


def _attached_csv(pdf: bytes) -> bytes:
    return attachments(pdf)["allocation-report.csv"][0]


def test_two_makers_of_one_report_leave_the_first_whole(app: Flask) -> None:
    """Makers racing to store the same key: exactly one stores its PDF, the others store
    nothing, and every reader gets the one stored, whole."""
    key, makers = "c" * 64, 8
    cache = report_cache(app)
    start = threading.Barrier(makers)
    outcomes: dict[int, bool] = {}

    def make(number: int) -> None:
        start.wait()
        outcomes[number] = cache.put(key, b"%PDF-" + bytes([number]) * 100_000, file_name="a.pdf")

    threads = [threading.Thread(target=make, args=(number,)) for number in range(makers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [number for number, stored_it in outcomes.items() if stored_it]
    assert len(outcomes) == makers
    assert len(winners) == 1, outcomes
    assert cache.get(key) == b"%PDF-" + bytes([winners[0]]) * 100_000
    assert cache.has(key)
    assert not cache.has("d" * 64)
    assert cache.get("d" * 64) is None
    assert list(made_reports(app)) == [key]


def test_a_key_that_is_not_a_cache_key_is_refused(app: Flask) -> None:
    cache = report_cache(app)
    for key in ("../secret_key", "A" * 64, "a" * 63, ""):
        with pytest.raises(ValueError, match="not a report cache key"):
            cache.put(key, b"%PDF-", file_name="x.pdf")
        with pytest.raises(ValueError, match="not a report cache key"):
            cache.get(key)
    assert stored(app) == []
