"""Where made reports and report job records live: in the database every host shares (or in
Redis), not in one host's instance folder. Two hosts on one database see each other's jobs
and reports; asking twice joins the job queued; the worker prunes what is older than
``REPORT_CACHE_MAX_AGE_HOURS`` every hour, and in Redis it expires."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask

from grants import clock, create_app
from grants.extensions import db as database
from grants.reports.cache import RedisReportCache, report_cache
from grants.reports.jobs import Job, JobState, RedisJobStore, job_store
from grants.reports.store import Pruned
from grants.tasks import huey_of, run_prune
from tests.reports.dataset import Books
from tests.reports.test_cache import made_reports, stored
from tests.reports.test_jobs import REDIS_URL, ask_for_pdf, watch
from tests.support import require, sign_in, worker

PARAMETERS = {"currency": "USD", "fund_id": None, "privacy": "finance"}
"""Parameters a job record carries; only the worker reads them."""


def key(letter: str) -> str:
    return letter * 64


def clock_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Stand every reader of :func:`grants.clock.now` at ``moment``."""
    monkeypatch.setattr(clock, "now", lambda: moment)


def test_the_worker_prunes_what_is_older_than_the_max_age(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(REPORT_CACHE_MAX_AGE_HOURS=2)
    cache, jobs = report_cache(app), job_store(app)
    now = datetime.now(UTC)

    clock_at(monkeypatch, now - timedelta(hours=3))
    cache.put(key("a"), b"%PDF-old", file_name="old.pdf")
    jobs.save(Job(key("a"), PARAMETERS, state=JobState.DONE, percent=100, result_key=key("a")))
    jobs.save(Job(key("b"), PARAMETERS, state=JobState.FAILED, error="no"))
    jobs.save(Job(key("c"), PARAMETERS, state=JobState.RUNNING, percent=40))
    clock_at(monkeypatch, now - timedelta(minutes=1))
    jobs.save(Job(key("e"), PARAMETERS, state=JobState.RUNNING, percent=60))
    clock_at(monkeypatch, now - timedelta(hours=1))
    cache.put(key("d"), b"%PDF-fresh", file_name="fresh.pdf")
    jobs.save(Job(key("d"), PARAMETERS, state=JobState.DONE, percent=100, result_key=key("d")))

    clock_at(monkeypatch, now)
    assert run_prune(app) == Pruned(reports=1, jobs=3)
    assert cache.get(key("a")) is None
    assert jobs.get(key("a")) is None
    assert jobs.get(key("b")) is None
    assert jobs.get(key("c")) is None, "a job whose record has not moved for hours is lost"
    assert cache.get(key("d")) == b"%PDF-fresh", "a fresh report stays"
    assert jobs.get(key("d")) is not None, "a fresh job record stays"
    running = jobs.get(key("e"))
    assert running is not None, "a job writing its progress is kept"
    assert running.state is JobState.RUNNING
    assert run_prune(app) == Pruned(reports=0, jobs=0)

    clock_at(monkeypatch, now + timedelta(hours=1, minutes=1))
    assert run_prune(app) == Pruned(reports=1, jobs=1)
    assert sorted(stored(app)) == [key("e")]


def test_pruning_is_an_hourly_periodic_task(app: Flask) -> None:
    def due(minute: int) -> set[str]:
        moment = datetime(2026, 11, 30, 10, minute, tzinfo=UTC)
        return {task.name for task in huey_of(app).read_periodic(moment)}

    assert "reports.prune" in due(0)
    assert not any("reports.prune" in due(minute) for minute in range(1, 60))


@pytest.mark.parametrize("value", [0, -1, 1.5, "24", True])
def test_the_max_age_must_be_a_whole_number_of_hours(
    make_app: Callable[..., Flask], value: object
) -> None:
    with pytest.raises(ValueError, match="REPORT_CACHE_MAX_AGE_HOURS"):
        make_app(REPORT_CACHE_MAX_AGE_HOURS=value)


def test_the_max_age_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"INSTANCE_PATH": tmp_path / "instance", "TESTING": True}
    assert create_app(settings).config["REPORT_CACHE_MAX_AGE_HOURS"] == 24
    monkeypatch.setenv("GRANTS_REPORT_CACHE_MAX_AGE_HOURS", "6")
    assert create_app(settings).config["REPORT_CACHE_MAX_AGE_HOURS"] == 6
    monkeypatch.setenv("GRANTS_REPORT_CACHE_MAX_AGE_HOURS", "a day")
    with pytest.raises(ValueError, match="GRANTS_REPORT_CACHE_MAX_AGE_HOURS"):
        create_app(settings)


def test_asking_at_once_queues_one_job(app: Flask) -> None:
    """Requests racing to queue the same report: one records and queues the job, every
    other joins it; a finished job is queued afresh."""
    jobs, askers = job_store(app), 8
    start = threading.Barrier(askers)
    joined: dict[int, Job | None] = {}

    def ask(number: int) -> None:
        start.wait()
        joined[number] = jobs.queue(Job(key("e"), {**PARAMETERS, "asker": number}))

    threads = [threading.Thread(target=ask, args=(number,)) for number in range(askers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queued = [number for number, found in joined.items() if found is None]
    assert len(joined) == askers
    assert len(queued) == 1, joined
    recorded = jobs.get(key("e"))
    assert recorded is not None
    assert recorded.parameters["asker"] == queued[0]
    assert all(found == recorded for found in joined.values() if found is not None)

    recorded.state, recorded.percent = JobState.DONE, 100
    jobs.save(recorded)
    assert jobs.queue(Job(key("e"), PARAMETERS)) is None, "a finished job is queued again"
    again = jobs.get(key("e"))
    assert again is not None
    assert (again.state, again.percent, again.parameters) == (JobState.QUEUED, 0, PARAMETERS)


def test_two_hosts_share_jobs_and_reports(
    make_app: Callable[..., Flask], tmp_path: Path, database_url: str
) -> None:
    """Two applications with instance folders of their own on one database (one PostgreSQL
    schema in the PostgreSQL pass, one SQLite file otherwise) and one queue: a job asked for
    on host A is made by host B's worker; A's progress page sees it done and A downloads
    the bytes B made."""
    queue = str(tmp_path / "queue.sqlite3")
    host_a, host_b = (
        make_app(INSTANCE_PATH=tmp_path / name, HUEY_FILE=queue, REPORT_BACKGROUND_ROWS=0)
        for name in ("host-a", "host-b")
    )
    with host_a.app_context():
        email = Books(database.session).build().finance.email
    on_a, on_b = sign_in(host_a, email), sign_in(host_b, email)

    job_key = ask_for_pdf(on_a)
    assert ask_for_pdf(on_b) == job_key, "asking on another host joins the same job"
    assert "being made" in on_b.get(f"/finance/reports/jobs/{job_key}").get_data(as_text=True)
    with worker(host_b):
        job, _ = watch(host_a, job_key, {JobState.DONE, JobState.FAILED})
    assert job.state is JobState.DONE, job.error
    assert job.result_key is not None

    page = on_a.get(f"/finance/reports/jobs/{job_key}")
    assert "The report is ready." in page.get_data(as_text=True)
    download = on_a.get(f"/finance/reports/jobs/{job_key}/pdf")
    assert download.status_code == 200
    assert download.data.startswith(b"%PDF-")
    assert download.data == report_cache(host_b).get(job.result_key), "the bytes B made"
    assert download.data == made_reports(host_a)[job.result_key][1]
    assert on_b.get(f"/finance/reports/jobs/{job_key}/pdf").data == download.data
    for host in ("host-a", "host-b"):
        assert not (tmp_path / host / "reports").exists(), "nothing kept in an instance folder"


@pytest.fixture
def redis_app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """An application keeping its reports in the Redis on loopback, under a queue name of
    this test's own; its keys are deleted after."""
    server = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        reachable = bool(server.ping())
    except redis.RedisError:
        reachable = False
    require(reachable, f"Redis is not reachable at {REDIS_URL}")
    name = f"grants-test-{uuid.uuid4().hex}"
    try:
        yield make_app(REDIS_URL=REDIS_URL, HUEY_NAME=name, REPORT_CACHE_MAX_AGE_HOURS=3)
    finally:
        for found in server.scan_iter(match=f"{name}*"):
            server.delete(found)
        server.close()


def test_reports_and_jobs_live_in_redis_when_it_is_configured(redis_app: Flask) -> None:
    cache, jobs = report_cache(redis_app), job_store(redis_app)
    assert isinstance(cache, RedisReportCache)
    assert isinstance(jobs, RedisJobStore)
    server = redis.Redis.from_url(REDIS_URL)
    prefix = f"{redis_app.config['HUEY_NAME']}:reports:"
    three_hours = 3 * 3600

    assert cache.put(key("a"), b"%PDF-first", file_name="first.pdf")
    assert not cache.put(key("a"), b"%PDF-second", file_name="second.pdf")
    assert cache.get(key("a")) == b"%PDF-first"
    assert cache.has(key("a"))
    assert not cache.has(key("b"))
    assert cache.get(key("b")) is None
    report = server.hgetall(f"{prefix}file:{key('a')}")
    assert report[b"file_name"] == b"first.pdf"
    assert datetime.fromisoformat(report[b"created_at"].decode()) <= datetime.now(UTC)
    assert three_hours - 5 <= server.ttl(f"{prefix}file:{key('a')}") <= three_hours

    job = Job(key("c"), PARAMETERS)
    assert jobs.queue(job) is None
    joined = jobs.queue(Job(key("c"), {**PARAMETERS, "again": True}))
    assert joined == jobs.get(key("c"))
    assert joined is not None
    assert joined.parameters == PARAMETERS, "asking again joins the queued job"
    job.state, job.percent, job.result_key = JobState.DONE, 100, key("a")
    jobs.save(job)
    found = jobs.get(key("c"))
    assert found == job
    assert three_hours - 5 <= server.ttl(f"{prefix}job:{key('c')}") <= three_hours
    assert jobs.queue(Job(key("c"), PARAMETERS)) is None, "a finished job is queued again"
    server.close()

    assert stored(redis_app) == [], "nothing of it in the database"
