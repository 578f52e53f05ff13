"""The migrations build the models' schema from nothing, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from grants import create_app
from grants.database import normalise_database_url
from grants.domain import redemptions
from grants.domain.money import Money
from grants.domain.payouts import pay_redemptions, verify_batches
from grants.extensions import db as database
from grants.models import (
    Base,
    Country,
    LedgerTransaction,
    Posting,
    Redemption,
    RedemptionState,
    Role,
)
from grants.reports.flows import ReportAccountFlow, ReportWalletPaid, fold
from grants.unit_of_work import run
from tests.conftest import FAST_ARGON2, with_search_path
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.reports.test_flows import fold_through


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database on this run's engine: a new PostgreSQL schema, or a new SQLite file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    engine = create_engine(normalise_database_url(url))
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(url, schema)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_migrations_build_the_models_schema_from_nothing(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Upgrade, compare with the models, downgrade to nothing and upgrade again."""
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "DATABASE_URL": empty_database_url})
    runner = app.test_cli_runner()

    upgrade = runner.invoke(args=["db", "upgrade"])
    assert upgrade.exit_code == 0, upgrade.output
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        found = set(inspect(engine).get_table_names())
        tables = {name for name in found if not name.startswith("hub_search_")}
        assert tables == {table.name for table in Base.metadata.sorted_tables} | {"alembic_version"}
        assert {"hub_search_docs", "hub_search_words", "hub_search_keys"} <= found

        check = runner.invoke(args=["db", "check"])
        assert check.exit_code == 0, check.output
        assert check.exception is None

        downgrade = runner.invoke(args=["db", "downgrade", "base"])
        assert downgrade.exit_code == 0, downgrade.output
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}

        again = runner.invoke(args=["db", "upgrade"])
        assert again.exit_code == 0, again.output
    finally:
        engine.dispose()
        with app.app_context():
            database.engine.dispose()


def test_the_ledger_migration_opens_accounts_for_funds_that_already_exist(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A fund created before the ledger existed gets its five accounts, at zero, and the
    rebuilt accounts table keeps its CHECK constraints."""
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "DATABASE_URL": empty_database_url})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0001_foundation"]).exit_code == 0
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO funds (name, kind, currency, plan_year_start, plan_year_end,"
                    " created_at) VALUES ('Therapy GBP 2026', 'therapy', 'GBP', '2026-01-01',"
                    " '2026-12-31', CURRENT_TIMESTAMP)"
                )
            )
        upgrade = runner.invoke(args=["db", "upgrade"])
        assert upgrade.exit_code == 0, upgrade.output
        with engine.connect() as connection:
            accounts = connection.execute(
                text("SELECT kind, currency, balance FROM accounts ORDER BY kind")
            ).all()
        assert [tuple(row) for row in accounts] == [
            ("budget_source", "GBP", 0),
            ("fund", "GBP", 0),
            ("paid_to_partners", "GBP", 0),
            ("paid_to_providers", "GBP", 0),
            ("payable_to_providers", "GBP", 0),
        ]
        for kind, balance in (("wallet", -1), ("no_such_kind", 0)):
            with pytest.raises(IntegrityError), engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO accounts (kind, currency, fund_id, balance)"
                        " SELECT :kind, 'GBP', id, :balance FROM funds"
                    ),
                    {"kind": kind, "balance": balance},
                )
    finally:
        engine.dispose()
        with app.app_context():
            database.engine.dispose()


PAID = datetime(2026, 6, 1, 12, tzinfo=UTC)
BATCH_ROWS = text(
    "SELECT payment_reference, currency, redemptions, amount, paid_at, paid_by_id"
    " FROM payout_batches ORDER BY id"
)


def _pay_batches(app: Flask) -> list[tuple[object, ...]]:
    """Three batches in two currencies, paid by two members of finance, and a redemption
    left approved; returns the batches' rows as the payments wrote them."""
    with app.app_context():
        session = database.session
        manager = make_user(session, Role.MANAGER, password=None)
        payers = [make_user(session, Role.FINANCE, password=None) for _ in range(2)]
        usd = make_fund(session, budget=1_000_000, manager=manager)
        gbp = make_fund(session, currency="GBP", budget=1_000_000, manager=manager)
        wallets = [
            fund_wallet(session, fund, make_ambassador(session, country=country), 50_000, manager)
            for fund, country in ((usd, Country.US), (gbp, Country.GB))
        ]
        approved: list[list[int]] = [[], []]
        for n in range(7):
            wallet = wallets[n % 2]
            redemption_id = redemptions.request_redemption(
                session,
                key=f"request-{n}",
                actor=wallet.user,
                wallet_id=wallet.id,
                amount=Money(1_000 + 100 * n, wallet.currency),
                provider_name="Dr Lee, Nashville",
                session_date=date(2026, 5, 20),
                now=PAID,
            ).object_id
            assert redemption_id is not None
            redemptions.approve_redemption(
                session, key=f"approve-{n}", actor=payers[0], redemption_id=redemption_id, now=PAID
            )
            approved[n % 2].append(redemption_id)
        dollars, pounds = approved
        for number, (ids, payer) in enumerate(
            ((dollars[:2], payers[0]), (pounds, payers[1]), (dollars[2:3], payers[1]))
        ):
            pay_redemptions(
                session,
                key=f"batch-{number}",
                actor=payer,
                redemption_ids=ids,
                payment_reference=f"BATCH-{number}",
                now=PAID + timedelta(hours=number),
            )
        assert verify_batches(session) == []
        session.commit()
        rows = session.execute(BATCH_ROWS)
        written = [tuple(row) for row in rows]
        session.rollback()
    return written


def test_the_batches_migration_records_every_batch_already_paid(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Batches paid before ``payout_batches`` existed get the rows their payments would
    have written (count, sum, time and payer, in the order they were paid); a reference
    paid in two currencies stops the upgrade before it changes anything."""
    app = create_app(
        {"INSTANCE_PATH": tmp_path / "instance", "DATABASE_URL": empty_database_url, **FAST_ARGON2}
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        written = _pay_batches(app)
        assert len(written) == 3
        downgrade = runner.invoke(args=["db", "downgrade", "0010_report_store"])
        assert downgrade.exit_code == 0, downgrade.output
        assert "payout_batches" not in inspect(engine).get_table_names()

        upgrade = runner.invoke(args=["db", "upgrade"])
        assert upgrade.exit_code == 0, upgrade.output
        with engine.connect() as connection:
            rows = connection.execute(BATCH_ROWS)
            backfilled = [tuple(row) for row in rows]
        assert backfilled == written
        with app.app_context():
            assert verify_batches(database.session) == []
            database.session.rollback()

        assert runner.invoke(args=["db", "downgrade", "0010_report_store"]).exit_code == 0
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE redemptions SET currency = 'GBP' WHERE id ="
                    " (SELECT min(id) FROM redemptions WHERE payment_reference = 'BATCH-0')"
                )
            )
        refused = runner.invoke(args=["db", "upgrade"])
        assert refused.exit_code != 0
        assert "a reference was paid in more than one currency" in refused.output
        assert "(payment reference BATCH-0)" in refused.output
        assert "payout_batches" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == "0010_report_store"
    finally:
        engine.dispose()
        with app.app_context():
            database.engine.dispose()


def test_every_revision_id_fits_the_version_table() -> None:
    """Alembic's alembic_version column holds 32 characters: on PostgreSQL a longer revision
    id fails the upgrade after its changes were made, with the database left between two
    versions. (SQLite does not enforce the length, so only this test would notice.)"""
    folder = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    revisions = {
        path.name: line.split("=", 1)[1].strip().strip('"')
        for path in folder.glob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("revision = ")
    }
    assert len(revisions) == len(list(folder.glob("*.py")))
    too_long = {name: revision for name, revision in revisions.items() if len(revision) > 32}
    assert too_long == {}


def test_the_exact_fold_migration_goes_down_and_up_with_data_and_refolds_exactly(
    empty_database_url: str, tmp_path: Path
) -> None:
    """With postings, payments and folded totals in the database, downgrading below 0009 and
    upgrading again works on both engines (0009 alters ledger_transactions and redemptions
    in place), empties the totals, and the next fold counts everything again: the totals
    equal the ledger's sums by account, and the payments' by wallet."""
    app = create_app(
        {"INSTANCE_PATH": tmp_path / "instance", "DATABASE_URL": empty_database_url, **FAST_ARGON2}
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    try:
        _pay_batches(app)
        with app.app_context():
            run(lambda: fold(database.session()))
        downgrade = runner.invoke(args=["db", "downgrade", "0008_outbox"])
        assert downgrade.exit_code == 0, downgrade.output
        upgrade = runner.invoke(args=["db", "upgrade"])
        assert upgrade.exit_code == 0, upgrade.output
        with app.app_context():
            session = database.session()
            assert session.scalar(select(func.count()).select_from(ReportAccountFlow)) == 0
            session.rollback()
            fold_through(session, session.scalar(select(func.max(LedgerTransaction.id))) or 0)
            folded = dict(
                session.execute(
                    select(
                        ReportAccountFlow.account_id, func.sum(ReportAccountFlow.amount)
                    ).group_by(ReportAccountFlow.account_id)
                ).all()
            )
            ledger = dict(
                session.execute(
                    select(Posting.account_id, func.sum(Posting.amount)).group_by(
                        Posting.account_id
                    )
                ).all()
            )
            paid = dict(
                session.execute(select(ReportWalletPaid.wallet_id, ReportWalletPaid.amount)).all()
            )
            payments = dict(
                session.execute(
                    select(Redemption.wallet_id, func.sum(Redemption.amount))
                    .where(Redemption.state == RedemptionState.PAID)
                    .group_by(Redemption.wallet_id)
                ).all()
            )
            session.rollback()
        assert folded == ledger
        assert paid == payments
        assert sum(payments.values()) > 0
    finally:
        with app.app_context():
            database.engine.dispose()
