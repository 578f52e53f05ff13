"""The background worker's queue and its tasks: large reports, outbox delivery, and, as
periodic tasks, the outbox's retries, the gift expiry sweep, the reports' running totals
(:func:`grants.reports.flows.fold`) and the pruning of made reports.

Tasks queue in Huey: a SQLite file in the instance folder by default, Redis when
``GRANTS_REDIS_URL`` is set. ``flask grants worker`` runs the consumer. The report job
records (what the progress page reads) live with the made reports, in the database or in
Redis (:mod:`grants.reports.jobs`, :mod:`grants.reports.store`), where every host sees them;
this module runs the jobs those records describe.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey, crontab

from grants import clock, outbox
from grants.database import READS_ONLY
from grants.domain.account_tokens import prune_links
from grants.domain.gifts import sweep
from grants.domain.helpdesk_retention import Swept, timed_work
from grants.domain.reminders import Reminded, send_reminders
from grants.extensions import db
from grants.reports.build import prepare, report_pdf
from grants.reports.cache import report_cache
from grants.reports.flows import fold
from grants.reports.jobs import JobState, job_store
from grants.reports.parameters import ReportParameters
from grants.reports.store import Pruned, max_age, prune
from grants.unit_of_work import run

logger = logging.getLogger(__name__)


def make_huey(app: Flask) -> Huey:
    """The queue of ``app``: Redis when ``REDIS_URL`` is set, else a SQLite file.

    The queue is called ``grants`` unless ``HUEY_NAME`` says otherwise (two deployments
    sharing one Redis need two names)."""
    name = app.config.get("HUEY_NAME") or "grants"
    if app.config.get("REDIS_URL"):
        return RedisHuey(name, url=app.config["REDIS_URL"])
    filename = app.config.get("HUEY_FILE") or str(Path(app.instance_path) / "huey.sqlite3")
    Path(filename).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=filename)


def huey_of(app: Flask | None = None) -> Huey:
    """The queue of ``app`` (by default, the current application)."""
    huey: Huey = (app or current_app).extensions["huey"]
    return huey


def run_report_job(app: Flask, key: str) -> None:
    """Make the report of job ``key``: progress into its record, the PDF into the cache.

    The figures are read in the worker's session as reads only (on SQLite, without taking
    the write lock, so gifts and redemptions do not queue behind a large report), and that
    transaction ends before rendering, whether the reading succeeded or not; each write of
    the job's record is a short transaction of its own (see :mod:`grants.reports.store`),
    committed as the work goes, whatever becomes of the rest. A job whose worker dies
    stays queued or running until it is :attr:`~grants.reports.jobs.Job.lost`, when asking
    for the report again queues it afresh.
    """
    store = job_store(app)
    job = store.get(key)
    if job is None:
        logger.warning("report job %s has no record", key)
        return
    with app.app_context():
        job.state, job.percent, job.error = JobState.RUNNING, 1, None
        store.save(job)
        last = [0]

        def progress(percent: int) -> None:
            if percent >= last[0] + 5:
                last[0] = percent
                job.percent = percent
                store.save(job)

        try:
            reading = READS_ONLY.set(True)
            try:
                prepared = prepare(db.session(), ReportParameters.from_canonical(job.parameters))
            finally:
                db.session.rollback()
                READS_ONLY.reset(reading)
            progress(5)
            report_pdf(
                prepared,
                generated_at=clock.now().replace(microsecond=0),
                cache=report_cache(app),
                progress=progress,
            )
        except Exception:
            logger.exception("report job %s failed", key)
            job.state, job.error = JobState.FAILED, "The report could not be made."
            store.save(job)
            return
        finally:
            db.session.remove()
        job.state, job.percent = JobState.DONE, 100
        job.result_key, job.file_name = prepared.key, prepared.file_name
        store.save(job)


def run_sweep(app: Flask) -> int:
    """Expire gifts past their deadline; the periodic task and ``flask grants sweep``."""
    with app.app_context():
        try:
            return run(lambda: sweep(db.session(), now=clock.now()))
        finally:
            db.session.remove()


def run_reminders(app: Flask) -> Reminded:
    """Send the timed reminders that are due; an hourly task (``flask grants remind``)."""
    with app.app_context():
        try:
            return run(lambda: send_reminders(db.session(), now=clock.now()))
        finally:
            db.session.remove()


def run_fold(app: Flask) -> None:
    """Bring the reports' running totals up to what has committed; a periodic task."""
    with app.app_context():
        try:
            run(lambda: fold(db.session()))
        finally:
            db.session.remove()


def run_prune(app: Flask) -> Pruned:
    """Delete the made reports and finished job records older than
    ``REPORT_CACHE_MAX_AGE_HOURS``; an hourly task. (In Redis they expire by themselves.)"""
    with app.app_context():
        try:
            before = clock.now() - max_age(app)
            return run(lambda: prune(db.session(), before=before))
        finally:
            db.session.remove()


def run_prune_links(app: Flask) -> int:
    """Delete account links (password resets, email changes) long expired; an hourly task."""
    with app.app_context():
        try:
            return run(lambda: prune_links(db.session(), now=clock.now()))
        finally:
            db.session.remove()


def run_helpdesk(app: Flask) -> Swept:
    """The help desk's timed work: overdue alerts, then erasing the personal data of requests
    closed ``HELPDESK_RETENTION_DAYS`` ago (``flask grants helpdesk-sweep``); every 10
    minutes."""
    days = int(app.config["HELPDESK_RETENTION_DAYS"])
    with app.app_context():
        try:
            return run(lambda: timed_work(db.session(), now=clock.now(), retention_days=days))
        finally:
            db.session.remove()


def run_delivery(app: Flask) -> None:
    """Deliver the outbox messages that are due; woken after a commit, and every minute."""
    delivery = outbox.deliver(app)
    if delivery != outbox.Delivery():
        logger.info(
            "outbox: %d sent, %d to retry, %d failed, %d with nothing left to send",
            delivery.sent,
            delivery.retrying,
            delivery.failed,
            delivery.dropped,
        )


def catch_up(app: Flask) -> None:
    """Queue a delivery of the outbox, for a worker starting: whatever was due while no
    worker ran goes out now rather than at the next periodic pass."""
    app.extensions["outbox_task"]()


def init_app(app: Flask) -> None:
    """Create the application's queue and register its tasks on it."""
    huey = make_huey(app)
    app.extensions["huey"] = huey

    def make_report(key: str) -> None:
        run_report_job(app, key)

    def fold_totals() -> None:
        run_fold(app)

    def deliver_outbox() -> None:
        run_delivery(app)

    def retry_outbox() -> None:
        run_delivery(app)

    def prune_reports() -> None:
        pruned = run_prune(app)
        if pruned.reports or pruned.jobs:
            logger.info("pruned %d made reports, %d job records", pruned.reports, pruned.jobs)

    def prune_account_links() -> None:
        pruned = run_prune_links(app)
        if pruned:
            logger.info("pruned %d expired account links", pruned)

    def sweep_gifts() -> None:
        expired = run_sweep(app)
        if expired:
            logger.info("expired %d gifts", expired)

    def send_due_reminders() -> None:
        reminded = run_reminders(app)
        if reminded != Reminded():
            logger.info("reminders: %s", reminded)

    def helpdesk_work() -> None:
        swept = run_helpdesk(app)
        if swept != Swept(0, 0):
            logger.info(
                "help desk: %d overdue alerts, %d silent requests closed, %d requests erased",
                swept.alerted,
                swept.abandoned,
                swept.erased,
            )

    minutes = max(1, int(app.config["SWEEP_EVERY_MINUTES"]))
    app.extensions["report_task"] = huey.task(name="reports.make")(make_report)
    app.extensions["outbox_task"] = huey.task(name="outbox.deliver")(deliver_outbox)
    huey.periodic_task(crontab(minute="*"), name="outbox.retry")(retry_outbox)
    huey.periodic_task(crontab(minute=f"*/{minutes}"), name="gifts.sweep")(sweep_gifts)
    huey.periodic_task(crontab(minute="*"), name="reports.fold")(fold_totals)
    huey.periodic_task(crontab(minute="0"), name="reports.prune")(prune_reports)
    huey.periodic_task(crontab(minute="30"), name="accounts.prune_links")(prune_account_links)
    huey.periodic_task(crontab(minute="5"), name="reminders.send")(send_due_reminders)
    huey.periodic_task(crontab(minute="*/10"), name="helpdesk.timed")(helpdesk_work)
