"""Bad input: every form and every query parameter of the app, fed what people and robots send.

Hypothesis fills the fields of every state-changing route's own form (as its page shows it)
and the query parameters every page reads with unicode (right-to-left text, emoji, combining
marks), NUL bytes, overlong strings, huge and negative numbers, over-precise and malformed
decimals, HTML and script, SQL fragments, lists where one value is expected, empty values
and missing fields. Each request carries a valid CSRF token and a fresh idempotency key and
comes from someone holding the route's role, so the payload reaches the view. Besides the
random examples, each field and parameter alone is sent the two values that broke the most
views (a NUL byte, a number no database integer holds), every other field usable.

Whatever arrives:

- the answer is never a 5xx (with ``TESTING`` on, an exception in a view fails the test
  with its traceback);
- a refused request (4xx) writes nothing: every table keeps its number of rows and the
  ledger its fingerprint, except the one idempotency record a domain refusal leaves so that
  a retry gets the same refusal;
- an accepted request (2xx, 3xx) may write, but the ledger and the audit chain still verify.

The examples of the whole module share one world (``tests/security/world.py``), built once:
what an accepted example changed stays, and every assertion above holds whatever earlier
examples did. Hypothesis runs derandomized, so every run tries the same inputs.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.test import TestResponse

from grants import clock, create_app
from grants.domain import helpdesk, helpdesk_admin
from grants.domain.errors import InvalidInput
from grants.domain.helpdesk import Ask, check_ask, clean_message
from grants.domain.helpdesk_desk import SERVICES_MAX
from grants.domain.partners import PartnerDetails, create_partner
from grants.extensions import db as database
from grants.models import HelpMessage, HelpRequest, HubService, Role, Topic, User
from tests.conftest import FAST_ARGON2, RequestIsolatedClient
from tests.factories import make_user
from tests.security.support import (
    FORMS,
    changing_endpoints,
    ledger_problems,
    shown_form,
    tally,
    text,
    unchanged_but_a_recorded_refusal,
)
from tests.security.world import (
    VISITORS,
    SecurityWorld,
    build_security_world,
    clients,
    token_of,
)
from tests.support import form_fields, sign_in

QUERIES: dict[str, tuple[str, str, dict[str, str]]] = {
    "main.home": ("manager", "/", {}),
    "auth.login": ("anonymous", "/login", {"next": "/manager/"}),
    "account.forgot_password": ("anonymous", "/password/forgot", {}),
    "account.reset_password": ("anonymous", "/password/reset/{reset_token}", {}),
    "account.profile": ("ambassador", "/account", {}),
    "account.change_password": ("ambassador", "/account/password", {}),
    "account.change_email": ("ambassador", "/account/email", {}),
    "account.confirm_email": ("anonymous", "/account/email/confirm/{email_token}", {}),
    "static": ("anonymous", "/static/css/app.css", {}),
    "hsds.about": ("anonymous", "/help/hsds/", {}),
    "hsds.services": (
        "anonymous",
        "/help/hsds/services",
        {
            "page": "1",
            "per_page": "50",
            "full": "true",
            "organization_id": "00000000-0000-4000-8000-000000000000",
            "taxonomy_term_id": "e2a5a0ab-2d5e-5b8e-9d1e-000000000000",
        },
    ),
    "hsds.service": ("anonymous", "/help/hsds/services/00000000-0000-4000-8000-000000000000", {}),
    "hsds.taxonomy_detail": (
        "anonymous",
        "/help/hsds/taxonomies/df1c2e56-005a-536f-9541-89840dae6c65",
        {},
    ),
    "hsds.data_package": ("anonymous", "/help/hsds/data-package.json", {}),
    "hub.index": ("anonymous", "/help/", {"country": "GB", "lang": "es"}),
    "hub_offline.worker": ("anonymous", "/help/sw.js", {}),
    "hub_print.poster": ("anonymous", "/help/GB/poster.pdf", {"lang": "es"}),
    "hub.country": (
        "anonymous",
        "/help/GB",
        {
            "q": "samaritans",
            "topic": "crisis",
            "channel": "call",
            "language": "en",
            "audience": "anyone",
            "free": "1",
            "open": "1",
            "page": "1",
            "lang": "de",
        },
    ),
    "hub.service": ("anonymous", "/help/services/{hub_service}", {"lang": "fr"}),
    "hub.elsewhere": ("anonymous", "/help/no/such/page", {"lang": "pt_BR"}),
    "notifications.index": ("ambassador", "/notifications/", {"page": "1"}),
    "notifications.settings": ("ambassador", "/notifications/settings", {}),
    "claim.claim": ("anonymous", "/claim/{foreign_token}", {}),
    "admin.dashboard": ("admin", "/admin/", {"page": "1"}),
    "admin.messages": ("admin", "/admin/messages", {"page": "1"}),
    "admin.support_lines": ("admin", "/admin/support-lines", {"page": "1"}),
    "admin.new_support_line": ("admin", "/admin/support-lines/new", {}),
    "admin.edit_support_line": ("admin", "/admin/support-lines/{support_line}/edit", {}),
    "admin.users": ("admin", "/admin/users", {"q": "drafter", "role": "manager", "page": "1"}),
    "admin.invite": ("admin", "/admin/users/invite", {}),
    "admin.user": ("admin", "/admin/users/{drafter}", {}),
    "admin.programmes_list": ("admin", "/admin/programmes", {"page": "1"}),
    "admin.new_programme": ("admin", "/admin/programmes/new", {}),
    "admin.edit_programme": ("admin", "/admin/programmes/{programme}/edit", {}),
    "admin.audit": (
        "admin",
        "/admin/audit",
        {
            "actor": "admin@example.org",
            "action": "user.",
            "object_type": "user",
            "object_id": "{drafter}",
            "since": "{year}-01-01",
            "until": "{year}-12-31",
            "verify": "1",
            "page": "1",
        },
    ),
    "invitations.accept": ("anonymous", "/invitations/{invitation_token}", {}),
    "manager.dashboard": ("manager", "/manager/", {}),
    "manager.credit_use": ("manager", "/manager/credit-use", {"fund": "{fund}"}),
    "manager.cohort_allowance": (
        "manager",
        "/manager/allowances/cohort",
        {"fund_id": "{fund}", "programme": "", "country": "US", "amount": "10"},
    ),
    "manager.new_allowance": (
        "manager",
        "/manager/allowances/new",
        {"ambassador": "1", "q": "avery"},
    ),
    "manager.cohort_import_upload": ("manager", "/manager/cohort-import", {}),
    "manager.cohort_import_file": ("manager", "/manager/cohort-import/{cohort_upload}", {}),
    "manager.new_fund": ("manager", "/manager/funds/new", {}),
    "manager.fund": ("manager", "/manager/funds/{fund}", {"page": "1"}),
    "manager.grants": (
        "manager",
        "/manager/grants",
        {
            "q": "crisis",
            "status": "approved",
            "category": "services",
            "fund": "{grants_fund}",
            "partner": "{partner}",
            "sort": "-amount",
            "page": "1",
        },
    ),
    "manager.new_grant": ("manager", "/manager/grants/new", {}),
    "manager.edit_grant": ("manager", "/manager/grants/{grant}/edit", {}),
    "manager.grant": ("manager", "/manager/grants/{grant}", {}),
    "manager.partners": (
        "manager",
        "/manager/partners",
        {"q": "back", "status": "active", "country": "US", "sort": "-name", "page": "1"},
    ),
    "manager.new_partner": ("manager", "/manager/partners/new", {}),
    "manager.partner": ("manager", "/manager/partners/{partner}", {"page": "1"}),
    "manager.edit_partner": ("manager", "/manager/partners/{partner}/edit", {}),
    "finance.dashboard": ("finance", "/finance/", {"page": "1"}),
    "finance.pay": ("finance", "/finance/tranches/{tranche}/pay", {}),
    "finance.redemptions": ("finance", "/finance/redemptions", {"page": "1"}),
    "finance.redemption": ("finance", "/finance/redemptions/{foreign_redemption}", {}),
    "finance.payouts": ("finance", "/finance/payouts", {"page": "1"}),
    "finance.batches": ("finance", "/finance/payouts/batches", {"page": "1"}),
    "finance.export_approved": ("finance", "/finance/payouts/approved.csv", {}),
    "finance.export_batch": ("finance", "/finance/payouts/batch.csv", {"reference": "BATCH-1"}),
    "finance.reports": (
        "finance",
        "/finance/reports",
        {
            "currency": "USD",
            "fund": "{fund}",
            "year": "{year}",
            "start": "{year}-01-01",
            "end": "{year}-12-31",
            "cutoff": "{year}-06-30T12:00",
            "privacy": "finance",
        },
    ),
    "finance.report_csv_download": (
        "finance",
        "/finance/reports/csv",
        {
            "currency": "USD",
            "fund": "{fund}",
            "year": "{year}",
            "start": "{year}-01-01",
            "end": "{year}-12-31",
            "cutoff": "{year}-06-30T12:00",
            "privacy": "finance",
            "table": "all",
        },
    ),
    "finance.report_job": ("finance", "/finance/reports/jobs/{job}", {}),
    "finance.report_job_pdf": ("finance", "/finance/reports/jobs/{job}/pdf", {}),
    "ambassador.dashboard": ("ambassador", "/wallet/", {}),
    "ambassador.history": ("ambassador", "/wallet/{own_wallet}/gifts", {"page": "1"}),
    "ambassador.give": ("ambassador", "/wallet/{own_wallet}/give", {}),
    "ambassador.redeem": ("ambassador", "/wallet/{own_wallet}/redeem", {}),
    "ambassador.gift": ("ambassador", "/wallet/gifts/{own_gift}", {}),
    "ambassador.redemption": ("ambassador", "/wallet/redemptions/{own_redemption}", {}),
    "curation.queue": ("navigator", "/hub/", {}),
    "curation.services": ("navigator", "/hub/services", {"q": "sam", "page": "1"}),
    "curation.new_service": (
        "navigator",
        "/hub/services/new",
        {"note": "Missing from the hub: found while answering a help request"},
    ),
    "curation.edit_service": ("navigator", "/hub/services/{hub_service}/edit", {}),
    "curation.service": ("navigator", "/hub/services/{hub_service}", {}),
    "curation.retire": ("navigator", "/hub/services/{hub_service}/retire", {}),
    "curation.history": ("navigator", "/hub/services/{hub_service}/history", {}),
    "curation.version": ("navigator", "/hub/versions/{hub_version}", {}),
    "curation.organisations": ("navigator", "/hub/organisations", {}),
    "care.ask": ("anonymous", "/care/", {"country": "US", "lang": "es"}),
    "care.open_link": ("anonymous", "/care/link/{help_link}", {"lang": "fr"}),
    "care.request_page": ("ambassador", "/care/requests/{help_request}", {"lang": "de"}),
    "helpdesk.queue": ("navigator", "/helpdesk/", {"show": "closed", "page": "1"}),
    "helpdesk.request_page": (
        "navigator",
        "/helpdesk/requests/{help_request}",
        {"find": "samaritans"},
    ),
    "admin.helpdesk": ("admin", "/admin/helpdesk", {}),
    "admin.helpdesk_requests": ("admin", "/admin/helpdesk/requests", {"page": "1"}),
    "manager.helpdesk_figures_page": ("manager", "/manager/helpdesk", {"year": "{year}"}),
}
"""Per route answering GET: who may read it, its address, and every query parameter the
view reads, with a value it accepts. A route missing here, or a parameter a view reads that
is not named here, fails :func:`test_the_tables_name_every_route_and_every_parameter`."""

PATH_TEXT = {
    "claim.claim": "/claim/{}",
    "invitations.accept": "/invitations/{}",
    "account.reset_password": "/password/reset/{}",
    "account.confirm_email": "/account/email/confirm/{}",
    "finance.report_job": "/finance/reports/jobs/{}",
    "finance.report_job_pdf": "/finance/reports/jobs/{}/pdf",
    "curation.service": "/hub/services/{}",
    "curation.edit_service": "/hub/services/{}/edit",
    "curation.retire": "/hub/services/{}/retire",
    "curation.history": "/hub/services/{}/history",
    "hsds.service": "/help/hsds/services/{}",
    "hsds.taxonomy_detail": "/help/hsds/taxonomies/{}",
    "hub.country": "/help/{}",
    "hub.service": "/help/services/{}",
    "hub.elsewhere": "/help/{}/more",
    "care.open_link": "/care/link/{}",
    "care.request_page": "/care/requests/{}",
    "helpdesk.request_page": "/helpdesk/requests/{}",
}
"""Routes that take free text in their path (a claim token, a report job's key), where the
payload takes the text's place."""

NASTY = (
    "",
    " ",
    "\x00",
    "1\x00",
    "a\x00b",
    "\t\r\n",
    "1.001",
    "0.001",
    "1e9999",
    "-1e9999",
    "1E3",
    "NaN",
    "-NaN",
    "Infinity",
    "-0",
    "0",
    "-1",
    "-100.00",
    "0x10",
    "1_000",
    "1,000.00",
    "\u0661\u0662\u0663",
    "²",
    "\u0663.\u0665",
    "99999999999999999999999999",
    str(2**63),
    str(2**31),
    str(-(2**63) - 1),
    "2026-02-30",
    "0000-00-00",
    "9999-12-31",
    "0001-01-01",
    "2026-13-01T25:61",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }}",
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    "1; SELECT pg_sleep(5)",
    "%",
    "_",
    "\\",
    "../../etc/passwd",
    "javascript:alert(1)",
    "//evil.example/",
    "\u202eevil\u202c",
    "שלום עולם",
    "مرحبا",
    "👩‍👩‍👧‍👦🎸",
    "e\u0301\u0301\u0301",
    "Z\u0351\u0352\u0353\u0354\u0355",
    "\ufeff",
    "\uffff",
)
"""Values known to trip parsers: bad numbers and dates, markup, SQL, scripts, odd unicode."""

LONG = 10_000

WORST = ("a\x00b", "²", "-1", "", "9" * 30, str(2**63), "1.001", "9" * LONG)
"""The values that most often break a view (a NUL byte, a digit ``int`` refuses, numbers no
database integer holds, too many decimals): drawn more often than the rest."""


def payloads() -> st.SearchStrategy[str]:
    """One bad value for a field or a parameter."""
    return st.one_of(
        st.sampled_from(WORST),
        st.sampled_from(WORST),
        st.sampled_from(NASTY),
        st.text(max_size=30),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.dates().map(date.isoformat),
        st.builds(lambda piece: piece * LONG, st.sampled_from(["a", "9", "é", "🎸", "\u0301"])),
    )


REFUSAL = "This form has expired or did not come from this site."

OMIT = object()
"""A field left out of the request."""


def spoiled() -> st.SearchStrategy[Any]:
    """What a spoiled field carries: a bad value, several values, or nothing at all."""
    return st.one_of(
        payloads(),
        payloads(),
        payloads(),
        st.lists(payloads(), min_size=2, max_size=3),
        st.just(OMIT),
    )


def filled(data: st.DataObject, fields: Mapping[str, str]) -> dict[str, Any]:
    """``fields`` with some of their usable values spoiled: one (so the others let the bad
    one reach the view), each at random, or all; and maybe a field nobody asked for."""
    names = sorted(fields)
    how = data.draw(st.sampled_from(["one", "some", "all"]), label="spoil")
    if how == "one" and names:
        chosen = {data.draw(st.sampled_from(names), label="spoiled field")}
    elif how == "some":
        chosen = {name for name in names if data.draw(st.booleans(), label=f"spoil {name}")}
    else:
        chosen = set(names)
    sent = {
        name: data.draw(spoiled(), label=name) if name in chosen else fields[name] for name in names
    }
    sent = {name: value for name, value in sent.items() if value is not OMIT}
    if data.draw(st.booleans(), label="a field nobody asked for"):
        name = data.draw(st.sampled_from(["id", "amount", "actor", "key[]", "a" * 300]))
        sent[name] = data.draw(payloads(), label=name)
    return sent


FILLS: dict[str, dict[str, str]] = {
    "auth.login": {"email": "nobody@example.org", "password": "correct horse battery"},
    "claim.claim": {
        "display_name": "Kit Crew",
        "password": "a long unusual passphrase 42",
        "password_again": "a long unusual passphrase 42",
    },
    "admin.new_support_line": {"name": "Crisis Text Line", "phone": "741741"},
    "admin.invite": {
        "email": "new.person@example.org",
        "display_name": "New Person",
        "roles": "finance",
    },
    "admin.new_programme": {"code": "NOVA", "name": "Nova"},
    "invitations.accept": {
        "password": "a long unusual passphrase 42",
        "password_again": "a long unusual passphrase 42",
    },
    "manager.new_fund": {
        "name": "Therapy fund",
        "plan_year_start": "{year}-01-01",
        "plan_year_end": "{year}-12-31",
        "budget": "1000",
    },
    "manager.fund": {"amount": "10", "reason": "Top-up"},
    "manager.new_grant": {
        "purpose": "Touring crews",
        "amount": "100",
        "tranches-0-due_date": "{year}-12-01",
        "tranches-0-amount": "100",
    },
    "manager.decide_with_reason": {"reason": "No longer needed"},
    "manager.new_partner": {
        "legal_name": "Sound Minds Inc.",
        "display_name": "Sound Minds",
        "registration_number": "12-3456789",
    },
    "manager.new_allowance": {"amount": "10"},
    "finance.pay": {"payment_reference": "BANK-1"},
    "finance.reject": {"reason": "Not a therapy session"},
    "finance.payouts": {"payment_reference": "BATCH-1", "redemption_ids": "{own_redemption}"},
    "ambassador.give": {
        "recipient_name": "Kit",
        "recipient_email": "kit.crew@example.org",
        "amount": "1",
    },
    "ambassador.redeem": {"provider_name": "Dr Lee", "session_date": "{year}-01-02", "amount": "1"},
    "curation.new_service": {
        "name": "Lifeline",
        "organization_id": "{hub_organization}",
        "phone_country": "AU",
        "phones": "13 11 14 | voice | Any time",
        "countries": "AU",
        "languages": "en",
        "topics": "crisis",
        "audiences": "anyone",
        "time_zone": "Australia/Sydney",
        "hours_MO": "09:00-17:00",
        "checked_on": "{year}-01-02",
        "description_en": "Crisis support.",
        "url": "https://www.lifeline.org.au/",
    },
    "curation.edit_service": {
        "phones": "116 123 | voice | Free",
        "description_en": "Someone to talk to.",
        "hours_note_en": "Every day",
    },
    "curation.mark_checked": {"checked_on": "{year}-01-02"},
    "curation.retire": {"note": "The line closed"},
    "curation.send_back": {"note": "Check the number"},
    "curation.organisations": {"name": "Backline", "website": "https://backline.care/"},
    "care.ask": {
        "name": "Quinn",
        "email": "quinn@example.org",
        "topic": "finding-a-therapist",
        "can_pay": "some",
        "text": "Looking for a therapist who knows touring musicians.",
    },
    "care.answer": {"body": "Evenings suit me best."},
    "helpdesk.reply": {"body": "Here are two therapists near you."},
    "admin.set_route": {"country": "NZ"},
    "admin.set_week": {"time_zone": "America/Chicago"},
}
"""Usable values for the fields a form shows blank, so that a single spoiled field reaches
the view with every other field valid."""


@dataclass
class Fuzz:
    """The world every example runs in, its visitors, and each route's form as shown."""

    app: Flask
    world: SecurityWorld
    visitors: dict[str, FlaskClient]
    forms: dict[str, tuple[str, dict[str, str]]]
    keys: Iterator[int]

    def __repr__(self) -> str:
        return "Fuzz(the security world)"

    def client(self, role: str) -> FlaskClient:
        """A client of ``role``: a fresh one for anonymous visitors, who may sign in."""
        return self.app.test_client() if role == "anonymous" else self.visitors[role]


@pytest.fixture(scope="module")
def fuzz(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzz]:
    """One application, database and world for the whole module."""
    folder: Path = tmp_path_factory.mktemp("fuzzing")
    url = (
        request.getfixturevalue("postgres_url")
        if os.environ.get("TEST_DATABASE_URL")
        else f"sqlite:///{folder / 'grants.sqlite3'}"
    )
    with pytest.MonkeyPatch.context() as environment:
        for name in [name for name in os.environ if name.startswith("GRANTS_")]:
            environment.delenv(name)
        app = create_app(
            {
                "INSTANCE_PATH": folder / "instance",
                "DATABASE_URL": url,
                "TESTING": True,
                "HELPDESK_MIN_FILL_SECONDS": 0,
            }
            | FAST_ARGON2
        )
    app.test_client_class = RequestIsolatedClient
    with app.app_context():
        database.create_all()
        world = build_security_world(app, database.session)
        keep_the_form_routed(database.session, world)
        database.session.remove()
    visitors = clients(app, world)
    forms = {}
    for endpoint, (role, page, action) in FORMS.items():
        fields = shown_form(visitors[role], world.path(page), action and world.path(action))
        fields["csrf_token"] = fields["csrf_token"] or token_of(visitors[role], role)
        forms[endpoint] = (world.path(action or page), fields)
    yield Fuzz(app, world, visitors, forms, itertools.count(1))
    with app.app_context():
        database.session.remove()
        if database.engine.dialect.name == "postgresql":
            tables = ", ".join(f'"{table.name}"' for table in database.metadata.sorted_tables)
            with database.engine.begin() as connection:
                connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        database.engine.dispose()


def keep_the_form_routed(db: Session, world: SecurityWorld) -> None:
    """Route the request form's own country (the US, as its page is shown) to the other
    partner. The examples may remove the default route and deactivate Backline, as an admin
    and a manager may, after which a valid request from a country no route names is answered
    503 (no desk can take it); no form here can deactivate the other partner, so a valid
    example is always taken."""
    admin = db.scalars(select(User).where(User.email == world.emails["admin"])).one()
    helpdesk_admin.set_route(
        db, actor=admin, country="US", language="*", partner_id=world.other_partner
    )
    db.commit()


def answered_safely(fuzz: Fuzz, client: FlaskClient, method: str, path: str, **sent: Any) -> None:
    """Send the request and hold it to the module's three rules."""
    with fuzz.app.app_context():
        before = tally(database.session)
    response = client.open(path, method=method, **sent)
    body = text(response)
    assert response.status_code < 500, f"{method} {path}: {response.status_code}"
    assert "Traceback" not in body
    assert "did not come from this site" not in body, "the CSRF check stopped the payload"
    assert "missing its request key" not in body, "the key check stopped the payload"
    with fuzz.app.app_context():
        if 400 <= response.status_code < 500:
            problems = unchanged_but_a_recorded_refusal(database.session, before)
        else:
            problems = ledger_problems(database.session)
        database.session.remove()
    assert not problems, f"{method} {path} answered {response.status_code}: {problems}"


FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def examples(count: int) -> settings:
    return settings(FUZZ_SETTINGS, max_examples=count)


# ------------------------------------------------------------------------------- the tables


class ParametersRead(ImmutableMultiDict[str, str]):
    """Query parameters that note the name of every one a view asks for."""

    asked: ClassVar[set[str]] = set()

    def __contains__(self, key: object) -> bool:
        ParametersRead.asked.add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> str:
        ParametersRead.asked.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:
        ParametersRead.asked.add(key)
        return super().get(key, default, type)

    def getlist(self, key: str, type: Any = None) -> list[Any]:
        ParametersRead.asked.add(key)
        return super().getlist(key, type)


def parameters_read(fuzz: Fuzz, role: str, path: str, query: Mapping[str, str]) -> set[str]:
    """The names of the query parameters the view at ``path`` asks for."""
    recording = type("RecordingRequest", (fuzz.app.request_class,), {})
    recording.parameter_storage_class = ParametersRead  # type: ignore[attr-defined]
    original, fuzz.app.request_class = fuzz.app.request_class, recording
    ParametersRead.asked = set()
    try:
        client = fuzz.client(role)
        response = client.get(path, query_string=dict(query))
        text(response)
        assert response.status_code < 500, f"{path}?{query}: {response.status_code}"
    finally:
        fuzz.app.request_class = original
    return set(ParametersRead.asked)


def test_the_tables_name_every_route_and_every_parameter(fuzz: Fuzz) -> None:
    """Every route is fuzzed: each GET route with the parameters its view reads, each
    state-changing route through its form."""
    rules = list(fuzz.app.url_map.iter_rules())
    readable = {rule.endpoint for rule in rules if "GET" in (rule.methods or ())}
    assert readable == set(QUERIES), f"add to QUERIES: {readable ^ set(QUERIES)}"
    assert changing_endpoints(fuzz.app) == set(FORMS), "add the route's form to FORMS"
    assert {role for role, _, _ in QUERIES.values()} <= set(VISITORS)
    unnamed, read = [], {}
    for endpoint, (role, page, usable) in QUERIES.items():
        path = fuzz.world.path(page)
        filled_in = {name: fuzz.world.path(value) for name, value in usable.items()}
        read[endpoint] = parameters_read(fuzz, role, path, {}) | parameters_read(
            fuzz, role, path, filled_in
        )
        if read[endpoint] - set(usable):
            unnamed.append(f"{endpoint} reads {sorted(read[endpoint] - set(usable))}")
    assert not unnamed, "\n".join(unnamed)
    assert {"q", "status", "fund", "sort", "page"} <= read["manager.grants"], "nothing recorded"


# ------------------------------------------------------------------------------- the fuzzing


@pytest.mark.parametrize("endpoint", sorted(FORMS))
@examples(30)
@given(data=st.data())
def test_no_form_field_breaks_a_state_changing_route(
    fuzz: Fuzz, endpoint: str, data: st.DataObject
) -> None:
    role = FORMS[endpoint][0]
    target, shown = fuzz.forms[endpoint]
    if endpoint == "auth.logout":
        client = sign_in(fuzz.app, fuzz.world.emails["leaver"])
    else:
        client = fuzz.client(role)
    token = token_of(client, role) if role == "anonymous" or endpoint == "auth.logout" else None
    fields = {name: value for name, value in shown.items() if name not in ("csrf_token", "key")}
    fields |= {name: fuzz.world.path(value) for name, value in FILLS.get(endpoint, {}).items()}
    sent = filled(data, fields)
    sent["csrf_token"] = token or shown["csrf_token"]
    if "key" in shown:
        sent["key"] = f"fuzz-{next(fuzz.keys)}"
    answered_safely(fuzz, client, "POST", target, data=sent)


WITH_PARAMETERS = sorted(name for name, (_, _, usable) in QUERIES.items() if usable)
WITHOUT_PARAMETERS = sorted(set(QUERIES) - set(WITH_PARAMETERS))

KNOWN_QUERY_BUGS: dict[str, str] = {}
"""Pages whose random examples find a bug still in the app: each is expected to fail, so
the run stays green until the bug is fixed, and then fails to say so (strict)."""


def with_known_bugs(endpoints: list[str]) -> list[Any]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_QUERY_BUGS[name]))
        if name in KNOWN_QUERY_BUGS
        else name
        for name in endpoints
    ]


def read_page(fuzz: Fuzz, endpoint: str, data: st.DataObject) -> None:
    role, page, usable = QUERIES[endpoint]
    path = fuzz.world.path(page)
    if endpoint in PATH_TEXT and data.draw(st.booleans(), label="bad path"):
        path = PATH_TEXT[endpoint].format(quote(data.draw(payloads(), label="path"), safe=""))
    fields = {name: fuzz.world.path(value) for name, value in usable.items()}
    query = filled(data, fields)
    answered_safely(fuzz, fuzz.client(role), "GET", path, query_string=query)


@pytest.mark.parametrize("endpoint", with_known_bugs(WITH_PARAMETERS))
@examples(60)
@given(data=st.data())
def test_no_query_parameter_breaks_a_page(fuzz: Fuzz, endpoint: str, data: st.DataObject) -> None:
    read_page(fuzz, endpoint, data)


@pytest.mark.parametrize("endpoint", WITHOUT_PARAMETERS)
@examples(6)
@given(data=st.data())
def test_a_page_reading_no_parameter_ignores_any_it_is_sent(
    fuzz: Fuzz, endpoint: str, data: st.DataObject
) -> None:
    read_page(fuzz, endpoint, data)


SWEEP = ("a\x00b", "9" * 30)
"""The two values that broke the most views: each is sent once in every field and every
parameter alone, the others usable, whatever the random examples above happened to try."""


@pytest.mark.parametrize("endpoint", sorted(FORMS))
def test_every_form_field_alone_takes_the_worst_values(fuzz: Fuzz, endpoint: str) -> None:
    role = FORMS[endpoint][0]
    target, shown = fuzz.forms[endpoint]
    fields = {name: value for name, value in shown.items() if name not in ("csrf_token", "key")}
    fields |= {name: fuzz.world.path(value) for name, value in FILLS.get(endpoint, {}).items()}
    for name, worst in itertools.product(sorted(fields), SWEEP):
        if endpoint == "auth.logout":
            client = sign_in(fuzz.app, fuzz.world.emails["leaver"])
        else:
            client = fuzz.client(role)
        token = token_of(client, role) if role == "anonymous" or endpoint == "auth.logout" else None
        sent = {**fields, name: worst, "csrf_token": token or shown["csrf_token"]}
        if "key" in shown:
            sent["key"] = f"fuzz-{next(fuzz.keys)}"
        answered_safely(fuzz, client, "POST", target, data=sent)


@pytest.mark.parametrize("endpoint", WITH_PARAMETERS)
def test_every_query_parameter_alone_takes_the_worst_values(fuzz: Fuzz, endpoint: str) -> None:
    role, page, usable = QUERIES[endpoint]
    fields = {name: fuzz.world.path(value) for name, value in usable.items()}
    for name, worst in itertools.product(sorted(fields), SWEEP):
        query = {**fields, name: worst}
        answered_safely(fuzz, fuzz.client(role), "GET", fuzz.world.path(page), query_string=query)


# ------------------------------------------------------------------------------- the help desk
#
# The help desk's three forms of free text (a request for help, the requester's answer, a
# navigator's reply) are fuzzed on a desk of their own, so that whatever the examples above
# did to the world's help desk (closed its request, moved its navigator, removed a route)
# cannot stop a valid example from being written. Each example is held to an oracle: a
# request or a message is written exactly when the domain's own rules take the input.


@dataclass(frozen=True)
class HelpDesk:
    """A partner answering every country no route names, a navigator of it (signed in),
    and a request Avery made while signed in, open at its desk."""

    partner: int
    navigator: FlaskClient
    navigator_token: str
    reference: str


@pytest.fixture(scope="module")
def help_desk(fuzz: Fuzz) -> HelpDesk:
    with fuzz.app.app_context():
        db = database.session
        admin = db.scalars(select(User).where(User.email == fuzz.world.emails["admin"])).one()
        manager = db.scalars(select(User).where(User.email == fuzz.world.emails["manager"])).one()
        avery = db.scalars(select(User).where(User.email == fuzz.world.emails["ambassador"])).one()
        partner = create_partner(
            db,
            key="fuzz-desk-partner",
            actor=manager,
            details=PartnerDetails(
                legal_name="Fuzz Desk Trust",
                display_name="Fuzz Desk",
                country="GB",
                registration_number="7654321",
            ),
        ).object_id
        assert partner is not None
        helpdesk_admin.set_route(db, actor=admin, country="*", language="*", partner_id=partner)
        navigator = make_user(db, Role.NAVIGATOR, email="fuzz.desk@example.org")
        helpdesk_admin.set_navigator_partner(
            db, actor=admin, user_id=navigator.id, partner_id=partner
        )
        asked = helpdesk.ask(
            db,
            key="fuzz-desk-request",
            asked=Ask(
                name="Avery",
                email=avery.email,
                phone="",
                country="NZ",
                city="",
                language="en",
                topic=Topic.FINDING_A_THERAPIST.value,
                can_pay="nothing",
                text="Any therapist in Auckland?",
            ),
            requester_id=avery.id,
            now=clock.now(),
        )
        db.commit()
        database.session.remove()
    client = sign_in(fuzz.app, "fuzz.desk@example.org")
    return HelpDesk(partner, client, token_of(client, "navigator"), asked.reference)


def help_rows(fuzz: Fuzz) -> tuple[int, int]:
    """How many help requests and help messages there are."""
    with fuzz.app.app_context():
        found = (
            database.session.scalar(select(func.count()).select_from(HelpRequest)) or 0,
            database.session.scalar(select(func.count()).select_from(HelpMessage)) or 0,
        )
        database.session.remove()
    return found


def written_only_if_valid(
    fuzz: Fuzz, client: FlaskClient, path: str, sent: dict[str, Any], valid: bool
) -> str:
    """Post ``sent``: never a 5xx; when ``valid``, a redirect and exactly one help request
    or message more (the other kind unchanged); else a 4xx and nothing written at all.
    Returns the page answered."""
    with fuzz.app.app_context():
        before = tally(database.session)
        database.session.remove()
    requests, messages = help_rows(fuzz)
    response = client.post(path, data=sent)
    body = text(response)
    assert response.status_code < 500, f"POST {path}: {response.status_code}"
    assert "Traceback" not in body
    assert REFUSAL not in body, "the CSRF check stopped the payload"
    after = help_rows(fuzz)
    if valid:
        assert response.status_code == 302, (response.status_code, sent)
        made = (requests + 1, messages) if path == "/care/" else (requests, messages + 1)
        assert after == made, sent
        with fuzz.app.app_context():
            assert ledger_problems(database.session) == []
            database.session.remove()
    else:
        assert response.status_code in (400, 422), (response.status_code, sent)
        with fuzz.app.app_context():
            problems = unchanged_but_a_recorded_refusal(database.session, before)
            database.session.remove()
        assert not problems, f"POST {path} answered {response.status_code}: {problems}"
    return body


def first(value: Any) -> str:
    """What a form field reads of a value sent: the first of several, ``""`` for none."""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def every(sent: Mapping[str, Any]) -> list[str]:
    """Every value sent, each of several included."""
    found: list[str] = []
    for value in sent.values():
        found += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return found


def message_takes(body: str) -> bool:
    try:
        clean_message(body, field="body")
    except InvalidInput:
        return False
    return True


ASKED = ("name", "email", "phone", "country", "city", "language", "topic", "can_pay", "text")

USABLE: dict[str, tuple[str, ...]] = {
    "name": ("Quinn", "  Ana   María ", "李小龍", "O'Brien-Ó Súilleabháin", "n" * 120),
    "email": ("quinn@example.org", "", "Ana.Maria@Example.ORG"),
    "phone": ("", "(615) 321-4567", "+34 612 345 678", "020 7946 0958"),
    "country": ("US", "GB", "es", " nz ", "DE"),
    "city": ("", "Nashville", "São Paulo", "c" * 100),
    "language": ("en", "es", "fr", "de", "pt_BR"),
    "topic": tuple(topic.value for topic in Topic),
    "can_pay": ("nothing", "some", "insurance"),
    "text": (
        "",
        "I need someone to talk to about stage fright.",
        "Je veux mourir.",
        "line one\r\nline two\ttabbed",
        "t" * 4000,
        "  " + "t" * 4000 + "\n",
    ),
}
"""Values the request form takes (together, as long as an email or a phone is given)."""

BAD: dict[str, tuple[str, ...]] = {
    "name": ("", "   ", "n" * 121, "Qu\x00inn", "Qu\x07inn"),
    "email": ("not-an-email", "quinn@", "q" * 250 + "@example.org", "a\x00@example.org"),
    "phone": ("12345", "abc", "+0 000", "\x00"),
    "country": ("", "ZZ", "USA", "U\x00S", "*"),
    "city": ("c" * 101, "Nash\x00ville", "Nash\x1bville"),
    "language": ("", "xx", "EN", "pt-BR", "en\x00"),
    "topic": ("", "crisis ", "anything", "\x00"),
    "can_pay": ("", "everything", "NOTHING"),
    "text": ("t" * 4001, "a\x00b", "bell\x07", " " + "t" * 4001),
}
"""Values it must refuse."""


def ask_field(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(USABLE[name]),
        st.sampled_from(USABLE[name]),
        st.sampled_from(BAD[name]),
        payloads(),
        st.lists(st.sampled_from(USABLE[name] + BAD[name]), min_size=2, max_size=3),
        st.just(OMIT),
    )


def ask_takes(sent: Mapping[str, Any]) -> bool:
    """Whether the request form takes ``sent``: no NUL byte anywhere, the honeypot empty,
    and the domain's own check of what was typed passes."""
    if any("\x00" in value for value in every(sent)) or first(sent.get("website")):
        return False
    try:
        check_ask(Ask(**{name: first(sent.get(name)) for name in ASKED}))
    except InvalidInput:
        return False
    return True


@pytest.fixture(scope="module")
def asking(fuzz: Fuzz, help_desk: HelpDesk) -> tuple[FlaskClient, dict[str, str]]:
    """Someone not signed in, and the request form as the page shows it to them."""
    client = fuzz.app.test_client()
    return client, form_fields(client, "/care/?country=US", "/care/")


@examples(200)
@given(data=st.data())
def test_a_request_for_help_is_made_only_from_input_the_domain_takes(
    fuzz: Fuzz, asking: tuple[FlaskClient, dict[str, str]], data: st.DataObject
) -> None:
    client, shown = asking
    how = data.draw(st.sampled_from(["none", "one", "some"]), label="spoil")
    spoiled = set()
    if how == "one":
        spoiled = {data.draw(st.sampled_from(ASKED), label="spoiled field")}
    elif how == "some":
        spoiled = {name for name in ASKED if data.draw(st.booleans(), label=f"spoil {name}")}
    sent: dict[str, Any] = {
        name: data.draw(
            ask_field(name) if name in spoiled else st.sampled_from(USABLE[name]), label=name
        )
        for name in ASKED
    }
    if not any(first(sent[name]) for name in ("email", "phone")) and how == "none":
        sent["email"] = "quinn@example.org"
    sent = {name: value for name, value in sent.items() if value is not OMIT}
    if data.draw(st.integers(0, 9), label="a bot") == 0:
        sent["website"] = data.draw(st.sampled_from(["http://spam.example/", " ", "\x00"]))
    sent |= {"csrf_token": shown["csrf_token"], "shown": shown["shown"]}
    sent["key"] = f"fuzz-{next(fuzz.keys)}"
    written_only_if_valid(fuzz, client, "/care/", sent, ask_takes(sent))


def body_field() -> st.SearchStrategy[Any]:
    usable = ("Thank you.", "Evenings\r\nsuit me.", "b" * 4000, " " + "b" * 4000 + " ")
    bad = ("", "   ", "b" * 4001, "a\x00b", "esc\x1b[31m")
    return st.one_of(
        st.sampled_from(usable),
        st.sampled_from(usable),
        st.sampled_from(bad),
        payloads(),
        st.lists(st.sampled_from(usable + bad), min_size=2, max_size=3),
        st.just(OMIT),
    )


@examples(80)
@given(body=body_field())
def test_an_answer_of_the_requester_is_written_only_when_the_domain_takes_it(
    fuzz: Fuzz, help_desk: HelpDesk, body: Any
) -> None:
    avery = fuzz.visitors["ambassador"]
    sent = {"csrf_token": token_of(avery, "ambassador"), "key": f"fuzz-{next(fuzz.keys)}"}
    if body is not OMIT:
        sent["body"] = body
    path = f"/care/requests/{help_desk.reference}/answer"
    written_only_if_valid(fuzz, avery, path, sent, message_takes(first(sent.get("body"))))


def published(fuzz: Fuzz) -> set[str]:
    with fuzz.app.app_context():
        found = set(
            database.session.scalars(
                select(HubService.id).where(HubService.published_version_id.is_not(None))
            )
        )
        database.session.remove()
    return found


@examples(80)
@given(
    body=body_field(),
    services=st.lists(
        st.one_of(
            st.just("{hub_service}"),
            st.just("00000000-0000-4000-8000-000000000000"),
            st.sampled_from(["", "\x00", "a\x00b", "9" * 40, "' OR '1'='1"]),
        ),
        max_size=12,
    ),
)
def test_a_navigator_reply_is_written_only_when_the_domain_takes_it(
    fuzz: Fuzz, help_desk: HelpDesk, body: Any, services: list[str]
) -> None:
    chosen = [fuzz.world.path(service) for service in services]
    sent: dict[str, Any] = {
        "csrf_token": help_desk.navigator_token,
        "key": f"fuzz-{next(fuzz.keys)}",
        "services": chosen,
    }
    if body is not OMIT:
        sent["body"] = body
    on_hub = published(fuzz)
    valid = (
        message_takes(first(sent.get("body")))
        and len(set(chosen)) <= SERVICES_MAX
        and all(service in on_hub for service in chosen)
    )
    path = f"/helpdesk/requests/{help_desk.reference}/reply"
    written_only_if_valid(fuzz, help_desk.navigator, path, sent, valid)


# ------------------------------------------------------------------------------- named refusals

WELL_ASKED = {
    "name": "Quinn",
    "email": "quinn@example.org",
    "phone": "",
    "country": "ES",
    "city": "Madrid",
    "language": "es",
    "topic": "finding-a-therapist",
    "can_pay": "some",
    "text": "Busco una terapeuta en Madrid.",
}

ASK_REFUSALS = {
    "a text of 4,001 characters": (
        {"text": "t" * 4001},
        "A message has at most 4,000 characters.",
    ),
    "a NUL byte in the name": (
        {"name": "Qu\x00inn"},
        "Your request cannot contain control characters.",
    ),
    "a NUL byte in the text": (
        {"text": "Busco\x00ayuda"},
        "Your request cannot contain control characters.",
    ),
    "a Spanish phone number of five digits": (
        {"email": "", "phone": "12345"},
        "That is not a phone number we can call back.",
    ),
    "a phone number of letters": (
        {"phone": "abc"},
        "That is not a phone number we can call back.",
    ),
    "an unknown language": ({"language": "xx"}, "Choose a language from the list."),
}


def ask_in_english(fuzz: Fuzz, changes: Mapping[str, str]) -> TestResponse:
    """The request form, filled in well but for ``changes``, sent by someone not signed in
    (the page in English: the language asked for is that of the answer)."""
    client = fuzz.app.test_client()
    shown = form_fields(client, "/care/?country=ES", "/care/")
    sent = {**shown, **WELL_ASKED, **changes, "key": f"fuzz-{next(fuzz.keys)}"}
    return client.post("/care/", data=sent)


@pytest.mark.parametrize(("changes", "said"), ASK_REFUSALS.values(), ids=list(ASK_REFUSALS))
def test_a_request_for_help_is_refused_with_a_clear_message_and_nothing_written(
    fuzz: Fuzz, help_desk: HelpDesk, changes: dict[str, str], said: str
) -> None:
    with fuzz.app.app_context():
        before = tally(database.session)
        database.session.remove()
    response = ask_in_english(fuzz, changes)
    body = text(response)
    assert response.status_code in (400, 422)
    assert said in body
    with fuzz.app.app_context():
        assert unchanged_but_a_recorded_refusal(database.session, before) == []
        database.session.remove()


def test_a_request_for_help_of_4000_characters_is_made(fuzz: Fuzz, help_desk: HelpDesk) -> None:
    requests, messages = help_rows(fuzz)
    response = ask_in_english(fuzz, {"text": "t" * 4000})
    assert response.status_code == 302, text(response)
    assert help_rows(fuzz) == (requests + 1, messages)
    with fuzz.app.app_context():
        made = database.session.scalars(
            select(HelpRequest).order_by(HelpRequest.id.desc()).limit(1)
        ).one()
        assert made.text == "t" * 4000
        assert response.headers["Location"].endswith(f"/care/requests/{made.reference}")
        database.session.remove()


@pytest.mark.parametrize("who", ["requester", "navigator"])
def test_a_message_of_4001_characters_is_refused_and_one_of_4000_written(
    fuzz: Fuzz, help_desk: HelpDesk, who: str
) -> None:
    if who == "requester":
        client = fuzz.visitors["ambassador"]
        token = token_of(client, "ambassador")
        path = f"/care/requests/{help_desk.reference}/answer"
    else:
        client, token = help_desk.navigator, help_desk.navigator_token
        path = f"/helpdesk/requests/{help_desk.reference}/reply"
    for body, valid, said in (
        ("m" * 4001, False, "A message has at most 4,000 characters."),
        ("m\x00" * 10, False, "cannot contain control characters."),
        ("m" * 4000, True, ""),
    ):
        sent = {"csrf_token": token, "key": f"fuzz-{next(fuzz.keys)}", "body": body}
        assert said in written_only_if_valid(fuzz, client, path, sent, valid)


@pytest.mark.parametrize("form", ["a request for help", "an answer"])
def test_a_help_desk_form_without_its_key_is_refused_and_writes_nothing(
    fuzz: Fuzz, help_desk: HelpDesk, form: str
) -> None:
    if form == "a request for help":
        client = fuzz.app.test_client()
        shown = form_fields(client, "/care/?country=ES", "/care/")
        path, sent = "/care/", {**shown, **WELL_ASKED}
    else:
        client = fuzz.visitors["ambassador"]
        path = f"/care/requests/{help_desk.reference}/answer"
        sent = {"csrf_token": token_of(client, "ambassador"), "body": "Evenings suit me."}
    sent.pop("key", None)
    with fuzz.app.app_context():
        before = tally(database.session)
        database.session.remove()
    response = client.post(path, data=sent)
    text(response)
    with fuzz.app.app_context():
        problems = unchanged_but_a_recorded_refusal(database.session, before)
        database.session.remove()
    assert response.status_code == 400, response.status_code
    assert not problems, problems


def test_the_help_desk_figures_take_a_year_of_any_length(fuzz: Fuzz) -> None:
    response = fuzz.visitors["manager"].get("/manager/helpdesk", query_string={"year": "9" * 5000})
    text(response)
    assert response.status_code == 200
