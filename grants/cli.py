"""``flask grants …`` commands. Each calls the same domain operations as the web screens."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from grants import clock
from grants.data_key import DataKeyError, add_key, data_keys
from grants.domain.accounts import create_user, find_user_by_email, set_password
from grants.domain.audit import verify_chain
from grants.domain.dates import format_deadline, wall_clock_moment
from grants.domain.errors import DomainError, InvalidInput
from grants.domain.gifts import sweep
from grants.domain.helpdesk_retention import timed_work
from grants.domain.hub_hsds import export_package, package_json
from grants.domain.hub_hsds_import import HsdsInvalid, import_package
from grants.domain.ledger import verify_ledger
from grants.domain.payouts import verify_batches
from grants.domain.provider_bank import rotate_tokens
from grants.domain.reminders import send_reminders
from grants.extensions import db
from grants.models import Fund, Role
from grants.models.funds import default_fund_time_zone
from grants.security import password_hasher, password_rules
from grants.seed.demo import DEMO_PASSWORD, seed_demo
from grants.unit_of_work import run

T = TypeVar("T")

IDLE_POLL_SECONDS = 1.0
"""The longest an idle worker waits before looking at its queue again: a claim email leaves
within about a second of its gift (the queue's default lets an idle worker wait ten)."""

grants_cli = AppGroup("grants", help="Heart & Soul Funding administration.")


def _run(operation: Callable[[], T]) -> T:
    """Run ``operation`` as one transaction (:func:`grants.unit_of_work.run`), all of it or
    none, since a command may chain several operations; a refusal becomes the command's error
    message."""
    try:
        return run(operation, all_or_nothing=True)
    except DomainError as error:
        raise click.ClickException(error.message) from None


@grants_cli.command("create-user")
@click.option("--email", required=True, help="Sign-in email address.")
@click.option("--name", "display_name", required=True, help="Name shown to other people.")
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    type=click.Choice([role.value for role in Role]),
    help="A role to grant; repeat for several.",
)
@click.option(
    "--locale",
    default="en_US",
    show_default=True,
    type=click.Choice(["en_US", "en_GB"]),
    help="Language and number formats.",
)
def create_user_command(email: str, display_name: str, roles: tuple[str, ...], locale: str) -> None:
    """Create a user; the password is asked for twice and never echoed."""
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = _run(
        lambda: create_user(
            db.session(),
            email=email,
            display_name=display_name,
            password=password,
            roles=[Role(role) for role in roles],
            hasher=password_hasher(),
            rules=password_rules(),
            locale=locale,
        )
    )
    click.echo(f"Created {user.email} ({', '.join(role.value for role in user.roles)}).")


@grants_cli.command("set-password")
@click.option("--email", required=True, help="The sign-in email of the user.")
def set_password_command(email: str) -> None:
    """Give a user a new password, asked for twice and never echoed; every session of
    theirs ends, on every device."""
    user = find_user_by_email(db.session(), email)
    if user is None:
        raise click.ClickException(f"There is no user with the email {email}.")
    password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    _run(
        lambda: set_password(
            db.session(),
            user=user,
            password=password,
            hasher=password_hasher(),
            rules=password_rules(),
        )
    )
    click.echo(f"New password set for {user.email}; every session of theirs has ended.")


@grants_cli.command("seed-demo")
def seed_demo_command() -> None:
    """Add demo programmes, partners, funds, ambassadors, and a login for every journey:
    admin, two managers, finance, a US and a UK ambassador, and a recipient of a gift.

    Running it again adds only what is missing and changes nothing that exists.
    """
    seed = _run(
        lambda: seed_demo(
            db.session(),
            today=clock.today(),
            hasher=password_hasher(),
            rules=password_rules(),
            keys=data_keys(current_app),
        )
    )
    if seed.changed:
        added = ", ".join(f"{count} {kind}" for kind, count in sorted(seed.created.items()))
        click.echo(f"Demo data added: {added}.")
    else:
        click.echo("Demo data already present; nothing changed.")
    click.echo(f"Demo logins (password for each: {DEMO_PASSWORD}):")
    for role, email in seed.logins:
        click.echo(f"  {role.value:<11} {email:<35} {seed.notes.get(email, '')}".rstrip())


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(grants_cli)


ledger_cli = AppGroup("ledger", help="The double-entry ledger.")
audit_cli = AppGroup("audit", help="The hash-chained audit trail.")
grants_cli.add_command(ledger_cli)
grants_cli.add_command(audit_cli)
hub_cli = AppGroup("hub", help="The resource hub.")
grants_cli.add_command(hub_cli)


@ledger_cli.command("verify")
def ledger_verify_command() -> None:
    """Check every stored balance against its postings and every transaction's balance, and
    every payout batch against the redemptions paid under its reference.

    Exits 0 when the ledger agrees with itself, 1 naming each disagreement otherwise.
    """
    session = db.session()
    problems = verify_ledger(session) + verify_batches(session)
    _report(
        problems,
        ok="Ledger verified: every stored balance equals the sum of its postings, and every "
        "payout batch matches the redemptions paid under it.",
    )


@audit_cli.command("verify")
def audit_verify_command() -> None:
    """Check the audit trail's hash chain: exits 1 naming each edited or missing event."""
    problems = verify_chain(db.session())
    _report(problems, ok="Audit trail verified: the hash chain is intact.")


@grants_cli.command("sweep")
def sweep_command() -> None:
    """Expire gifts past their deadline. Idempotent; safe to run every minute."""
    expired = _run(lambda: sweep(db.session(), now=clock.now()))
    click.echo(f"Expired {expired} gift{'s' if expired != 1 else ''}.")


@grants_cli.command("helpdesk-sweep")
def helpdesk_sweep_command() -> None:
    """Tell navigators of overdue help requests, close requests silent for
    HELPDESK_RETENTION_DAYS (90) as no reply, and erase the personal data of requests closed
    longer ago than that. Idempotent; the worker runs it every
    10 minutes, and it is the step to run after restoring a backup."""
    days = int(current_app.config["HELPDESK_RETENTION_DAYS"])
    swept = _run(lambda: timed_work(db.session(), now=clock.now(), retention_days=days))
    click.echo(
        f"Help desk: {swept.alerted} overdue alert{'s' if swept.alerted != 1 else ''}, "
        f"{swept.abandoned} silent request{'s' if swept.abandoned != 1 else ''} closed, "
        f"{swept.erased} request{'s' if swept.erased != 1 else ''} erased."
    )


@grants_cli.command("remind")
def remind_command() -> None:
    """Send the timed reminders that are due (gifts about to expire, plan years ending,
    reports due or overdue, finance's morning digest). Idempotent; the worker runs it hourly."""
    reminded = _run(lambda: send_reminders(db.session(), now=clock.now()))
    click.echo(
        f"Reminded: {reminded.gifts_expiring} of gifts about to expire, "
        f"{reminded.plan_years_ending} of plan years ending, {reminded.reports_due} of "
        f"reports due, {reminded.reports_overdue} of reports overdue; "
        f"{reminded.finance_digests} finance digests, {reminded.daily_emails} daily emails; "
        f"partners: {reminded.partner_reports_due} of reports due, "
        f"{reminded.partner_reports_overdue} of reports overdue, "
        f"{reminded.rounds_closing} of rounds closing."
    )


def _report(problems: list[str], *, ok: str) -> None:
    if not problems:
        click.echo(ok)
        return
    for problem in problems:
        click.echo(problem, err=True)
    raise click.exceptions.Exit(1)


@grants_cli.command("report")
@click.option("--currency", help="ISO 4217 code: the report covers this currency's funds.")
@click.option("--fund", "fund_id", type=int, help="Report on this one fund instead.")
@click.option("--year", type=int, help="Plan year, such as 2026.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="Range start.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Range end (inclusive).")
@click.option(
    "--cutoff",
    help=(
        "The ledger as of this time: ISO 8601 with an offset (2026-12-31T17:00Z), or without "
        "one as clocks show it in the report's time zone (the fund's; for a currency, its "
        "funds' default). Default: now."
    ),
)
@click.option(
    "--privacy",
    type=click.Choice(["finance", "programme"]),
    default="finance",
    show_default=True,
    help="programme: aggregates only, counts under 5 suppressed.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="PDF file.")
@click.option("--csv", "csv_output", type=click.Path(dir_okay=False), help="Also write the CSV.")
def report_command(
    currency: str | None,
    fund_id: int | None,
    year: int | None,
    start: datetime | None,
    end: datetime | None,
    cutoff: str | None,
    privacy: str,
    output: str,
    csv_output: str | None,
) -> None:
    """Make the allocation report PDF (served from the cache when nothing changed)."""
    from pathlib import Path

    from grants.reports.build import prepare, report_pdf
    from grants.reports.cache import report_cache
    from grants.reports.queries import report_parameters

    now = clock.now()
    try:
        as_of = _cutoff(cutoff, fund_id=fund_id, currency=currency) if cutoff else None
        parameters = report_parameters(
            db.session(),
            currency=currency,
            fund_id=fund_id,
            year=year,
            start=start.date() if start else None,
            end=end.date() if end else None,
            cutoff=as_of,
            privacy=privacy,
            now=now,
        )
    except DomainError as error:
        raise click.UsageError(error.message) from None
    prepared = prepare(db.session(), parameters)
    db.session.rollback()
    pdf, cached = report_pdf(
        prepared, generated_at=now.replace(microsecond=0), cache=report_cache()
    )
    Path(output).write_bytes(pdf)
    if csv_output:
        Path(csv_output).write_bytes(prepared.csv().encode())
    source = "from the cache" if cached else "rendered"
    click.echo(
        f"Wrote {output} ({len(pdf):,} bytes, {source}); ledger fingerprint {prepared.fingerprint}."
    )
    if as_of is not None:
        click.echo(f"Cutoff: {format_deadline(as_of, prepared.time_zone, prepared.locale)}.")


def _cutoff(value: str, *, fund_id: int | None, currency: str | None) -> datetime:
    """``--cutoff`` as a moment: with an offset as written, else as the clocks of the
    report's time zone show it (a fund's own zone, or the default of the currency's funds).
    :class:`InvalidInput` for text that is no date and time, or a time those clocks skip or
    show twice."""
    try:
        written = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"--cutoff {value!r} is not a date and time such as 2026-12-31T17:00 or "
            "2026-12-31T17:00Z."
        ) from None
    if written.tzinfo is not None:
        return written.astimezone(UTC)
    fund = db.session.get(Fund, fund_id) if fund_id is not None else None
    if fund is not None:
        time_zone = fund.time_zone
    elif currency:
        time_zone = default_fund_time_zone(currency.upper())
    else:
        time_zone = "UTC"
    return wall_clock_moment(written, time_zone)


@grants_cli.command("worker")
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True)
def worker_command(workers: int) -> None:
    """Run the background worker: large reports and the outbox's emails; gift expiry, the
    outbox's retries and the reports' running totals every minute. Stops on Ctrl-C or
    SIGTERM, letting a report being made finish."""
    import logging

    from grants.tasks import catch_up, huey_of

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    consumer = huey_of(current_app).create_consumer(
        workers=workers, periodic=True, worker_type="thread", max_delay=IDLE_POLL_SECONDS
    )
    catch_up(current_app)
    consumer.run()


@grants_cli.command("backup")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="Backup file to write."
)
@click.option("--overwrite", is_flag=True, help="Replace the file if it exists.")
def backup_command(output: str, overwrite: bool) -> None:
    """Copy the database consistently while the application runs, then the uploaded
    documents to OUTPUT.uploads.tar.

    SQLite: the online backup API, giving a database file; restore by copying it back as
    the database with the application stopped. PostgreSQL: pg_dump's custom format; restore
    with pg_restore into an empty database. Documents: extract the tar into the instance
    folder (tar -xf OUTPUT.uploads.tar -C instance), the old uploads folder moved aside.
    """
    from pathlib import Path

    from grants.backup import BackupError, make_backup
    from grants.domain.documents import uploads_folder

    try:
        backup = make_backup(
            db.engine.url.render_as_string(False),
            Path(output),
            overwrite=overwrite,
            uploads=uploads_folder(current_app.instance_path),
        )
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Wrote {backup.path} ({backup.size:,} bytes, {backup.method}).")
    if backup.uploads is not None:
        files = backup.uploaded_files
        click.echo(f"Wrote {backup.uploads} ({files:,} uploaded file{'s' if files != 1 else ''}).")


@grants_cli.command("rotate-data-key")
@click.option(
    "--new-key/--keep-key",
    default=True,
    show_default=True,
    help="Put a new key first in instance/data.key before re-encrypting (with the keys in "
    "GRANTS_DATA_KEY, add the new key there yourself and use --keep-key).",
)
def rotate_data_key_command(new_key: bool) -> None:
    """Re-encrypt every stored bank detail with the newest data key."""
    app = current_app
    if new_key:
        try:
            add_key(app.instance_path, configured=app.config.get("DATA_KEY"))
        except DataKeyError as error:
            raise click.ClickException(str(error)) from None
    try:
        keys = data_keys(app)
        rewritten = _run(lambda: rotate_tokens(db.session(), keys=keys))
    except DataKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Re-encrypted {rewritten} bank detail(s) with the newest key. Keep the older keys "
        "until every host runs with the new one, then they may be removed."
    )


@grants_cli.command("seed-scale")
@click.option(
    "--ambassadors",
    type=click.IntRange(min=14),
    default=10_000,
    show_default=True,
    help="Ambassadors in all, the demo ones included.",
)
@click.option(
    "--postings",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Ledger postings in all, exactly.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Dataset seed.")
@click.option("--force", is_flag=True, help="Add to a database that already has users.")
def seed_scale_command(ambassadors: int, postings: int, seed: int, force: bool) -> None:
    """Build a large, realistic dataset for load tests and benchmarks.

    The demo data and logins, grants with tranches in every status, then ambassadors in the
    US and the UK with wallets, allowances, gifts and redemptions in every state, bulk-loaded
    as the domain writes them (idempotency records, hash-chained audit events): both verify
    commands pass afterwards. Refuses a database that has users, unless --force.
    """
    import time

    from sqlalchemy import func, select

    from grants.models import User
    from grants.seed.scale import ScaleRefused, minimum_postings, seed_scale

    users = db.session.scalar(select(func.count()).select_from(User)) or 0
    db.session.rollback()
    if users and not force:
        raise click.ClickException(
            f"The database has {users:,} users already; seed-scale is for an empty "
            "database (pass --force to add to it)."
        )
    if postings < minimum_postings(ambassadors):
        raise click.BadParameter(
            f"at least {minimum_postings(ambassadors):,} for {ambassadors:,} ambassadors.",
            param_hint="--postings",
        )
    started = time.perf_counter()
    try:
        built = _run(
            lambda: seed_scale(
                db.session(),
                ambassadors=ambassadors,
                postings=postings,
                now=clock.now(),
                hasher=password_hasher(),
                rules=password_rules(),
                seed=seed,
            )
        )
    except ScaleRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Built {built.ambassadors:,} ambassadors, {built.postings:,} postings, "
        f"{built.gifts:,} gifts, {built.redemptions:,} redemptions and {built.grants:,} grants "
        f"in {time.perf_counter() - started:.1f} s."
    )
    click.echo(f"Logins (password for each: {DEMO_PASSWORD}):")
    for role, email in built.logins:
        click.echo(f"  {role.value:<11} {email}")


@hub_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def hub_import_command(file: Path) -> None:
    """Load the HSDS 3.0 data package FILE (JSON): checked against the HSDS 3.0 schemas
    first, then each service proposed as a new version for navigators to publish, unless
    its latest version already says the same (so importing a file twice proposes nothing
    the second time). Organisations are created or updated by id. If anything is wrong,
    nothing is written and each problem is named with its JSON pointer."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise click.ClickException(f"{file} is not a JSON file: {error}") from None
    try:
        receipt = run(
            lambda: import_package(db.session(), document, now=clock.now()), all_or_nothing=True
        )
    except HsdsInvalid as error:
        for problem in error.problems:
            click.echo(f"{problem.pointer or '/'}: {problem.message}", err=True)
        raise click.ClickException(error.message) from None
    except DomainError as error:
        raise click.ClickException(error.message) from None
    for version in receipt.proposed:
        click.echo(f"Proposed {version.service_id} version {version.number}: {version.name}")
    proposed = len(receipt.proposed)
    click.echo(
        f"Proposed {proposed} version{'s' if proposed != 1 else ''} for navigators to publish; "
        f"{receipt.unchanged} unchanged; organisations: {receipt.organizations_created} "
        f"created, {receipt.organizations_updated} updated."
    )


@hub_cli.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8"))
def hub_export_command(file: TextIO) -> None:
    """Write every published service to FILE (``-`` for standard output) as an HSDS 3.0
    data package, the same file as /help/hsds/data-package.json."""
    package = export_package(db.session())
    file.write(package_json(package))
    if file is not sys.stdout:
        count = len(package["services"])
        click.echo(f"Exported {count} service{'s' if count != 1 else ''}.")


@hub_cli.command("seed")
def hub_seed_command() -> None:
    """Load the hub's seed data: each touring country's emergency number and crisis lines,
    and services for music people, every one with the public page it was checked against,
    published at once. Adds only what is missing; a second run changes nothing."""
    from grants.seed.hub import seed_hub

    seeded = _run(lambda: seed_hub(db.session(), now=clock.now()))
    if not seeded.changed:
        click.echo("The hub's seed data is already present; nothing changed.")
        return
    count = len(seeded.services)
    click.echo(
        f"Hub seed data added: {seeded.countries} countries, {seeded.organizations} "
        f"organisations, {count} service{'s' if count != 1 else ''} published."
    )
