"""A report already made is served again from the cache, byte for byte, without rendering;
a new ledger transaction changes the fingerprint and the report is made afresh."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import allowances
from grants.domain.money import Money
from grants.models import Ambassador
from grants.reports.build import RenderCounter, prepare
from grants.reports.fingerprint import ledger_fingerprint
from grants.reports.queries import ReportParameters, report_parameters, scope_funds
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


def test_a_repeated_report_comes_from_the_cache(
    app: Flask, db: Session, books: Books, finance: FlaskClient
) -> None:
    before = RenderCounter.count
    first = download_pdf(finance)
    assert RenderCounter.count == before + 1
    cached = list(Path(app.config["REPORT_FOLDER"]).glob("*.pdf"))
    assert len(cached) == 1
    assert cached[0].read_bytes() == first

    again = download_pdf(finance)
    assert again == first
    assert RenderCounter.count == before + 1, "served without rendering"

    other = download_pdf(finance, privacy="programme")
    assert other != first
    assert RenderCounter.count == before + 2
    assert len(list(Path(app.config["REPORT_FOLDER"]).glob("*.pdf"))) == 2


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
