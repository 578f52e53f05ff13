"""``flask grants create-user`` and ``flask grants seed-demo`` through the CLI runner."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.ledger import fund_balances
from grants.models import Ambassador, Base, Country, Fund, FundKind, Partner, Programme, Role, User
from grants.seed.demo import DEMO_PASSWORD, email_for
from tests.support import login

GOOD_PASSWORD = "a long and unusual phrase"


def create_user(
    runner: FlaskCliRunner, *args: str, password: str = GOOD_PASSWORD, confirm: str | None = None
):  # type: ignore[no-untyped-def]
    answers = f"{password}\n{confirm if confirm is not None else password}\n"
    return runner.invoke(args=["grants", "create-user", *args], input=answers)


def count_users(db: Session) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(User)) or 0


def test_create_user_with_several_roles(
    runner: FlaskCliRunner, db: Session, client: FlaskClient
) -> None:
    result = create_user(
        runner,
        "--email",
        "Jo@Example.org",
        "--name",
        "  Jo   Bloggs ",
        "--role",
        "finance",
        "--role",
        "manager",
    )
    assert result.exit_code == 0, result.output
    assert "Created jo@example.org (manager, finance)." in result.output
    assert GOOD_PASSWORD not in result.output
    user = db.scalar(select(User).where(User.email == "jo@example.org"))
    assert user is not None
    assert user.display_name == "Jo Bloggs"
    assert user.roles == [Role.MANAGER, Role.FINANCE]
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert login(client, "jo@example.org", GOOD_PASSWORD).status_code == 302


def test_the_password_is_asked_again_until_both_entries_match(
    runner: FlaskCliRunner, db: Session
) -> None:
    answers = f"{GOOD_PASSWORD}\nsomething else entirely\n{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n"
    result = runner.invoke(
        args=[
            "grants",
            "create-user",
            "--email",
            "jo@example.org",
            "--name",
            "Jo",
            "--role",
            "admin",
        ],
        input=answers,
    )
    assert result.exit_code == 0, result.output
    assert "Error: The two entered values do not match." in result.output
    assert count_users(db) == 1


@pytest.mark.parametrize(
    ("arguments", "password", "message"),
    [
        (
            ["--email", "not-an-email", "--name", "Jo", "--role", "admin"],
            GOOD_PASSWORD,
            "not a valid email address",
        ),
        (
            ["--email", "jo@example.org", "--name", "   ", "--role", "admin"],
            GOOD_PASSWORD,
            "Enter a name.",
        ),
        (
            ["--email", "jo@example.org", "--name", "J" * 121, "--role", "admin"],
            GOOD_PASSWORD,
            "at most 120 characters",
        ),
        (
            ["--email", "jo@example.org", "--name", "Jo", "--role", "admin"],
            "short pass",
            "at least 12 characters",
        ),
        (
            ["--email", "jo@example.org", "--name", "Jo", "--role", "admin"],
            "password1234",
            "too easy to guess",
        ),
        (
            ["--email", "jo@example.org", "--name", "Jo", "--role", "admin"],
            "jo@example.org",
            "your email address or your name",
        ),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    runner: FlaskCliRunner, db: Session, arguments: list[str], password: str, message: str
) -> None:
    result = create_user(runner, *arguments, password=password)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert count_users(db) == 0


def test_an_unknown_role_is_refused(runner: FlaskCliRunner, db: Session) -> None:
    result = create_user(runner, "--email", "jo@example.org", "--name", "Jo", "--role", "overlord")
    assert result.exit_code == 2
    assert (
        "'overlord' is not one of 'admin', 'manager', 'finance', 'ambassador', 'recipient'"
        in result.output
    )
    assert count_users(db) == 0


def test_an_email_already_in_use_is_refused_whatever_its_case(
    runner: FlaskCliRunner, db: Session
) -> None:
    assert (
        create_user(
            runner, "--email", "jo@example.org", "--name", "Jo", "--role", "admin"
        ).exit_code
        == 0
    )
    result = create_user(
        runner, "--email", "JO@EXAMPLE.ORG", "--name", "Other Jo", "--role", "finance"
    )
    assert result.exit_code == 1
    assert "A user with the email jo@example.org already exists." in result.output
    assert count_users(db) == 1


def snapshot(db: Session) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, for comparing the database before and after."""
    db.rollback()
    tables: dict[str, list[tuple[object, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        rows = db.execute(select(table).order_by(*table.primary_key.columns)).all()
        tables[table.name] = [tuple(row) for row in rows]
    return tables


def test_seed_demo_builds_the_demo_and_a_second_run_changes_nothing(
    runner: FlaskCliRunner, db: Session, client: FlaskClient
) -> None:
    first = runner.invoke(args=["grants", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Demo data added:" in first.output
    for role in Role:
        assert email_for(role.value) in first.output
    assert DEMO_PASSWORD in first.output

    assert sorted(db.scalars(select(Programme.code))) == ["EQUAL", "GLOW", "RADAR"]
    assert set(db.scalars(select(Partner.display_name))) == {
        "Backline",
        "MusiCares",
        "Music Health Alliance",
        "Music Minds Matter",
        "The Busyhead Project",
    }
    funds = {(f.kind, f.currency) for f in db.scalars(select(Fund))}
    assert funds == {(FundKind.GRANTS, "USD"), (FundKind.THERAPY, "USD"), (FundKind.THERAPY, "GBP")}
    budgets = {
        f.currency + f.kind.value: fund_balances(db, f.id).budget for f in db.scalars(select(Fund))
    }
    assert budgets == {"USDgrants": 25_000_000, "USDtherapy": 6_000_000, "GBPtherapy": 4_000_000}
    cohorts = set(
        db.execute(select(Programme.code, Ambassador.country).join(Ambassador.programme)).all()
    )
    assert cohorts == {
        (code, country) for code in ("EQUAL", "GLOW", "RADAR") for country in Country
    }
    for role in Role:
        user = db.scalar(select(User).where(User.email == email_for(role.value)))
        assert user is not None
        assert role in user.roles

    before = snapshot(db)
    second = runner.invoke(args=["grants", "seed-demo"])
    assert second.exit_code == 0, second.output
    assert "Demo data already present; nothing changed." in second.output
    assert snapshot(db) == before

    assert login(client, email_for("manager"), DEMO_PASSWORD).status_code == 302
    assert "Backline" in client.get("/manager/partners").get_data(as_text=True)
