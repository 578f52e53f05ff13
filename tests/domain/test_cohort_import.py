"""Cohort import in the domain: reading the file, every row's errors with its row number,
what each row would do, and the import itself: all or nothing, once per file, through the
invitations and their emails in the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import cohort_import
from grants.domain.cohort_file import RowError
from grants.domain.cohort_import import RowAction, hold, import_cohort, plan
from grants.domain.errors import InvalidInput, NotAllowed, NotFound
from grants.domain.invitations import INVITATION_EMAIL, InvitationDetails, invite_person
from grants.models import (
    Ambassador,
    AuditEvent,
    CohortStatus,
    CohortUpload,
    Country,
    Invitation,
    OutboxMessage,
    Role,
    User,
)
from tests.factories import make_ambassador, make_programme, make_user

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
HEADER = "name,email,programme,country,cohort status\r\n"


def csv_of(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(f"{row}\r\n" for row in rows)).encode()


@pytest.fixture
def manager(db: Session) -> User:
    make_programme(db, "GLOW")
    make_programme(db, "RADAR")
    return make_user(db, Role.MANAGER)


def counts(db: Session) -> tuple[int, int, int, int]:
    return (
        db.scalar(select(func.count()).select_from(User)) or 0,
        db.scalar(select(func.count()).select_from(Invitation)) or 0,
        db.scalar(select(func.count()).select_from(Ambassador)) or 0,
        db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == INVITATION_EMAIL)
        )
        or 0,
    )


def refusal(db: Session, actor: User, data: bytes) -> str:
    with pytest.raises(InvalidInput) as refused:
        hold(db, actor=actor, data=data, now=NOW)
    assert refused.value.field == "file"
    return refused.value.message


# --- files that cannot be read ----------------------------------------------------------------


def test_a_file_in_another_encoding_is_refused_with_what_to_do(db: Session, manager: User) -> None:
    latin = csv_of("Zoë Núñez,zoe@example.org,GLOW,US,current").decode().encode("latin-1")
    utf16 = csv_of("Zoë,zoe@example.org,GLOW,US,current").decode().encode("utf-16")
    before = counts(db)
    for data in (latin, utf16):
        assert "CSV UTF-8" in refusal(db, manager, data)
    assert counts(db) == before
    assert db.scalar(select(func.count()).select_from(CohortUpload)) == 0


def test_a_workbook_is_not_a_csv(db: Session, manager: User) -> None:
    message = refusal(db, manager, b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40)
    assert message.startswith("This is not a CSV file")


def test_a_file_without_its_header_is_refused(db: Session, manager: User) -> None:
    message = refusal(db, manager, csv_of("Ana,ana@example.org,GLOW,US,current", header=""))
    assert message.startswith(
        "The first row must be the header: name,email,programme,country,cohort status."
    )
    assert "“Ana, ana@example.org, GLOW, US, current”" in message


def test_a_header_with_unknown_or_repeated_columns_is_refused(db: Session, manager: User) -> None:
    extra = csv_of("Ana,ana@example.org,GLOW,US,current,555", header=HEADER[:-2] + ",phone\r\n")
    assert "does not know: “phone”" in refusal(db, manager, extra)
    semicolons = b"name;email;programme;country;cohort status\r\nAna;a@example.org;GLOW;US;current"
    assert "semicolons" in refusal(db, manager, semicolons)


def test_ten_megabytes_on_one_line_are_refused_before_they_are_parsed(
    db: Session, manager: User
) -> None:
    huge = b"name," + b"x" * (10 * 1024 * 1024)
    assert "larger than 1 MB" in refusal(db, manager, huge)
    long_line = csv_of("Ana," + "y" * 5_000 + "@example.org,GLOW,US,current")
    assert "Line 2 is longer than 2,000 characters" in refusal(db, manager, long_line)


def test_an_empty_file_and_an_unclosed_quote_are_refused(db: Session, manager: User) -> None:
    assert "empty" in refusal(db, manager, b"")
    assert "empty" in refusal(db, manager, b"\xef\xbb\xbf\r\n,,,,\r\n")
    unclosed = csv_of("Ana,ana@example.org,GLOW,US,current", '"Bo,bo@example.org,GLOW,US,current')
    assert refusal(db, manager, unclosed).startswith(
        "Row 3 cannot be read as CSV: a quotation mark in it is not closed"
    )


def test_a_byte_order_mark_is_accepted(db: Session, manager: User) -> None:
    data = b"\xef\xbb\xbf" + csv_of("Zoë Núñez,zoe@example.org,GLOW,GB,upcoming")
    preview = hold(db, actor=manager, data=data, now=NOW)
    assert preview.valid
    [row] = preview.rows
    assert (row.entry.name, row.entry.email, row.entry.country, row.entry.cohort_status) == (
        "Zoë Núñez",
        "zoe@example.org",
        Country.GB,
        CohortStatus.UPCOMING,
    )


def test_columns_in_any_order_and_case_and_blank_rows_are_read(db: Session, manager: User) -> None:
    data = csv_of(
        "GLOW,Current,us,ANA@Example.org,Ana Lima",
        ",,,,",
        "radar,alumni,GB,bo@example.org,Bo",
        header="Programme,Cohort_Status,COUNTRY,Email,Name\r\n",
    )
    preview = plan(db, actor=manager, data=data, now=NOW)
    assert preview.valid
    assert [(row.entry.row, row.entry.email, row.entry.programme) for row in preview.rows] == [
        (2, "ana@example.org", "GLOW"),
        (4, "bo@example.org", "RADAR"),
    ]


# --- row errors ------------------------------------------------------------------------------


def test_every_row_error_is_listed_with_its_row_as_a_spreadsheet_numbers_it(
    db: Session, manager: User
) -> None:
    make_programme(db, "OLD").active = False
    data = csv_of(
        "Ana Lima,ana@example.org,GLOW,US,current",
        "Bo,not-an-email,GLOW,US,current",
        "Cy,cy@example.org,NOPE,US,current",
        "Di,di@example.org,OLD,US,current",
        "Ed,ed@example.org,GLOW,FR,current",
        "Fay,fay@example.org,GLOW,UK,current",
        "Gus,gus@example.org,GLOW,US,retired",
        "Hal,ANA@EXAMPLE.ORG,RADAR,GB,current",
        ",ivy@example.org,GLOW,US,current",
        "Jo,jo@example.org,GLOW,US,current,extra",
    )
    preview = plan(db, actor=manager, data=data, now=NOW)
    assert not preview.valid
    assert preview.error_count == 9
    by_row = {error.row: error for error in preview.errors}
    assert by_row[3].column == "email"
    assert by_row[3].message.startswith("“not-an-email” is not a valid email address")
    assert by_row[4] == RowError(
        4, "programme", "There is no open programme “NOPE”: use “GLOW” and “RADAR”."
    )
    assert by_row[5].message.startswith("There is no open programme “OLD”")
    assert by_row[6] == RowError(6, "country", "“FR” is not a country: use US or GB.")
    assert by_row[7] == RowError(7, "country", "Write the United Kingdom as GB.")
    assert by_row[8].message == (
        "“retired” is not a cohort status: use upcoming, current or alumni."
    )
    assert by_row[9] == RowError(
        9, "email", "ana@example.org is also in row 2: list each person once."
    )
    assert by_row[10] == RowError(10, "name", "Enter a name.")
    assert by_row[11].message == "This row has more cells than the header has columns."
    assert [row.entry.row for row in preview.rows] == [2]


def test_formulas_are_refused_but_names_starting_with_a_sign_are_names(
    db: Session, manager: User
) -> None:
    data = csv_of(
        '"=HYPERLINK(""http://evil.example"",""Click"")",a@example.org,GLOW,US,current',
        "Bo,b@example.org,=A1,US,current",
        "@SUM(1+1),c@example.org,GLOW,US,current",
        "-2+3+cmd|' /C calc'!A0,d@example.org,GLOW,US,current",
        "-Dash,e@example.org,GLOW,US,current",
        "+Plus One,f@example.org,GLOW,US,current",
        "@sia,g@example.org,GLOW,US,current",
    )
    preview = plan(db, actor=manager, data=data, now=NOW)
    assert [(error.row, error.column) for error in preview.errors] == [
        (2, "name"),
        (3, "programme"),
        (4, "name"),
        (5, "name"),
    ]
    assert preview.errors[1].message == (
        "“=A1” is a spreadsheet formula, not a programme: type the programme itself."
    )
    assert [row.entry.name for row in preview.rows] == ["-Dash", "+Plus One", "@sia"]


# --- what each row does, and the import ------------------------------------------------------


def test_nothing_is_written_to_accounts_until_the_import_and_then_once(
    db: Session, manager: User
) -> None:
    data = csv_of(
        "Ana Lima,ana@example.org,GLOW,US,current",
        "Bo Reyes,bo@example.org,RADAR,GB,upcoming",
    )
    before = counts(db)
    preview = hold(db, actor=manager, data=data, now=NOW)
    assert [row.action for row in preview.rows] == [RowAction.INVITE, RowAction.INVITE]
    assert counts(db) == before
    assert db.scalar(select(CohortUpload.data)) == data

    done = import_cohort(db, actor=manager, data=data, digest=preview.digest, now=NOW)
    assert not done.replayed
    assert done.counts["created"] == 2
    users, invitations, ambassadors, emails = counts(db)
    assert (users, invitations, ambassadors, emails) == (
        before[0] + 2,
        before[1] + 2,
        before[2] + 2,
        before[3] + 2,
    )
    bo = db.scalars(select(User).where(User.email == "bo@example.org")).one()
    assert (bo.display_name, bo.active, bo.password_hash, bo.roles) == (
        "Bo Reyes",
        False,
        None,
        [Role.AMBASSADOR],
    )
    membership = db.scalars(select(Ambassador).where(Ambassador.user_id == bo.id)).one()
    assert (membership.programme.code, membership.country, membership.cohort_status) == (
        "RADAR",
        Country.GB,
        CohortStatus.UPCOMING,
    )
    upload = db.scalars(select(CohortUpload)).one()
    assert upload.data is None
    assert upload.imported_at == NOW
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "cohort.import")).one()
    assert json.loads(event.after)["created"] == 2

    again = import_cohort(db, actor=manager, data=data, digest=preview.digest, now=NOW)
    assert again.replayed
    assert again.counts["created"] == 2
    assert counts(db) == (users, invitations, ambassadors, emails)
    assert plan(db, actor=manager, data=data, now=NOW).already_imported


def test_existing_people_are_updated_not_duplicated_whatever_the_case_of_their_email(
    db: Session, manager: User
) -> None:
    admin = make_user(db, Role.ADMIN)
    glow = make_programme(db, "GLOW")
    radar = make_programme(db, "RADAR")
    for email, name in (("invited@example.org", "Old Name"), ("same@example.org", "Same")):
        invite_person(
            db,
            actor=admin,
            details=InvitationDetails(
                email,
                name,
                (Role.AMBASSADOR,),
                cohort_import.Membership(glow.id, Country.US, CohortStatus.CURRENT),
            ),
            now=NOW - timedelta(days=1),
        )
    active = make_ambassador(db, email="active@example.org")
    gone = make_user(db, Role.AMBASSADOR, email="gone@example.org")
    gone.active = False
    db.flush()
    data = csv_of(
        "New Name,Invited@Example.ORG,RADAR,GB,upcoming",
        "Same,SAME@example.org,GLOW,US,current",
        "Ava,active@EXAMPLE.org,RADAR,GB,alumni",
        "Gone,gone@example.org,GLOW,US,current",
        "Newbie,newbie@example.org,GLOW,US,current",
    )
    preview = hold(db, actor=manager, data=data, now=NOW)
    assert [row.action for row in preview.rows] == [
        RowAction.UPDATE,
        RowAction.UNCHANGED,
        RowAction.ACTIVE,
        RowAction.DEACTIVATED,
        RowAction.INVITE,
    ]
    users = db.scalar(select(func.count()).select_from(User))
    done = import_cohort(db, actor=manager, data=data, digest=preview.digest, now=NOW)
    assert {name: number for name, number in done.counts.items() if number} == {
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "already active": 1,
        "deactivated": 1,
    }
    assert db.scalar(select(func.count()).select_from(User)) == users + 1
    invited = db.scalars(select(User).where(User.email == "invited@example.org")).one()
    assert invited.display_name == "New Name"
    membership = db.scalars(select(Ambassador).where(Ambassador.user_id == invited.id)).one()
    assert (membership.programme_id, membership.country) == (radar.id, Country.GB)
    links = db.scalars(select(Invitation).where(Invitation.user_id == invited.id)).all()
    assert sorted(link.revoked_at is None for link in links) == [False, True]
    untouched = db.get(Ambassador, active.id)
    assert untouched is not None
    assert untouched.programme_id == glow.id
    assert untouched.cohort_status is CohortStatus.CURRENT


def test_emails_go_out_through_the_outbox_one_per_new_person(db: Session, manager: User) -> None:
    data = csv_of(*(f"Person {n},p{n}@example.org,GLOW,US,current" for n in range(12)))
    preview = hold(db, actor=manager, data=data, now=NOW)
    import_cohort(db, actor=manager, data=data, digest=preview.digest, now=NOW)
    payloads = db.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.kind == INVITATION_EMAIL)
    ).all()
    assert len(payloads) == 12
    invitation_ids = {json.loads(payload)["invitation"] for payload in payloads}
    assert invitation_ids == set(db.scalars(select(Invitation.id)))


def test_a_file_with_errors_by_its_confirmation_imports_nobody_until_they_are_gone(
    db: Session, manager: User
) -> None:
    data = csv_of("Ana,ana@example.org,GLOW,US,current", "Bo,bo@example.org,RADAR,US,current")
    preview = hold(db, actor=manager, data=data, now=NOW)
    make_programme(db, "RADAR").active = False
    db.flush()
    before = counts(db)
    with pytest.raises(InvalidInput, match="Nothing was imported: 1 row has an error now"):
        import_cohort(db, actor=manager, data=data, digest=preview.digest, now=NOW)
    assert counts(db) == before
    with pytest.raises(InvalidInput, match="changed since its preview"):
        import_cohort(db, actor=manager, data=data + b"x", digest=preview.digest, now=NOW)
    make_programme(db, "RADAR").active = True
    db.flush()
    done = import_cohort(db, actor=manager, data=data, digest=preview.digest, now=NOW)
    assert not done.replayed, "the refusal was not recorded against the file"
    assert done.counts["created"] == 2


def test_only_managers_and_admins_import_and_a_manager_invites_only_ambassadors(
    db: Session, manager: User
) -> None:
    admin = make_user(db, Role.ADMIN)
    data = csv_of("Ana,ana@example.org,GLOW,US,current")
    for role in (Role.FINANCE, Role.AMBASSADOR):
        someone = make_user(db, role)
        with pytest.raises(NotAllowed):
            plan(db, actor=someone, data=data, now=NOW)
        with pytest.raises(NotAllowed):
            import_cohort(
                db, actor=someone, data=data, digest=cohort_import.digest_of(data), now=NOW
            )
    with pytest.raises(NotAllowed):
        invite_person(
            db,
            actor=manager,
            details=InvitationDetails("boss@example.org", "Boss", (Role.ADMIN,)),
            now=NOW,
        )
    invite_person(
        db,
        actor=admin,
        details=InvitationDetails("crew@example.org", "Crew", (Role.FINANCE,)),
        now=NOW,
    )
    finance_invited = csv_of("Crew,crew@example.org,GLOW,US,current")
    preview = plan(db, actor=manager, data=finance_invited, now=NOW)
    assert preview.errors == (
        RowError(
            2,
            "email",
            "crew@example.org was invited as “finance”: only an admin can change their invitation.",
        ),
    )
    by_admin = hold(db, actor=admin, data=finance_invited, now=NOW)
    assert by_admin.rows[0].roles == (Role.AMBASSADOR, Role.FINANCE)
    import_cohort(db, actor=admin, data=finance_invited, digest=by_admin.digest, now=NOW)
    crew = db.scalars(select(User).where(User.email == "crew@example.org")).one()
    assert set(crew.roles) == {Role.AMBASSADOR, Role.FINANCE}


def test_a_held_file_is_for_its_uploader_only_and_expires(db: Session, manager: User) -> None:
    other = make_user(db, Role.MANAGER)
    data = csv_of("Ana,ana@example.org,GLOW,US,current")
    digest = hold(db, actor=manager, data=data, now=NOW).digest
    assert cohort_import.held(db, actor=manager, digest=digest, now=NOW) == data
    with pytest.raises(NotFound):
        cohort_import.held(db, actor=other, digest=digest, now=NOW)
    later = NOW + cohort_import.HOLD_FOR
    with pytest.raises(NotFound):
        cohort_import.held(db, actor=manager, digest=digest, now=later)
    hold(db, actor=other, data=csv_of("Bo,bo@example.org,GLOW,US,current"), now=later)
    assert db.scalars(select(CohortUpload.actor_id)).all() == [other.id]
