"""The worker: a real Huey consumer on the test's own SQLite queue. Large reports are made
by it: the progress page moves to 100 % and then links the PDF; a job that fails shows an
error page whose button queues it again. Its periodic tasks expire gifts and fold the
reports' running totals."""

from __future__ import annotations

import shutil
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from huey import RedisHuey
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import gifts
from grants.domain.money import Money
from grants.extensions import db as database
from grants.models import Gift, GiftState
from grants.reports.build import prepare
from grants.reports.flows import EPOCH, current_mark
from grants.reports.jobs import Job, JobState, job_store
from grants.tasks import huey_of
from tests.reports.dataset import Books
from tests.reports.support import report_query
from tests.reports.test_cache import parameters_of
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
        time.sleep(0.002)
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
    cached = Path(app.config["REPORT_FOLDER"]) / f"{job.result_key}.pdf"
    assert download.data == cached.read_bytes()

    again = submit(
        finance, f"/finance/reports?{urlencode(report_query())}", {}, action="/finance/reports/pdf"
    )
    assert again.status_code == 200, "a made report is sent at once from the cache"
    assert again.data == download.data


def test_a_failed_job_shows_an_error_and_can_be_retried(
    app: Flask, db: Session, books: Books, finance: FlaskClient
) -> None:
    expected = prepare(db, parameters_of(db)).key
    db.rollback()
    blocker = Path(app.config["REPORT_FOLDER"]) / f"{expected}.pdf"
    blocker.mkdir(parents=True)
    (blocker / "in-the-way").write_text("a folder where the report should go")

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

        shutil.rmtree(blocker)
        retried = submit(
            finance,
            f"/finance/reports/jobs/{key}",
            {},
            action=f"/finance/reports/jobs/{key}/retry",
        )
        assert retried.status_code == 303
        job, _ = watch(app, key, {JobState.DONE})
    assert job.error is None
    download = finance.get(f"/finance/reports/jobs/{key}/pdf")
    assert download.status_code == 200
    assert download.data.startswith(b"%PDF-")


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
            folded = current_mark(db).paid_through > EPOCH
            db.rollback()  # a SQLite transaction holds the write lock: end it at once
            if state is GiftState.EXPIRED and folded:
                break
            time.sleep(0.05)
    db.rollback()
    assert db.scalar(select(Gift.state).where(Gift.id == gift_id)) is GiftState.EXPIRED
    assert current_mark(db).paid_through > EPOCH, "the totals were folded"


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
    require(redis_reachable(), "Redis is not running on 127.0.0.1:6379")
    app = make_app(
        REPORT_BACKGROUND_ROWS=0, REDIS_URL=REDIS_URL, HUEY_NAME=f"grants-test-{uuid.uuid4().hex}"
    )
    huey = huey_of(app)
    assert isinstance(huey, RedisHuey)
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
    finally:
        huey.flush()
