"""The worker: a real Huey consumer on the test's own SQLite queue. Large reports are made
by it: the progress page moves to 100 % and then links the PDF; a job that fails shows an
error page whose button queues it again, and so does a job whose report has since been
pruned. Its periodic tasks expire gifts and fold the reports' running totals."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from huey import RedisHuey
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import gifts
from grants.domain.money import Money
from grants.extensions import db as database
from grants.models import Gift, GiftState
from grants.reports.build import prepare
from grants.reports.cache import report_cache
from grants.reports.flows import current_mark
from grants.reports.jobs import LOST_AFTER, Job, JobState, job_store
from grants.tasks import huey_of, run_prune, run_report_job
from tests.reports.dataset import Books
from tests.reports.support import report_query
from tests.reports.test_cache import made_reports, parameters_of, stored
from tests.support import require, sign_in, submit, worker


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """Every report goes to the worker."""
    return make_app(REPORT_BACKGROUND_ROWS=0)


def watch(app: Flask, key: str, until: set[JobState], timeout: float = 60) -> tuple[Job, list[int]]:
    """Poll the job's record until it reaches a state in ``until``; the percentages seen."""
    store = job_store(app)
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(key)
        assert job is not None
        if not seen or seen[-1] != job.percent:
            seen.append(job.percent)
        if job.state in until:
            return job, seen
        time.sleep(0.01)
    raise AssertionError(f"job {key} still {job.state} after {timeout} s")


def ask_for_pdf(client: FlaskClient) -> str:
    """Ask for the report's PDF; the key of the job it was queued as."""
    page = f"/finance/reports?{urlencode(report_query())}"
    response = submit(client, page, {}, action="/finance/reports/pdf")
    assert response.status_code == 303
    prefix = "/finance/reports/jobs/"
    assert response.location.startswith(prefix)
    return response.location.removeprefix(prefix)


def test_progress_moves_and_the_file_arrives(
    app: Flask, db: Session, books: Books, finance: FlaskClient
) -> None:
    key = ask_for_pdf(finance)
    page = finance.get(f"/finance/reports/jobs/{key}")
    assert page.status_code == 200
    assert "being made" in page.get_data(as_text=True)
    assert page.headers["Refresh"] == "3"
    assert ask_for_pdf(finance) == key, "asking again joins the same job"

    with worker(app):
        job, seen = watch(app, key, {JobState.DONE, JobState.FAILED})
    assert job.state is JobState.DONE, job.error
    assert seen[0] == 0
    assert seen[-1] == 100
    assert seen == sorted(seen)
    assert any(0 < percent < 100 for percent in seen), seen

    page = finance.get(f"/finance/reports/jobs/{key}")
    html = page.get_data(as_text=True)
    assert "The report is ready." in html
    assert "Refresh" not in page.headers
    download = finance.get(f"/finance/reports/jobs/{key}/pdf")
    assert download.status_code == 200
    assert download.mimetype == "application/pdf"
    assert job.result_key is not None
    assert download.data == made_reports(app)[job.result_key][1]
    assert download.headers["Content-Disposition"] == f'attachment; filename="{job.file_name}"'

    again = submit(
        finance, f"/finance/reports?{urlencode(report_query())}", {}, action="/finance/reports/pdf"
    )
    assert again.status_code == 200, "a made report is sent at once from the cache"
    assert again.data == download.data


def refuse_new_reports(db: Session) -> None:
    """Make the database refuse to store any made report, as a full disk would."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(
            text(
                "CREATE FUNCTION refuse_report() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'no room for the report'; END $$"
            )
        )
        db.execute(
            text(
                "CREATE TRIGGER refuse_report BEFORE INSERT ON report_files "
                "FOR EACH ROW EXECUTE FUNCTION refuse_report()"
            )
        )
    else:
        db.execute(
            text(
                "CREATE TRIGGER refuse_report BEFORE INSERT ON report_files "
                "BEGIN SELECT RAISE(ABORT, 'no room for the report'); END"
            )
        )
    db.commit()


def accept_new_reports(db: Session) -> None:
    """Undo :func:`refuse_new_reports`."""
    db.rollback()
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("DROP TRIGGER IF EXISTS refuse_report ON report_files"))
        db.execute(text("DROP FUNCTION IF EXISTS refuse_report()"))
    else:
        db.execute(text("DROP TRIGGER IF EXISTS refuse_report"))
    db.commit()


def test_a_failed_job_shows_an_error_and_can_be_retried(
    app: Flask, db: Session, books: Books, finance: FlaskClient
) -> None:
    expected = prepare(db, parameters_of(db)).key
    db.rollback()
    refuse_new_reports(db)
    try:
        key = ask_for_pdf(finance)
        assert key == expected
        with worker(app):
            job, _ = watch(app, key, {JobState.DONE, JobState.FAILED})
            assert job.state is JobState.FAILED
            page = finance.get(f"/finance/reports/jobs/{key}")
            html = page.get_data(as_text=True)
            assert "The report could not be made" in html
            assert "Try again" in html
            assert finance.get(f"/finance/reports/jobs/{key}/pdf").status_code == 404

            accept_new_reports(db)
            retried = submit(
                finance,
                f"/finance/reports/jobs/{key}",
                {},
                action=f"/finance/reports/jobs/{key}/retry",
            )
            assert retried.status_code == 303
            job, _ = watch(app, key, {JobState.DONE})
    finally:
        accept_new_reports(db)
    assert job.error is None
    download = finance.get(f"/finance/reports/jobs/{key}/pdf")
    assert download.status_code == 200
    assert download.data.startswith(b"%PDF-")


def test_a_done_job_whose_report_was_pruned_can_be_made_again(
    app: Flask, db: Session, books: Books, finance: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report was made before the job finished (another maker stored it), so it is
    pruned while the job's record is kept: the job's page says so and offers to make it."""
    prepared = prepare(db, parameters_of(db))
    db.rollback()
    now = datetime.now(UTC)
    hours = app.config["REPORT_CACHE_MAX_AGE_HOURS"]
    monkeypatch.setattr(clock, "now", lambda: now - timedelta(hours=hours + 1))
    report_cache(app).put(prepared.key, b"%PDF-made long ago", file_name="old.pdf")
    monkeypatch.setattr(clock, "now", lambda: now - timedelta(hours=1))
    job = Job(key=prepared.key, parameters=prepared.parameters.canonical())
    job.state, job.percent = JobState.DONE, 100
    job.result_key, job.file_name = prepared.key, prepared.file_name
    job_store(app).save(job)
    monkeypatch.setattr(clock, "now", lambda: now)
    assert finance.get(f"/finance/reports/jobs/{job.key}/pdf").data == b"%PDF-made long ago"

    assert run_prune(app).reports == 1
    page = finance.get(f"/finance/reports/jobs/{job.key}")
    assert "has since been cleared" in page.get_data(as_text=True)
    assert finance.get(f"/finance/reports/jobs/{job.key}/pdf").status_code == 404
    retried = submit(
        finance,
        f"/finance/reports/jobs/{job.key}",
        {},
        action=f"/finance/reports/jobs/{job.key}/retry",
    )
    assert retried.status_code == 303
    assert job_store(app).get(job.key) == Job(
        key=job.key, parameters=job.parameters, updated_at=now
    ), "queued afresh"
    with worker(app):
        done, _ = watch(app, job.key, {JobState.DONE, JobState.FAILED})
    assert done.state is JobState.DONE, done.error
    download = finance.get(f"/finance/reports/jobs/{job.key}/pdf")
    assert download.data.startswith(b"%PDF-1.")
    assert b"made long ago" not in download.data


def test_the_worker_expires_gifts_and_folds_totals_every_minute(
    app: Flask, db: Session, books: Books
) -> None:
    earlier = datetime.now(UTC) - timedelta(hours=2)
    receipt = gifts.give_gift(
        db,
        key="short-lived",
        actor=books.glow[3].user,
        wallet_id=books.glow[3].id,
        amount=Money(1_000, "USD"),
        recipient_name="Cy Crew",
        recipient_email="cy@example.org",
        relation="crew",
        now=earlier,
        validity=timedelta(hours=1),
    )
    db.commit()
    gift_id = db.scalar(select(Gift.id).where(Gift.recipient_email == "cy@example.org"))
    assert receipt.claim_token
    assert gift_id is not None

    with worker(app, periodic=True):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = db.scalar(select(Gift.state).where(Gift.id == gift_id))
            folded = current_mark(db).transaction_id > 0
            db.rollback()  # a SQLite transaction holds the write lock: end it at once
            if state is GiftState.EXPIRED and folded:
                break
            time.sleep(0.05)
    db.rollback()
    assert db.scalar(select(Gift.state).where(Gift.id == gift_id)) is GiftState.EXPIRED
    assert current_mark(db).transaction_id > 0, "the totals were folded"


REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_jobs_queue_in_redis_when_it_is_configured(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """With Redis, the queue, the job's record and the made report all live there."""
    require(redis_reachable(), "Redis is not running on 127.0.0.1:6379")
    name = f"grants-test-{uuid.uuid4().hex}"
    app = make_app(REPORT_BACKGROUND_ROWS=0, REDIS_URL=REDIS_URL, HUEY_NAME=name)
    huey = huey_of(app)
    assert isinstance(huey, RedisHuey)
    server = redis.Redis.from_url(REDIS_URL)
    try:
        with app.app_context():
            books = Books(database.session).build()
            email = books.finance.email
        client = sign_in(app, email)
        key = ask_for_pdf(client)
        assert huey.pending_count() == 1
        with worker(app):
            job, _ = watch(app, key, {JobState.DONE, JobState.FAILED})
        assert job.state is JobState.DONE, job.error
        assert client.get(f"/finance/reports/jobs/{key}/pdf").data.startswith(b"%PDF-")
        assert stored(app) == [], "nothing of the report in the database"
        assert server.exists(f"{name}:reports:job:{key}")
        assert server.exists(f"{name}:reports:file:{job.result_key}")
    finally:
        huey.flush()
        for found in server.scan_iter(match=f"{name}:reports:*"):
            server.delete(found)
        server.close()


@pytest.mark.parametrize("kept_in", ["database", "redis"])
def test_a_lost_job_is_queued_afresh_and_a_live_one_is_joined(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, kept_in: str
) -> None:
    """A queued or running job whose record has not moved for LOST_AFTER lost its worker:
    asking for its report again records a new job instead of joining one that never ends."""
    settings: dict[str, object] = {"REPORT_BACKGROUND_ROWS": 0}
    if kept_in == "redis":
        require(redis_reachable(), "Redis is not running on 127.0.0.1:6379")
        settings.update(REDIS_URL=REDIS_URL, HUEY_NAME=f"grants-test-{uuid.uuid4().hex}")
    store = job_store(make_app(**settings))
    now = datetime.now(UTC)
    live, lost = "a" * 64, "b" * 64
    monkeypatch.setattr(clock, "now", lambda: now - LOST_AFTER + timedelta(minutes=1))
    store.save(Job(live, {"currency": "USD"}, state=JobState.RUNNING, percent=30))
    monkeypatch.setattr(clock, "now", lambda: now - LOST_AFTER - timedelta(minutes=1))
    store.save(Job(lost, {"currency": "USD"}, state=JobState.RUNNING, percent=30))
    monkeypatch.setattr(clock, "now", lambda: now)

    joined = store.queue(Job(live, {"currency": "USD"}))
    assert joined is not None
    assert joined.state is JobState.RUNNING
    assert not joined.lost
    found = store.get(lost)
    assert found is not None
    assert found.lost
    assert store.queue(Job(lost, {"currency": "USD"})) is None, "recorded afresh"
    again = store.get(lost)
    assert again is not None
    assert (again.state, again.percent, again.lost) == (JobState.QUEUED, 0, False)


def test_a_report_that_cannot_be_read_fails_its_job_instead_of_leaving_it_running(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker reads a report's figures without holding the SQLite write lock and ends
    that transaction whatever happens, so the job's record can say it failed."""
    store = job_store(app)
    key = "c" * 64
    store.save(Job(key, {"currency": "USD"}, state=JobState.QUEUED))

    def unreadable(session: Session, parameters: object) -> None:
        session.execute(text("SELECT count(*) FROM ledger_transactions"))
        raise RuntimeError("the figures could not be read")

    monkeypatch.setattr("grants.tasks.prepare", unreadable)
    monkeypatch.setattr("grants.tasks.ReportParameters.from_canonical", lambda values: values)
    run_report_job(app, key)
    failed = store.get(key)
    assert failed is not None
    assert (failed.state, failed.error) == (JobState.FAILED, "The report could not be made.")
