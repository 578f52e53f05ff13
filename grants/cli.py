"""``flask grants …`` commands. Each calls the same domain operations as the web screens."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from grants.demo import DEMO_PASSWORD, seed_demo
from grants.domain.accounts import create_user
from grants.domain.audit import verify_chain
from grants.domain.credits import sweep
from grants.domain.errors import DomainError
from grants.domain.ledger import verify_ledger
from grants.extensions import db
from grants.models import Role
from grants.security import password_hasher, password_rules

grants_cli = AppGroup("grants", help="Heart & Soul Funding administration.")


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
    try:
        user = create_user(
            db.session(),
            email=email,
            display_name=display_name,
            password=password,
            roles=[Role(role) for role in roles],
            hasher=password_hasher(),
            rules=password_rules(),
            locale=locale,
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Created {user.email} ({', '.join(role.value for role in user.roles)}).")


@grants_cli.command("seed-demo")
def seed_demo_command() -> None:
    """Add demo programmes, partners, funds, ambassadors and one login per role.

    Running it again adds only what is missing and changes nothing that exists.
    """
    seed = seed_demo(
        db.session(),
        today=datetime.now(UTC).date(),
        hasher=password_hasher(),
        rules=password_rules(),
    )
    db.session.commit()
    if seed.changed:
        added = ", ".join(f"{count} {kind}" for kind, count in sorted(seed.created.items()))
        click.echo(f"Demo data added: {added}.")
    else:
        click.echo("Demo data already present; nothing changed.")
    click.echo(f"Demo logins (password for each: {DEMO_PASSWORD}):")
    for role, email in seed.logins:
        click.echo(f"  {role.value:<11} {email}")


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(grants_cli)


ledger_cli = AppGroup("ledger", help="The double-entry ledger.")
audit_cli = AppGroup("audit", help="The hash-chained audit trail.")
grants_cli.add_command(ledger_cli)
grants_cli.add_command(audit_cli)


@ledger_cli.command("verify")
def ledger_verify_command() -> None:
    """Check every stored balance against its postings and every transaction's balance.

    Exits 0 when the ledger agrees with itself, 1 naming each disagreement otherwise.
    """
    problems = verify_ledger(db.session())
    _report(problems, ok="Ledger verified: every stored balance equals the sum of its postings.")


@audit_cli.command("verify")
def audit_verify_command() -> None:
    """Check the audit trail's hash chain: exits 1 naming each edited or missing event."""
    problems = verify_chain(db.session())
    _report(problems, ok="Audit trail verified: the hash chain is intact.")


@grants_cli.command("sweep")
def sweep_command() -> None:
    """Expire gifts past their deadline. Idempotent; safe to run every minute."""
    expired = sweep(db.session(), now=datetime.now(UTC))
    db.session.commit()
    click.echo(f"Expired {expired} gift{'s' if expired != 1 else ''}.")


def _report(problems: list[str], *, ok: str) -> None:
    if not problems:
        click.echo(ok)
        return
    for problem in problems:
        click.echo(problem, err=True)
    raise click.exceptions.Exit(1)
