"""A world with one of every object a route can name, two owners of every personal object,
a signed-in client per role, and a snapshot of everything a refused request must leave alone.

Built through the same domain operations as the app, on top of :func:`tests.factories.build_world`.
The partner portal's part (:func:`_portal`): an open funding round and an upcoming one, an
application of Backline's (the signed-in partner's organisation, a draft with a document)
and one of Music Minds Matter's (submitted, with a document), and a grant to each with a
tranche and a reporting date (Music Minds Matter's report submitted, for managers to decide).
The provider payments' part (:func:`_payments`): the therapy fund's payer account, providers
in the directory, sessions with invoices, a paid batch and an imported statement.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from cryptography.fernet import MultiFernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.data_key import data_keys
from grants.domain import (
    applications,
    claims,
    cohort_import,
    documents,
    gifts,
    helpdesk,
    helpdesk_admin,
    hub,
    invitations,
    payouts,
    progress,
    redemptions,
    reviews,
    rounds,
)
from grants.domain.account_tokens import hash_token, new_token
from grants.domain.applications import ApplicationDraft, BudgetItem
from grants.domain.claims import NewRecipient
from grants.domain.funds import create_fund
from grants.domain.grants import (
    GrantDraft,
    Instalment,
    ReportDue,
    approve_grant,
    create_grant,
    submit_grant,
)
from grants.domain.helpdesk import Ask
from grants.domain.hub import ServiceContent
from grants.domain.hub_contacts import read_phone
from grants.domain.invitations import InvitationDetails
from grants.domain.invoices import attach_invoice
from grants.domain.ledger import find_wallet
from grants.domain.money import Money
from grants.domain.partners import PartnerDetails, create_partner
from grants.domain.payment_files import set_payer
from grants.domain.progress import ReportContent
from grants.domain.provider_bank import set_bank_details
from grants.domain.providers import ProviderDetails, fold, propose_provider, verify_provider
from grants.domain.reconciliation import import_statement
from grants.extensions import db as database
from grants.models import (
    AccountToken,
    ApplicationState,
    Gift,
    Grant,
    HelpRequest,
    HubOrganization,
    PayoutBatch,
    Programme,
    Redemption,
    Relation,
    ReportingRequirement,
    ReportState,
    Role,
    SupportLine,
    TokenPurpose,
    Topic,
    Tranche,
    User,
    WalletKind,
)
from grants.payments.bank_details import BankDetails, check_us
from grants.reports.jobs import Job, JobState, job_store
from grants.reports.queries import report_parameters
from grants.security import password_hasher, password_rules
from grants.web.documents import uploads_folder
from tests.domain.test_documents import pdf
from tests.factories import TODAY, World, build_world, make_user
from tests.support import PASSWORD, csrf_token, sign_in

ROLES = ("anonymous", "admin", "manager", "finance", "ambassador", "recipient", "partner")
"""Who knocks on every door, in the order the matrix lists their expected answers. The
partner is a person of Backline (the world's ``partner``), who applies and reports for it."""
NAVIGATOR = "navigator"
"""A navigator of the resource hub, who signs in too: the matrix lists their answers
apart, for the hub's curation screens (:data:`ROLES` keeps its columns)."""
VISITORS = (*ROLES, NAVIGATOR)
"""Everyone with a client of their own."""

NOW = datetime.now(UTC)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
"""The smallest file the uploads take as a PNG image."""
INVOICE = pdf()
"""A provider's invoice: a one-page PDF."""


@dataclass(frozen=True)
class SecurityWorld:
    """Ids and tokens of the objects the routes name. ``own_*`` belong to the ambassador
    (Avery) or the recipient who signs in; ``foreign_*`` to another ambassador (Olive)."""

    emails: dict[str, str]
    """The email each role signs in with, and ``leaver``'s: Olive's, who signs in only to
    sign out, since signing out ends every session of its user and the other visitors must
    stay signed in."""
    drafter: int
    """The manager who drafted the grant, and whom no visitor signs in as: the admin's
    deactivation is tried on them."""
    own_wallet: int
    recipient_wallet: int
    foreign_wallet: int
    own_gift: int
    received_gift: int
    foreign_gift: int
    foreign_token: str
    own_redemption: int
    recipient_redemption: int
    foreign_redemption: int
    fund: int
    grants_fund: int
    partner: int
    grant: int
    tranche: int
    reporting: int
    support_line: int
    job: str
    year: int
    reset_token: str = ""
    """A password reset link of the drafter's, not used yet."""
    email_token: str = ""
    """A link that confirms a new email address for the drafter, not used yet."""
    programme: int = 0
    """The programme the ambassadors are in."""
    invited: int = 0
    """A person invited (by the admin), who has not accepted yet."""
    invitation_token: str = ""
    """The link of their invitation."""
    cohort_upload: str = ""
    """The digest of a cohort file the manager uploaded, waiting for its confirmation."""
    hub_organization: str = ""
    """An organisation of the resource hub."""
    hub_service: str = ""
    """A service on the hub (published by the seed)."""
    hub_version: int = 0
    """A change to it proposed by another navigator than the one who signs in."""
    navigator: int = 0
    """The navigator who signs in: they work for the help desk of ``partner`` (Backline)."""
    other_partner: int = 0
    """Another help-desk partner, routed the requests from the UK; no visitor works for it."""
    help_route: int = 0
    """The help desk's default route (every country, any language: Backline)."""
    help_request: str = ""
    """The reference of a request for help Avery made while signed in, at Backline's desk."""
    help_request_id: int = 0
    """Its id."""
    help_link: str = ""
    """A private link to it, not opened yet."""
    foreign_help_request: str = ""
    """The reference of a request made by someone not signed in, at the other partner's desk."""
    funding_round: int = 0
    """A funding round on ``grants_fund``, open now; the manager who signs in reviews it."""
    upcoming_round: int = 0
    """A round that opens in a month: managers see it, partners not yet (404)."""
    own_application: int = 0
    """Backline's application to the open round: a draft, so no manager sees it yet."""
    foreign_application: int = 0
    """Music Minds Matter's (``other_partner``'s) application to it, submitted; the manager
    who signs in declared no conflict of interest with it."""
    own_document: int = 0
    """A document of Backline's draft application."""
    own_report_document: int = 0
    """A document of the version of Backline's report (``reporting``) its person is
    writing (saved, not submitted)."""
    foreign_document: int = 0
    """A document of Music Minds Matter's application, attached before it was submitted."""
    foreign_grant: int = 0
    """An approved grant to Music Minds Matter (``grant`` is Backline's, the partner's own,
    with its ``tranche`` and ``reporting`` date)."""
    foreign_tranche: int = 0
    """Its tranche, which waits for the acceptance of its report."""
    foreign_reporting: int = 0
    """Its reporting date, with a version Music Minds Matter's person submitted."""
    provider: int = 0
    """A provider in the directory, verified by finance, with bank details (``US_ACCOUNT``):
    Avery books sessions with them."""
    held_provider: int = 0
    """A verified provider whose bank details a second member of finance changed: their
    payouts wait for the world's finance to confirm the change."""
    proposed_provider: int = 0
    """A provider Olive proposed when she booked a session with them: not verified, no bank
    details."""
    invoiced_redemption: int = 0
    """Avery's session with ``provider``, requested (finance has not decided it), with an
    invoice (``own_invoice``)."""
    own_invoice: int = 0
    """The invoice of Avery's ``invoiced_redemption``."""
    foreign_booking: int = 0
    """Olive's session with ``proposed_provider``, requested, with an invoice."""
    foreign_invoice: int = 0
    """The invoice of Olive's ``foreign_booking``."""
    batch: int = 0
    """A payout batch finance paid (one invoiced session of Avery's with ``provider``), whose
    pain.001 and NACHA files can be made: the therapy fund has its payer account."""
    statement: int = 0
    """A statement finance imported: a line settling ``batch``, and one naming no payment."""

    def path(self, template: str) -> str:
        """``template`` with the ids of this world filled in."""
        values = {k: v for k, v in asdict(self).items() if k != "emails"}
        return template.format(**values)


def _redeem(db: Session, actor: User, wallet_id: int, key: str) -> int:
    receipt = redemptions.request_redemption(
        db,
        key=key,
        actor=actor,
        wallet_id=wallet_id,
        amount=Money(1_000, "USD"),
        provider_name="Dr Rivera",
        session_date=TODAY - timedelta(days=2),
        now=NOW,
    )
    assert receipt.object_id is not None
    return receipt.object_id


def _give(db: Session, actor: User, wallet_id: int, key: str, email: str) -> tuple[int, str]:
    receipt = gifts.give_gift(
        db,
        key=key,
        actor=actor,
        wallet_id=wallet_id,
        amount=Money(2_000, "USD"),
        recipient_name="Sam Drummer",
        recipient_email=email,
        relation=Relation.BANDMATE,
        now=NOW,
    )
    assert receipt.object_id is not None
    assert receipt.claim_token is not None
    return receipt.object_id, receipt.claim_token


def build_security_world(app: Flask, db: Session) -> SecurityWorld:
    """Everything the matrix needs, committed."""
    base = build_world(db)
    admin = make_user(db, Role.ADMIN, email="admin@example.org")
    manager = db.scalar(select(User).where(User.email == base.manager))
    avery = db.scalar(select(User).where(User.email == base.avery))
    olive = db.scalar(select(User).where(User.email == base.other))
    assert manager is not None
    assert avery is not None
    assert olive is not None
    drafter = make_user(db, Role.MANAGER, email="drafter@example.org")
    finance = db.scalars(select(User).where(User.email == base.finance)).one()
    invited = invitations.invite_person(
        db,
        actor=admin,
        details=InvitationDetails("invited@example.org", "Ivy Invited", ("finance",)),
        now=NOW,
    )

    received_gift, token = _give(db, avery, base.avery_wallet, "g-1", "sam@example.org")
    claims.claim_gift(
        db,
        key="claim-1",
        token=token,
        claimant=None,
        new_recipient=NewRecipient("Sam Drummer", PASSWORD),
        hasher=password_hasher(),
        rules=password_rules(),
        now=NOW,
    )
    recipient = db.scalar(select(User).where(User.email == "sam@example.org"))
    assert recipient is not None
    recipient_wallet = find_wallet(db, base.fund_id, recipient.id, WalletKind.RECIPIENT)
    assert recipient_wallet is not None
    own_gift, _ = _give(db, avery, base.avery_wallet, "g-2", "crew@example.org")
    foreign_gift, foreign_token = _give(db, olive, base.other_wallet, "g-3", "kit@example.org")

    grants_fund = create_fund(
        db,
        key="fund-1",
        actor=manager,
        name="Partner grants",
        kind="grants",
        start=TODAY - timedelta(days=100),
        end=TODAY + timedelta(days=200),
        budget=Money(10_000_000, "USD"),
    ).object_id
    partner = create_partner(
        db,
        key="partner-1",
        actor=manager,
        details=PartnerDetails(
            legal_name="Backline Care Inc.",
            display_name="Backline",
            country="US",
            registration_number="26-1234567",
        ),
    ).object_id
    assert grants_fund is not None
    assert partner is not None
    grant = create_grant(
        db,
        key="grant-1",
        actor=drafter,
        draft=GrantDraft(
            fund_id=grants_fund,
            partner_id=partner,
            purpose="Crisis line for touring crews",
            category="services",
            amount=Money(1_000_000, "USD"),
            tranches=[Instalment(TODAY + timedelta(days=30), Money(1_000_000, "USD"))],
            reports=[ReportDue("Outcomes report", TODAY + timedelta(days=60))],
        ),
    ).object_id
    assert grant is not None
    submit_grant(db, key="submit-1", actor=drafter, grant_id=grant, now=NOW)
    approve_grant(db, key="approve-1", actor=manager, grant_id=grant, now=NOW)

    parameters = report_parameters(db, currency="USD", year=TODAY.year, now=NOW)
    job = Job(key=hashlib.sha256(b"security-world").hexdigest(), parameters=parameters.canonical())
    job.state, job.error = JobState.FAILED, "The report could not be made."

    reset_token, email_token = _account_links(db, drafter)
    navigator = make_user(db, Role.NAVIGATOR, email="navigator@example.org")
    hub_organization, hub_service, hub_version = _hub_service(db)
    desk = _help_desk(
        db, admin=admin, manager=manager, avery=avery, navigator=navigator, backline=partner
    )
    portal = _portal(
        app,
        db,
        manager=manager,
        drafter=drafter,
        backline=partner,
        own_grant=grant,
        other_partner=desk.other_partner,
        grants_fund=grants_fund,
    )
    payments = _payments(app, db, base=base, finance=finance, avery=avery, olive=olive)
    world = SecurityWorld(
        emails={
            "admin": admin.email,
            "manager": base.manager,
            "finance": base.finance,
            "ambassador": base.avery,
            "recipient": recipient.email,
            "leaver": base.other,
            NAVIGATOR: navigator.email,
            "partner": portal.person,
            "foreign_partner": portal.foreign_person,
        },
        drafter=drafter.id,
        own_wallet=base.avery_wallet,
        recipient_wallet=recipient_wallet.id,
        foreign_wallet=base.other_wallet,
        own_gift=own_gift,
        received_gift=received_gift,
        foreign_gift=foreign_gift,
        foreign_token=foreign_token,
        own_redemption=_redeem(db, avery, base.avery_wallet, "r-1"),
        recipient_redemption=_redeem(db, recipient, recipient_wallet.id, "r-2"),
        foreign_redemption=_redeem(db, olive, base.other_wallet, "r-3"),
        fund=base.fund_id,
        grants_fund=grants_fund,
        partner=partner,
        grant=grant,
        tranche=_only(db, select(Tranche.id).where(Tranche.grant_id == grant)),
        reporting=_only(
            db, select(ReportingRequirement.id).where(ReportingRequirement.grant_id == grant)
        ),
        support_line=_only(db, select(SupportLine.id).order_by(SupportLine.id).limit(1)),
        job=job.key,
        year=TODAY.year,
        reset_token=reset_token,
        email_token=email_token,
        programme=_only(db, select(Programme.id).where(Programme.code == "GLOW")),
        invited=invited.user_id,
        invitation_token=invited.token or "",
        cohort_upload=cohort_import.hold(
            db,
            actor=manager,
            data=b"name,email,programme,country,cohort status\r\n"
            b"Cody Cohort,cody@example.org,GLOW,US,upcoming\r\n",
            now=NOW,
        ).digest,
        hub_organization=hub_organization,
        hub_service=hub_service,
        hub_version=hub_version,
        navigator=navigator.id,
        **asdict(desk),
        **{name: value for name, value in asdict(portal).items() if not name.endswith("person")},
        **asdict(payments),
    )
    db.commit()
    job_store(app).save(job)
    assert db.get(Gift, world.foreign_gift) is not None
    assert db.get(Redemption, world.foreign_redemption) is not None
    assert db.get(Grant, world.grant) is not None
    assert db.get_one(Grant, world.grant).partner_id == world.partner
    return world


def _hub_service(db: Session) -> tuple[str, str, int]:
    """An organisation, a service of it on the hub, and a change to it that another
    navigator proposed: its organisation's, the service's and the proposal's ids."""
    proposer = make_user(db, Role.NAVIGATOR, email="nadia.navigator@example.org")
    organization = HubOrganization(id=hub.new_id(), name="Samaritans", created_at=NOW)
    db.add(organization)
    db.flush()
    content = ServiceContent(
        name="Samaritans",
        checked_on=TODAY,
        descriptions={"en": "Someone to talk to, day or night."},
        crisis_line=True,
        phones=(read_phone("116 123", "GB"),),
        countries=("GB", "IE"),
        topics=("crisis",),
        time_zone="Europe/London",
        open_all_hours=True,
        url="https://www.samaritans.org/",
    )
    first = hub.propose(db, actor=None, content=content, now=NOW, organization_id=organization.id)
    hub.publish(db, actor=None, version_id=first.id, now=NOW)
    change = hub.propose(
        db,
        actor=proposer,
        content=replace(content, url="https://www.samaritans.org/contact/"),
        now=NOW,
        service_id=first.service_id,
        note="Their new contact page",
    )
    return organization.id, first.service_id, change.id


@dataclass(frozen=True)
class _HelpDesk:
    """The help desk's part of the world (the fields of :class:`SecurityWorld` it fills)."""

    other_partner: int
    help_route: int
    help_request: str
    help_request_id: int
    help_link: str
    foreign_help_request: str


def _help_desk(
    db: Session, *, admin: User, manager: User, avery: User, navigator: User, backline: int
) -> _HelpDesk:
    """Backline (the world's partner) answers every country by the default route and the
    world's navigator works for it; another partner answers the UK. Avery asks for help
    while signed in (routed to Backline), and someone not signed in asks from the UK."""
    other_partner = create_partner(
        db,
        key="partner-2",
        actor=manager,
        details=PartnerDetails(
            legal_name="Music Minds Matter",
            display_name="Music Minds Matter",
            country="GB",
            registration_number="1234567",
        ),
    ).object_id
    assert other_partner is not None
    route = helpdesk_admin.set_route(
        db, actor=admin, country="*", language="*", partner_id=backline
    )
    helpdesk_admin.set_route(db, actor=admin, country="GB", language="*", partner_id=other_partner)
    helpdesk_admin.set_navigator_partner(db, actor=admin, user_id=navigator.id, partner_id=backline)
    own = helpdesk.ask(
        db,
        key="help-1",
        asked=Ask(
            name="Avery",
            email=avery.email,
            phone="",
            country="US",
            city="Nashville",
            language="en",
            topic=Topic.FINDING_A_THERAPIST.value,
            can_pay="some",
            text="I am looking for a therapist who knows touring musicians.",
        ),
        requester_id=avery.id,
        now=NOW,
    )
    foreign = helpdesk.ask(
        db,
        key="help-2",
        asked=Ask(
            name="Rowan",
            email="rowan@example.org",
            phone="",
            country="GB",
            city="Leeds",
            language="en",
            topic=Topic.GRIEF.value,
            can_pay="nothing",
            text="Our drummer died on tour and I cannot sleep.",
        ),
        requester_id=None,
        now=NOW,
    )
    assert db.get_one(HelpRequest, own.request_id).partner_id == backline
    assert db.get_one(HelpRequest, foreign.request_id).partner_id == other_partner
    return _HelpDesk(
        other_partner=other_partner,
        help_route=route,
        help_request=own.reference,
        help_request_id=own.request_id,
        help_link=own.link_token,
        foreign_help_request=foreign.reference,
    )


@dataclass(frozen=True)
class _Portal:
    """The partner portal's part of the world: the fields of :class:`SecurityWorld` it
    fills, and the emails of the two partners' people."""

    person: str
    foreign_person: str
    funding_round: int
    upcoming_round: int
    own_application: int
    foreign_application: int
    own_document: int
    own_report_document: int
    foreign_document: int
    foreign_grant: int
    foreign_tranche: int
    foreign_reporting: int


def partner_person(db: Session, partner_id: int, email: str) -> User:
    """A person of partner ``partner_id``, with the partner role."""
    person = make_user(db, Role.PARTNER, email=email)
    person.partner_id = partner_id
    db.flush()
    return person


def attach_png(
    app: Flask,
    db: Session,
    person: User,
    name: str,
    *,
    application_id: int | None = None,
    report_version_id: int | None = None,
) -> int:
    """A PNG attached to ``person``'s draft application or unsubmitted report version:
    its id."""
    attached = documents.attach_document(
        db,
        actor=person,
        upload_stream=io.BytesIO(PNG),
        filename=name,
        folder=uploads_folder(app),
        max_bytes=int(app.config["UPLOAD_MAX_BYTES"]),
        application_id=application_id,
        report_version_id=report_version_id,
        now=NOW,
    )
    return attached.id


def round_plan(
    fund_id: int, reviewer: User, *, opens: datetime, closes: datetime
) -> rounds.RoundPlan:
    """A round with a text question, an optional file question and two criteria."""
    return rounds.RoundPlan(
        fund_id=fund_id,
        title="Therapy access",
        categories=["therapy_access", "services"],
        max_amount="20,000.00",
        opens=opens,
        closes=closes,
        eligibility="Nonprofits serving music people.",
        questions=[
            rounds.Question("Who will you reach?", "text"),
            rounds.Question("Your last annual report", "file", required=False),
        ],
        criteria=["Need", "Reach"],
        reviewer_ids=[reviewer.id],
    )


def complete_draft(db: Session, round_id: int) -> ApplicationDraft:
    """Everything an application to the world's open round needs to be submitted."""
    question = rounds.find_round(db, round_id).questions[0]
    return ApplicationDraft(
        purpose="Free therapy sessions for touring crew.",
        category="therapy_access",
        amount="5,000.00",
        answers={question.id: "Touring crew in the UK."},
        budget=[BudgetItem("Therapists", "5,000.00")],
        tranches=[Instalment(TODAY + timedelta(days=90), "5,000.00")],
        reports=[ReportDue("Final report", TODAY + timedelta(days=150))],
    )


def _portal(
    app: Flask,
    db: Session,
    *,
    manager: User,
    drafter: User,
    backline: int,
    own_grant: int,
    other_partner: int,
    grants_fund: int,
) -> _Portal:
    """Backline's person and Music Minds Matter's; an open round the manager reviews and
    an upcoming one; Backline's draft application with a document, and a version of the
    report on its grant (``own_grant``) being written, with a document; Music Minds
    Matter's submitted application with a document, which the manager declared no conflict
    with; a grant to Music Minds Matter with a report it submitted and a tranche waiting
    for the report's acceptance."""
    person = partner_person(db, backline, "partner@example.org")
    foreign_person = partner_person(db, other_partner, "minds.partner@example.org")
    nine = datetime.combine(TODAY, datetime.min.time()).replace(hour=9)
    open_round = rounds.open_round(
        db,
        key="round-1",
        actor=manager,
        plan=round_plan(
            grants_fund, manager, opens=nine - timedelta(days=10), closes=nine + timedelta(days=60)
        ),
    ).object_id
    upcoming = rounds.open_round(
        db,
        key="round-2",
        actor=manager,
        plan=round_plan(
            grants_fund, manager, opens=nine + timedelta(days=30), closes=nine + timedelta(days=60)
        ),
    ).object_id
    assert open_round is not None
    assert upcoming is not None

    own = applications.start_application(db, actor=person, round_id=open_round, now=NOW)
    applications.save_application(
        db,
        actor=person,
        application_id=own.id,
        draft=ApplicationDraft(purpose="Crisis line for crews.", category="services"),
        now=NOW,
    )
    own_document = attach_png(app, db, person, "budget.png", application_id=own.id)
    writing = progress.save_version(
        db,
        actor=person,
        requirement_id=_only(
            db, select(ReportingRequirement.id).where(ReportingRequirement.grant_id == own_grant)
        ),
        content=ReportContent(narrative="Calls answered so far: 310."),
        now=NOW,
    )
    own_report_document = attach_png(app, db, person, "call-log.png", report_version_id=writing.id)

    foreign = applications.start_application(db, actor=foreign_person, round_id=open_round, now=NOW)
    applications.save_application(
        db,
        actor=foreign_person,
        application_id=foreign.id,
        draft=complete_draft(db, open_round),
        now=NOW,
    )
    foreign_document = attach_png(
        app, db, foreign_person, "minds-report.png", application_id=foreign.id
    )
    applications.submit_application(
        db, key="apply-2", actor=foreign_person, application_id=foreign.id, now=NOW
    )
    reviews.declare(
        db, actor=manager, application_id=foreign.id, conflicted=False, note="", now=NOW
    )

    grant = create_grant(
        db,
        key="grant-2",
        actor=drafter,
        draft=GrantDraft(
            fund_id=grants_fund,
            partner_id=other_partner,
            purpose="Peer support for festival crews",
            category="festival_wellness",
            amount=Money(500_000, "USD"),
            tranches=[Instalment(TODAY + timedelta(days=45), Money(500_000, "USD"))],
            reports=[ReportDue("Festival season report", TODAY + timedelta(days=20))],
        ),
    ).object_id
    assert grant is not None
    submit_grant(db, key="submit-2", actor=drafter, grant_id=grant, now=NOW)
    approve_grant(db, key="approve-2", actor=manager, grant_id=grant, now=NOW)
    reporting = _only(
        db, select(ReportingRequirement.id).where(ReportingRequirement.grant_id == grant)
    )
    progress.save_version(
        db,
        actor=foreign_person,
        requirement_id=reporting,
        content=ReportContent(
            narrative="Forty crew members met a counsellor at three festivals.",
            sessions_held="12",
            reach=[("GB", "40")],
        ),
        now=NOW,
    )
    progress.submit_version(
        db, key="report-2", actor=foreign_person, requirement_id=reporting, now=NOW
    )
    tranche = _only(db, select(Tranche.id).where(Tranche.grant_id == grant))
    progress.set_release(db, actor=manager, tranche_id=tranche, requirement_id=reporting)
    assert db.get_one(ReportingRequirement, reporting).state is ReportState.SUBMITTED
    db.refresh(foreign)
    assert foreign.state is ApplicationState.SUBMITTED
    return _Portal(
        person=person.email,
        foreign_person=foreign_person.email,
        funding_round=open_round,
        upcoming_round=upcoming,
        own_application=own.id,
        foreign_application=foreign.id,
        own_document=own_document,
        own_report_document=own_report_document,
        foreign_document=foreign_document,
        foreign_grant=grant,
        foreign_tranche=tranche,
        foreign_reporting=reporting,
    )


US_ACCOUNT = "000123456789"
"""The account number ``provider`` is paid into: only the reveal may show it in full."""
HELD_ACCOUNT = "000987654321"
"""The account number ``held_provider``'s changed details name."""
SESSION_FEE = Money(12_000, "USD")
"""What each of the world's sessions with a provider from the directory costs."""


@dataclass(frozen=True)
class _Payments:
    """The provider payments' part of the world (the fields of :class:`SecurityWorld` it
    fills)."""

    provider: int
    held_provider: int
    proposed_provider: int
    invoiced_redemption: int
    own_invoice: int
    foreign_booking: int
    foreign_invoice: int
    batch: int
    statement: int


def us_account(holder: str, account_number: str) -> BankDetails:
    """A checking account at a US bank, checked."""
    return check_us(
        account_holder=holder,
        routing_number="011000015",
        account_number=account_number,
        account_type="checking",
    )


def verified(db: Session, keys: MultiFernet, finance: User, name: str, account: str) -> int:
    """A provider finance added, gave bank details (paid into ``account``) and verified:
    their id."""
    added = propose_provider(
        db,
        key=f"provider-{account}",
        actor=finance,
        details=ProviderDetails(
            kind="person",
            name=name,
            country="US",
            practice="Music Row Therapy",
            city="Nashville",
            email=f"{fold(name).replace(' ', '.').replace('dr.', '')}@therapists.example.org",
            licence_type="LCSW",
            licence_number=f"LCSW-{account[-4:]}",
            licence_issuer="Tennessee Board of Social Work",
        ),
        now=NOW,
    ).object_id
    assert added is not None
    set_bank_details(
        db,
        actor=finance,
        provider_id=added,
        details=us_account(f"{name} LCSW", account),
        keys=keys,
        version=None,
        now=NOW,
    )
    verify_provider(db, actor=finance, provider_id=added, version=None, now=NOW)
    return added


def book(db: Session, booker: User, wallet_id: int, provider_id: int, key: str) -> int:
    """A session of :data:`SESSION_FEE` with ``provider_id``, requested: its id."""
    booked = redemptions.request_redemption(
        db,
        key=key,
        actor=booker,
        wallet_id=wallet_id,
        amount=SESSION_FEE,
        provider_id=provider_id,
        session_date=TODAY - timedelta(days=3),
        now=NOW,
    ).object_id
    assert booked is not None
    return booked


def invoice(app: Flask, db: Session, booker: User, redemption_id: int) -> int:
    """A one-page PDF attached to ``booker``'s session as its invoice: its id."""
    attached = attach_invoice(
        db,
        actor=booker,
        redemption_id=redemption_id,
        upload_stream=io.BytesIO(INVOICE),
        filename="invoice.pdf",
        folder=uploads_folder(app),
        max_bytes=int(app.config["UPLOAD_MAX_BYTES"]),
        now=NOW,
    )
    return attached.id


def _payments(
    app: Flask, db: Session, *, base: World, finance: User, avery: User, olive: User
) -> _Payments:
    """The therapy fund's payer account (invoices required); a verified provider with bank
    details, and one whose details a second member of finance changed; a session of Avery's
    with the first, invoiced, approved and paid in a batch that a statement settled, and
    another one requested, with its invoice; a provider Olive proposed, and her session
    with them, with its invoice."""
    keys = data_keys(app)
    set_payer(
        db,
        actor=finance,
        fund_id=base.fund_id,
        details=check_us(
            account_holder="Heart & Soul Funding",
            routing_number="021000021",
            account_number="9876543210",
            account_type="checking",
        ),
        ach_company_id="1234567890",
        ach_bank_name="JPMORGAN CHASE",
        invoice_required=True,
        keys=keys,
        now=NOW,
    )
    provider = verified(db, keys, finance, "Dr Zoë Lee", US_ACCOUNT)
    held = verified(db, keys, finance, "Dr Hal Held", "000555666777")
    second = make_user(db, Role.FINANCE, email="second.finance@example.org")
    set_bank_details(
        db,
        actor=second,
        provider_id=held,
        details=us_account("Dr Hal Held LCSW", HELD_ACCOUNT),
        keys=keys,
        version=None,
        now=NOW,
    )

    paid = book(db, avery, base.avery_wallet, provider, "pay-1")
    invoice(app, db, avery, paid)
    redemptions.approve_redemption(db, key="pay-2", actor=finance, redemption_id=paid, now=NOW)
    payouts.pay_redemptions(
        db,
        key="pay-3",
        actor=finance,
        redemption_ids=[paid],
        payment_reference="ACH-SECURITY-1",
        now=NOW,
    )
    batch = db.scalars(
        select(PayoutBatch).where(PayoutBatch.payment_reference == "ACH-SECURITY-1")
    ).one()
    statement = import_statement(
        db,
        actor=finance,
        data=(
            "Date,Amount,Reference,Description\r\n"
            f"{TODAY.isoformat()},-120.00,{batch.file_id},Provider run\r\n"
            f"{TODAY.isoformat()},-45.00,MYSTERY-1,Card payment\r\n"
        ).encode(),
        filename="statement.csv",
        currency="USD",
        now=NOW,
    )

    invoiced = book(db, avery, base.avery_wallet, provider, "pay-4")
    proposed = propose_provider(
        db,
        key="pay-5",
        actor=olive,
        details=ProviderDetails(kind="person", name="Dr Olu Proposed", country="US"),
        now=NOW,
    ).object_id
    assert proposed is not None
    foreign = book(db, olive, base.other_wallet, proposed, "pay-6")
    return _Payments(
        provider=provider,
        held_provider=held,
        proposed_provider=proposed,
        invoiced_redemption=invoiced,
        own_invoice=invoice(app, db, avery, invoiced),
        foreign_booking=foreign,
        foreign_invoice=invoice(app, db, olive, foreign),
        batch=batch.id,
        statement=statement.id,
    )


def fresh_round(db: Session, world: SecurityWorld) -> tuple[int, int]:
    """Another open round the manager reviews, and Music Minds Matter's application to it,
    submitted: their ids."""
    manager = db.scalars(select(User).where(User.email == world.emails["manager"])).one()
    person = db.scalars(select(User).where(User.email == world.emails["foreign_partner"])).one()
    nine = datetime.combine(TODAY, datetime.min.time()).replace(hour=9)
    plan = round_plan(
        world.grants_fund, manager, opens=nine - timedelta(days=1), closes=nine + timedelta(days=40)
    )
    round_id = rounds.open_round(db, key="fresh-round", actor=manager, plan=plan).object_id
    assert round_id is not None
    applied = applications.start_application(db, actor=person, round_id=round_id, now=NOW)
    applications.save_application(
        db,
        actor=person,
        application_id=applied.id,
        draft=complete_draft(db, round_id),
        now=NOW,
    )
    applications.submit_application(
        db, key="fresh-apply", actor=person, application_id=applied.id, now=NOW
    )
    db.commit()
    return round_id, applied.id


def approved_grant(
    db: Session, *, drafter: User, approver: User, fund: int, partner: int, key: str = ""
) -> int:
    """An approved grant of 1,000.00 to ``partner`` from ``fund``, with a tranche due in 40
    days and two reports (in 20 days and in 80): its id."""
    key = key or f"approved-{partner}-{secrets.token_hex(4)}"
    grant = create_grant(
        db,
        key=f"{key}-draft",
        actor=drafter,
        draft=GrantDraft(
            fund_id=fund,
            partner_id=partner,
            purpose="Peer support",
            category="services",
            amount=Money(100_000, "USD"),
            tranches=[Instalment(TODAY + timedelta(days=40), Money(100_000, "USD"))],
            reports=[
                ReportDue("Mid-year report", TODAY + timedelta(days=20)),
                ReportDue("Final report", TODAY + timedelta(days=80)),
            ],
        ),
    ).object_id
    assert grant is not None
    submit_grant(db, key=f"{key}-submit", actor=drafter, grant_id=grant, now=NOW)
    approve_grant(db, key=f"{key}-approve", actor=approver, grant_id=grant, now=NOW)
    return grant


def reports_of(db: Session, grant: int) -> list[int]:
    """The ids of ``grant``'s reporting dates, earliest first."""
    return list(
        db.scalars(
            select(ReportingRequirement.id)
            .where(ReportingRequirement.grant_id == grant)
            .order_by(ReportingRequirement.due_date, ReportingRequirement.id)
        )
    )


def _account_links(db: Session, user: User) -> tuple[str, str]:
    """A password reset link and an email confirmation link of ``user``'s, working for a day
    (longer than any run of the tests that share the world)."""
    made = []
    for purpose, new_email in (
        (TokenPurpose.PASSWORD_RESET, None),
        (TokenPurpose.EMAIL_CHANGE, "drafter.new@example.org"),
    ):
        token = new_token()
        db.add(
            AccountToken(
                user_id=user.id,
                purpose=purpose,
                token_hash=hash_token(token),
                new_email=new_email,
                created_at=NOW,
                expires_at=NOW + timedelta(days=1),
            )
        )
        made.append(token)
    db.flush()
    return made[0], made[1]


def _only(db: Session, query: object) -> int:
    found = db.scalars(query).all()  # type: ignore[call-overload]
    assert len(found) == 1, found
    return int(found[0])


def clients(app: Flask, world: SecurityWorld) -> dict[str, FlaskClient]:
    """A client per role, signed in (the anonymous one is not)."""
    signed_in = {"anonymous": app.test_client()}
    for role in VISITORS[1:]:
        signed_in[role] = sign_in(app, world.emails[role])
    return signed_in


def token_of(client: FlaskClient, role: str) -> str:
    """A valid CSRF token for ``client``'s session: every signed-in page carries one in its
    sign-out form, and the sign-in page carries one for anyone else."""
    return csrf_token(client, "/login" if role == "anonymous" else "/no-such-page")


def snapshot(app: Flask, db: Session) -> str:
    """A fingerprint of every row of every table (the report job records among them):
    equal before and after a request that changed nothing. It reads every table the models
    declare, so the help desk's (``helpdesk_routes``, ``help_requests``, ``help_messages``,
    ``help_links``, and ``users.partner_id``) are in it like any other."""
    digest = hashlib.sha256()
    db.rollback()
    for table in database.metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        for row in db.execute(table.select().order_by(*order)):
            digest.update(f"{table.name}:{tuple(row)!r}\n".encode())
    db.rollback()
    return digest.hexdigest()
