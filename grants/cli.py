"""``flask grants …`` commands. Each calls the same domain operations as the web screens."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask

from grants.demo import DEMO_PASSWORD, seed_demo
from grants.domain.accounts import create_user
from grants.domain.errors import DomainError
from grants.extensions import db
from grants.models import Role
from grants.security import password_hasher, password_rules

grants_cli = click.Group("grants", help="Heart & Soul Funding administration.")


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
