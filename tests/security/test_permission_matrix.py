"""Who reaches what: every route of the app, as every role and as an anonymous visitor.

The table below names, for every endpoint in ``app.url_map``, the addresses tried and the
answer each visitor gets, in the order of :data:`ROLES`:

    anonymous  admin  manager  finance  ambassador  recipient  partner

``login`` is a redirect to the sign-in page; any other entry is the status code. ``get`` is
a GET; ``post`` (for routes that accept POST) is a POST carrying a valid CSRF token and
nothing else, which must never change anything but signing out (which ends every session
of its user, so the visitor signs in again after it). A route missing from the table fails
the test, so a new route has to be added here with its answers.

The world (``tests/security/world.py``): the ambassador signs in as Avery, the recipient as
Sam, who claimed a gift from Avery, and the partner as a person of Backline (the world's
``partner``); ``own_*`` objects are Avery's (or Sam's, where named), ``foreign_*`` ones
belong to Olive, another ambassador, except in the partner portal (below), where they are
Backline's and Music Minds Matter's. What the design asks of objects:

- wallets, gifts and redemptions are personal: someone else's answers 404, like one that
  does not exist. Wallet pages check the role first (403 for anyone who holds no credit);
  gift and redemption pages answer 404 to everyone but their holder, whatever the role.
- grants, partners, funds, tranches, reporting dates and support lines are not personal:
  every manager (and admin) sees every grant, partner and fund, whoever made it; finance
  every tranche, redemption and report job. Other roles get 403; a missing id 404.
- a claim link is its own proof: the page is public, an unknown token answers 404.
- the resource hub's curation screens: navigators, managers and admins read them; only a
  navigator proposes (a form, a retirement, a date checked, an organisation); a navigator
  or a manager publishes or sends back. The navigator who signs in did not make the
  world's proposal. Their answers are ``navigator`` (``GET POST``, or ``GET`` alone), given
  for every curation route and every help desk route.
- the partner portal (``/partner/``): only the partner role gets in (403 for everyone else,
  admins too), and only to its own organisation's objects: Backline's draft application
  (``own_application``), its grant (``grant``, with its ``tranche`` and ``reporting``
  date, whose next version Backline's person is writing) and the documents of its draft
  and of that version (``own_document``, ``own_report_document``). Music Minds Matter's submitted
  application, grant, report and document (``foreign_*``) answer Backline's person 404, like
  a missing one; so does a round that has not opened yet (``upcoming_round``). A button or
  form sent without its key is a 400 before anything is looked up, where the view checks
  the form first (starting an application, removing a document).
- funding rounds, applications, reviews and progress reports in the managers' screens:
  every manager and admin sees every round (upcoming too), every submitted application
  and every report; a draft application stays the partner's own (404). Partners, finance
  and the credit holders get 403. The manager who signs in reviews the open round and
  declared no conflict with Music Minds Matter's application; a decision sent without its
  fields is a 422.
- a partner's document (``/documents/<id>``): ``readable_document`` lets its own partner's
  people, managers, finance and admins read it; anyone else signed in gets 404 (another
  partner's person, an ambassador, a navigator), whatever the role, as for a missing one.
- the help desk ("help me find care"): the navigator who signs in works for Backline (the
  world's ``partner``), to which the default route sends Avery's request (``help_request``,
  made while she was signed in); another partner's desk has a request from someone not
  signed in (``foreign_help_request``). Under ``/care/`` the form is public; a request's
  pages open for the device let in by its private link (no visitor here holds that cookie)
  or for the account that made it: Avery's for hers, 404 for everyone else. A private link
  is its own proof: its page is public, an unknown one 404. Under ``/helpdesk/`` only
  navigators (403 for the other roles, admins too), and only their partner's requests (404
  for another partner's, as for a missing one). Routing and re-routing are the admin's; the
  desk's figures the managers' and admins'.
- paying providers: the directory of providers, a provider's pages and bank details, a
  batch's bank files, a fund's payment settings and the bank statements are finance's
  alone (403 for everyone else, admins and managers too; finance gets 404 for a missing
  one, and for the payment settings of a grants fund). A provider's invoice
  (``/documents/<id>`` of a session) is health information: finance and the person who
  booked the session read it, anyone else gets 404, managers and admins too. Only the
  holder of a session adds an invoice to it (404 for anyone else). The world has a verified
  provider with bank details (``provider``), one whose bank change waits for a second
  member of finance (``held_provider``), one Olive proposed (``proposed_provider``), Avery's
  session with an invoice (``invoiced_redemption``, ``own_invoice``), Olive's
  (``foreign_booking``, ``foreign_invoice``), a paid ``batch`` and an imported ``statement``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants import clock
from grants.domain import helpdesk_links
from grants.models import (
    Author,
    Document,
    HelpdeskRoute,
    HelpLink,
    HelpMessage,
    HelpRequest,
    LinkKind,
    ReportVersion,
    User,
)
from tests.security.support import stored_files
from tests.security.world import (
    NAVIGATOR,
    PNG,
    ROLES,
    VISITORS,
    SecurityWorld,
    approved_grant,
    build_security_world,
    clients,
    reports_of,
    snapshot,
    token_of,
)
from tests.support import form_fields, sign_in

MISSING = "999999"
NO_JOB = "0" * 64


@dataclass(frozen=True)
class Case:
    """One address of an endpoint and the answers to each visitor (see the module doc)."""

    path: str
    get: str
    post: str | None = None
    why: str = ""
    navigator: str = ""
    """What a navigator gets: ``GET`` or ``GET POST`` (empty: not tried)."""
    fresh_link: bool = False
    """The POST is the whole form of the route (a private link's one button), so pressing
    it with just a CSRF token does what it is for: each visitor presses it on a fresh link
    to Avery's request, from a client of their own (the visitors' own clients get no device
    cookie and the world's link stays unused), and the press may write."""


NOT_GET = "405 405 405 405 405 405 405"

HELP_DESK = frozenset(
    {
        "care.ask",
        "care.open_link",
        "care.request_page",
        "care.answer",
        "care.erase",
        "helpdesk.queue",
        "helpdesk.request_page",
        "helpdesk.assign",
        "helpdesk.reply",
        "helpdesk.close",
        "admin.helpdesk",
        "admin.set_route",
        "admin.remove_route",
        "admin.set_week",
        "admin.set_navigator",
        "admin.helpdesk_requests",
        "admin.reroute",
        "manager.helpdesk_figures_page",
    }
)
"""The help desk's routes: the table gives a navigator's answers for each."""

# fmt: off
MATRIX: dict[str, tuple[Case, ...]] = {
    # ---------------------------------------------------------------- public and signing in
    "main.home": (
        Case("/", get="login 302 302 302 302 302 302", why="to the first role's dashboard"),
    ),
    "auth.login": (
        Case("/login", get="200 302 302 302 302 302 302", post="400 302 302 302 302 302 302",
             why="signed in: sent home; an empty sign-in is a 400"),
    ),
    "auth.logout": (
        Case("/logout", get=NOT_GET, post="login login login login login login login"),
    ),
    "static": (Case("/static/css/app.css", get="200 200 200 200 200 200 200"),),
    # ---------------------------------------------------------------- the hub's open data
    "hsds.about": (Case("/help/hsds/", get="200 200 200 200 200 200 200"),),
    "hsds.services": (Case("/help/hsds/services", get="200 200 200 200 200 200 200"),),
    "hsds.service": (
        Case("/help/hsds/services/00000000-0000-4000-8000-000000000000",
             get="404 404 404 404 404 404 404", why="public; no published service has this id"),
        Case("/help/hsds/services/not-an-id", get="404 404 404 404 404 404 404"),
    ),
    "hsds.taxonomy_detail": (
        Case("/help/hsds/taxonomies/df1c2e56-005a-536f-9541-89840dae6c65",
             get="200 200 200 200 200 200 200", why="the hub's own taxonomy"),
        Case("/help/hsds/taxonomies/00000000-0000-4000-8000-000000000000",
             get="404 404 404 404 404 404 404"),
    ),
    "hsds.data_package": (Case("/help/hsds/data-package.json", get="200 200 200 200 200 200 200"),),
    # ---------------------------------------------------------------- the hub's public pages
    "hub_offline.worker": (Case("/help/sw.js", get="200 200 200 200 200 200 200"),),
    "hub_print.poster": (
        Case("/help/GB/poster.pdf", get="200 200 200 200 200 200 200", why="public, to print"),
        Case("/help/ZZ/poster.pdf", get="404 404 404 404 404 404 404", why="no such country"),
    ),
    "hub.index": (
        Case("/help/", get="200 200 200 200 200 200 200",
             why="public: no one in distress signs in"),
    ),
    "hub.country": (
        Case("/help/GB", get="200 200 200 200 200 200 200", why="public; every country has a page"),
        Case("/help/ZZ", get="404 404 404 404 404 404 404", why="no such country: the chooser"),
    ),
    "hub.service": (
        Case("/help/services/{hub_service}", get="200 200 200 200 200 200 200"),
        Case("/help/services/00000000-0000-4000-8000-000000000000",
             get="404 404 404 404 404 404 404", why="public; no published service has this id"),
    ),
    "hub.elsewhere": (
        Case("/help/no/such/page", get="404 404 404 404 404 404 404",
             why="the chooser, with a 404"),
        Case("/help/GB/nothing", get="404 404 404 404 404 404 404"),
    ),
    # ---------------------------------------------------------------- one's own account
    "account.forgot_password": (
        Case("/password/forgot", get="200 200 200 200 200 200 200",
             post="422 422 422 422 422 422 422",
             why="public, and the same answer for every address; no address is a 422"),
    ),
    "account.reset_password": (
        Case("/password/reset/{reset_token}", get="200 200 200 200 200 200 200",
             post="422 422 422 422 422 422 422", why="public: the link is the proof"),
        Case("/password/reset/not-a-real-token", get="404 404 404 404 404 404 404",
             post="404 404 404 404 404 404 404", why="unknown link"),
    ),
    "account.profile": (
        Case("/account", get="login 200 200 200 200 200 200", post="login 422 422 422 422 422 422",
             why="everyone's own profile"),
    ),
    "account.change_password": (
        Case("/account/password", get="login 200 200 200 200 200 200",
             post="login 422 422 422 422 422 422"),
    ),
    "account.change_email": (
        Case("/account/email", get="login 200 200 200 200 200 200",
             post="login 422 422 422 422 422 422"),
    ),
    "account.confirm_email": (
        Case("/account/email/confirm/{email_token}", get="200 200 200 200 200 200 200",
             post="400 400 400 400 400 400 400",
             why="public: the link is the proof; a confirmation without its key is a 400"),
        Case("/account/email/confirm/not-a-real-token", get="404 404 404 404 404 404 404",
             post="404 404 404 404 404 404 404", why="unknown link"),
    ),
    "notifications.index": (
        Case("/notifications/", get="login 200 200 200 200 200 200", why="everyone's own"),
    ),
    "notifications.mark_read": (
        Case("/notifications/read", get=NOT_GET, post="login 400 400 400 400 400 400",
             why="a button: without its idempotency key, 400"),
    ),
    "notifications.settings": (
        Case("/notifications/settings", get="login 200 200 200 200 200 200",
             post="login 302 302 302 302 302 302", why="a form sent untouched keeps the settings"),
    ),
    "claim.claim": (
        Case("/claim/{foreign_token}", get="200 200 200 200 200 200 200",
             post="422 422 422 422 422 422 422", why="public: the token is the proof"),
        Case("/claim/not-a-real-token", get="404 404 404 404 404 404 404",
             post="404 404 404 404 404 404 404", why="unknown token"),
    ),
    "invitations.accept": (
        Case("/invitations/{invitation_token}", get="200 200 200 200 200 200 200",
             post="422 422 422 422 422 422 422", why="public: the token is the proof"),
        Case("/invitations/not-a-real-token", get="404 404 404 404 404 404 404",
             post="404 404 404 404 404 404 404", why="unknown token"),
    ),
    # ---------------------------------------------------------------- admin
    "admin.dashboard": (Case("/admin/", get="login 200 403 403 403 403 403"),),
    "admin.messages": (Case("/admin/messages", get="login 200 403 403 403 403 403"),),
    "admin.support_lines": (Case("/admin/support-lines", get="login 200 403 403 403 403 403"),),
    "admin.new_support_line": (
        Case("/admin/support-lines/new", get="login 200 403 403 403 403 403",
             post="login 422 403 403 403 403 403"),
    ),
    "admin.edit_support_line": (
        Case("/admin/support-lines/{support_line}/edit", get="login 200 403 403 403 403 403",
             post="login 422 403 403 403 403 403", why="any line, for admins only"),
        Case(f"/admin/support-lines/{MISSING}/edit", get="login 404 403 403 403 403 403",
             post="login 404 403 403 403 403 403"),
    ),
    "admin.users": (
        Case("/admin/users", get="login 200 403 403 403 403 403"),
        Case("/admin/users?q=drafter&role=manager&page=2", get="login 200 403 403 403 403 403",
             why="a search"),
    ),
    "admin.invite": (
        Case("/admin/users/invite", get="login 200 403 403 403 403 403",
             post="login 422 403 403 403 403 403"),
    ),
    "admin.user": (
        Case("/admin/users/{drafter}", get="login 200 403 403 403 403 403"),
        Case(f"/admin/users/{MISSING}", get="login 404 403 403 403 403 403"),
    ),
    "admin.change_access": (
        Case("/admin/users/{drafter}/access", get=NOT_GET, post="login 422 403 403 403 403 403",
             why="the roles are missing"),
        Case(f"/admin/users/{MISSING}/access", get=NOT_GET, post="login 404 403 403 403 403 403"),
    ),
    "admin.invitation": (
        Case("/admin/users/{invited}/invitation/resend", get=NOT_GET,
             post="login 400 403 403 403 403 403",
             why="resend, revoke: a confirmation without its key is a 400"),
        Case(f"/admin/users/{MISSING}/invitation/revoke", get=NOT_GET,
             post="login 404 403 403 403 403 403"),
    ),
    "admin.programmes_list": (Case("/admin/programmes", get="login 200 403 403 403 403 403"),),
    "admin.new_programme": (
        Case("/admin/programmes/new", get="login 200 403 403 403 403 403",
             post="login 422 403 403 403 403 403"),
    ),
    "admin.edit_programme": (
        Case("/admin/programmes/{programme}/edit", get="login 200 403 403 403 403 403",
             post="login 422 403 403 403 403 403"),
        Case(f"/admin/programmes/{MISSING}/edit", get="login 404 403 403 403 403 403",
             post="login 404 403 403 403 403 403"),
    ),
    "admin.audit": (
        Case("/admin/audit", get="login 200 403 403 403 403 403"),
        Case("/admin/audit?actor=admin@example.org&action=user.&object_type=user"
             "&object_id={drafter}&since=2020-01-01&until=2030-12-31",
             get="login 200 403 403 403 403 403", why="filtered"),
    ),
    "admin.set_user_active": (
        Case("/admin/users/{drafter}/deactivate", get=NOT_GET, post="login 400 403 403 403 403 403",
             why="deactivate, reactivate: a confirmation without its key is a 400"),
        Case(f"/admin/users/{MISSING}/reactivate", get=NOT_GET,
             post="login 404 403 403 403 403 403"),
    ),
    # ---------------------------------------------------------------- manager (and admin)
    "manager.dashboard": (Case("/manager/", get="login 200 200 403 403 403 403"),),
    "manager.credit_use": (Case("/manager/credit-use", get="login 200 200 403 403 403 403"),),
    "manager.cohort_allowance": (
        Case("/manager/allowances/cohort", get="login 200 200 403 403 403 403"),
    ),
    "manager.allocate_to_cohort": (
        Case("/manager/allowances/cohort", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403", why="GET is the preview (cohort_allowance)"),
    ),
    "manager.new_allowance": (
        Case("/manager/allowances/new", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403"),
    ),
    "manager.new_fund": (
        Case("/manager/funds/new", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403"),
    ),
    "manager.fund": (
        Case("/manager/funds/{fund}", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403", why="a therapy fund another manager opened"),
        Case("/manager/funds/{grants_fund}", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403", why="a grants fund"),
        Case(f"/manager/funds/{MISSING}", get="login 404 404 403 403 403 403",
             post="login 404 404 403 403 403 403"),
    ),
    "manager.grants": (Case("/manager/grants", get="login 200 200 403 403 403 403"),),
    "manager.new_grant": (
        Case("/manager/grants/new", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403"),
    ),
    "manager.grant": (
        Case("/manager/grants/{grant}", get="login 200 200 403 403 403 403",
             why="drafted by another manager"),
        Case(f"/manager/grants/{MISSING}", get="login 404 404 403 403 403 403"),
    ),
    "manager.edit_grant": (
        Case("/manager/grants/{grant}/edit", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403"),
        Case(f"/manager/grants/{MISSING}/edit", get="login 404 404 403 403 403 403",
             post="login 404 404 403 403 403 403"),
    ),
    "manager.decide": (
        Case("/manager/grants/{grant}/close", get=NOT_GET, post="login 400 400 403 403 403 403",
             why="submit, approve, close: a confirmation without its key is a 400"),
        Case(f"/manager/grants/{MISSING}/approve", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.decide_with_reason": (
        Case("/manager/grants/{grant}/cancel", get=NOT_GET, post="login 422 422 403 403 403 403",
             why="reject, cancel: the reason is missing"),
        Case(f"/manager/grants/{MISSING}/reject", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.report_received": (
        Case("/manager/reports/{reporting}/received", get=NOT_GET,
             post="login 400 400 403 403 403 403", why="a grant's reporting date"),
        Case(f"/manager/reports/{MISSING}/received", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.partners": (Case("/manager/partners", get="login 200 200 403 403 403 403"),),
    "manager.new_partner": (
        Case("/manager/partners/new", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403"),
    ),
    "manager.partner": (
        Case("/manager/partners/{partner}", get="login 200 200 403 403 403 403"),
        Case(f"/manager/partners/{MISSING}", get="login 404 404 403 403 403 403"),
    ),
    "manager.edit_partner": (
        Case("/manager/partners/{partner}/edit", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403"),
        Case(f"/manager/partners/{MISSING}/edit", get="login 404 404 403 403 403 403",
             post="login 404 404 403 403 403 403"),
    ),
    "manager.toggle_partner": (
        Case("/manager/partners/{partner}/active", get=NOT_GET,
             post="login 400 400 403 403 403 403"),
        Case(f"/manager/partners/{MISSING}/active", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.cohort_import_upload": (
        Case("/manager/cohort-import", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403", why="no file sent"),
    ),
    "manager.cohort_import_file": (
        Case("/manager/cohort-import/{cohort_upload}", get="login 404 200 403 403 403 403",
             why="the manager's file: nobody else's to see, not even an admin's"),
        Case(f"/manager/cohort-import/{NO_JOB}", get="login 404 404 403 403 403 403"),
    ),
    "manager.cohort_import_confirm": (
        Case("/manager/cohort-import/{cohort_upload}", get="login 404 200 403 403 403 403",
             post="login 404 400 403 403 403 403",
             why="GET is the preview (cohort_import_file); the manager's confirmation "
                 "without its key is a 400; the admin did not upload the file"),
        Case(f"/manager/cohort-import/{NO_JOB}", get="login 404 404 403 403 403 403",
             post="login 404 404 403 403 403 403"),
    ),
    # ---------------------------------------------------------------- manager: funding rounds
    "manager.funding_rounds": (
        Case("/manager/rounds", get="login 200 200 403 403 403 403"),
        Case("/manager/rounds?page=2", get="login 200 200 403 403 403 403"),
    ),
    "manager.new_round": (
        Case("/manager/rounds/new", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403", why="a form with nothing in it"),
    ),
    "manager.edit_round": (
        Case("/manager/rounds/{funding_round}/edit", get="login 200 200 403 403 403 403",
             post="login 422 422 403 403 403 403"),
        Case(f"/manager/rounds/{MISSING}/edit", get="login 404 404 403 403 403 403",
             post="login 404 404 403 403 403 403"),
    ),
    "manager.funding_round": (
        Case("/manager/rounds/{funding_round}", get="login 200 200 403 403 403 403",
             why="open; every manager sees every round and its scoring sheet"),
        Case("/manager/rounds/{upcoming_round}", get="login 200 200 403 403 403 403",
             why="not open yet: managers see it, partners not"),
        Case(f"/manager/rounds/{MISSING}", get="login 404 404 403 403 403 403"),
    ),
    "manager.application": (
        Case("/manager/applications/{foreign_application}", get="login 200 200 403 403 403 403",
             why="submitted: every manager sees it (scores only without a conflict)"),
        Case("/manager/applications/{own_application}", get="login 404 404 403 403 403 403",
             why="a draft is the partner's own until it is submitted: 404"),
        Case(f"/manager/applications/{MISSING}", get="login 404 404 403 403 403 403"),
    ),
    "manager.declare_conflict": (
        Case("/manager/applications/{foreign_application}/declare", get=NOT_GET,
             post="login 422 422 403 403 403 403",
             why="declare, score, award, decline: the form's fields are missing (the "
                 "application is looked up first: a draft's or a missing one's is a 404)"),
        Case("/manager/applications/{own_application}/declare", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
        Case(f"/manager/applications/{MISSING}/declare", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.score_application": (
        Case("/manager/applications/{foreign_application}/score", get=NOT_GET,
             post="login 422 422 403 403 403 403"),
        Case("/manager/applications/{own_application}/score", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
        Case(f"/manager/applications/{MISSING}/score", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.award_application": (
        Case("/manager/applications/{foreign_application}/award", get=NOT_GET,
             post="login 422 422 403 403 403 403"),
        Case("/manager/applications/{own_application}/award", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
        Case(f"/manager/applications/{MISSING}/award", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.decline_application": (
        Case("/manager/applications/{foreign_application}/decline", get=NOT_GET,
             post="login 422 422 403 403 403 403"),
        Case("/manager/applications/{own_application}/decline", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
        Case(f"/manager/applications/{MISSING}/decline", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.progress_report": (
        Case("/manager/reports/{foreign_reporting}", get="login 200 200 403 403 403 403",
             why="a version waiting for a decision"),
        Case("/manager/reports/{reporting}", get="login 200 200 403 403 403 403",
             why="due, nothing submitted yet"),
        Case(f"/manager/reports/{MISSING}", get="login 404 404 403 403 403 403"),
    ),
    "manager.accept_report": (
        Case("/manager/reports/{foreign_reporting}/accept", get=NOT_GET,
             post="login 422 422 403 403 403 403", why="accept, changes: the key is missing"),
        Case(f"/manager/reports/{MISSING}/accept", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.ask_for_changes": (
        Case("/manager/reports/{foreign_reporting}/changes", get=NOT_GET,
             post="login 422 422 403 403 403 403"),
        Case(f"/manager/reports/{MISSING}/changes", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.tranche_release": (
        Case("/manager/tranches/{foreign_tranche}/release", get=NOT_GET,
             post="login 302 302 403 403 403 403",
             why="a request that does not say which report (the form always does) changes "
                 "nothing: the tranche still waits for its report; back to the grant"),
        Case("/manager/tranches/{tranche}/release", get=NOT_GET,
             post="login 302 302 403 403 403 403", why="one waiting for no report"),
        Case(f"/manager/tranches/{MISSING}/release", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    "manager.invite_partner_person": (
        Case("/manager/partners/{partner}/people", get=NOT_GET,
             post="login 422 422 403 403 403 403", why="the email and name are missing"),
        Case(f"/manager/partners/{MISSING}/people", get=NOT_GET,
             post="login 404 404 403 403 403 403"),
    ),
    # ---------------------------------------------------------------- finance
    "finance.dashboard": (Case("/finance/", get="login 403 403 200 403 403 403"),),
    "finance.pay": (
        Case("/finance/tranches/{tranche}/pay", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403", why="a tranche of an approved grant"),
        Case(f"/finance/tranches/{MISSING}/pay", get="login 403 403 404 403 403 403",
             post="login 403 403 404 403 403 403"),
    ),
    "finance.redemptions": (Case("/finance/redemptions", get="login 403 403 200 403 403 403"),),
    "finance.redemption": (
        Case("/finance/redemptions/{foreign_redemption}", get="login 403 403 200 403 403 403",
             why="finance sees every redemption; nobody else here"),
        Case(f"/finance/redemptions/{MISSING}", get="login 403 403 404 403 403 403"),
    ),
    "finance.approve": (
        Case("/finance/redemptions/{foreign_redemption}/approve", get=NOT_GET,
             post="login 403 403 400 403 403 403"),
        Case(f"/finance/redemptions/{MISSING}/approve", get=NOT_GET,
             post="login 403 403 404 403 403 403"),
    ),
    "finance.reject": (
        Case("/finance/redemptions/{foreign_redemption}/reject", get=NOT_GET,
             post="login 403 403 422 403 403 403"),
        Case(f"/finance/redemptions/{MISSING}/reject", get=NOT_GET,
             post="login 403 403 404 403 403 403"),
    ),
    "finance.payouts": (
        Case("/finance/payouts", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403"),
    ),
    "finance.batches": (Case("/finance/payouts/batches", get="login 403 403 200 403 403 403"),),
    "finance.export_approved": (
        Case("/finance/payouts/approved.csv", get="login 403 403 200 403 403 403"),
    ),
    "finance.export_batch": (
        Case("/finance/payouts/batch.csv?reference=NO-SUCH-BATCH",
             get="login 403 403 404 403 403 403", why="an unknown payment reference"),
    ),
    "finance.reports": (
        Case("/finance/reports", get="login 403 403 200 403 403 403"),
        Case("/finance/reports?currency=USD&year={year}", get="login 403 403 200 403 403 403",
             why="the preview"),
    ),
    "finance.report_csv_download": (
        Case("/finance/reports/csv?currency=USD&year={year}", get="login 403 403 200 403 403 403"),
    ),
    "finance.report_pdf_download": (
        Case("/finance/reports/pdf", get=NOT_GET, post="login 403 403 422 403 403 403"),
    ),
    "finance.report_job": (
        Case("/finance/reports/jobs/{job}", get="login 403 403 200 403 403 403",
             why="a failed job"),
        Case(f"/finance/reports/jobs/{NO_JOB}", get="login 403 403 404 403 403 403"),
    ),
    "finance.report_job_pdf": (
        Case("/finance/reports/jobs/{job}/pdf", get="login 403 403 404 403 403 403",
             why="a failed job has no PDF"),
        Case(f"/finance/reports/jobs/{NO_JOB}/pdf", get="login 403 403 404 403 403 403"),
    ),
    "finance.retry_report_job": (
        Case("/finance/reports/jobs/{job}/retry", get=NOT_GET,
             post="login 403 403 400 403 403 403"),
        Case(f"/finance/reports/jobs/{NO_JOB}/retry", get=NOT_GET,
             post="login 403 403 404 403 403 403"),
    ),
    # ---------------------------------------------------------------- finance: providers
    "finance.providers": (
        Case("/finance/providers", get="login 403 403 200 403 403 403",
             why="the directory shows bank details, if only masked: finance's only"),
        Case("/finance/providers?q=zo&city=nash&status=held&sort=-name&page=2",
             get="login 403 403 200 403 403 403"),
    ),
    "finance.provider_new": (
        Case("/finance/providers/new", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403", why="a form with nothing in it"),
    ),
    "finance.provider": (
        Case("/finance/providers/{provider}", get="login 403 403 200 403 403 403"),
        Case("/finance/providers/{proposed_provider}", get="login 403 403 200 403 403 403",
             why="proposed by Olive: finance sees every provider, whoever proposed them"),
        Case(f"/finance/providers/{MISSING}", get="login 403 403 404 403 403 403"),
    ),
    "finance.provider_edit": (
        Case("/finance/providers/{provider}/edit", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403"),
        Case(f"/finance/providers/{MISSING}/edit", get="login 403 403 404 403 403 403",
             post="login 403 403 404 403 403 403"),
    ),
    "finance.provider_verify": (
        Case("/finance/providers/{proposed_provider}/verify", get=NOT_GET,
             post="login 403 403 400 403 403 403",
             why="verify, reveal, confirm: a button without its key is a 400"),
        Case(f"/finance/providers/{MISSING}/verify", get=NOT_GET,
             post="login 403 403 404 403 403 403"),
    ),
    "finance.provider_suspend": (
        Case("/finance/providers/{provider}/suspend", get=NOT_GET,
             post="login 403 403 422 403 403 403",
             why="the provider's page again, with the form's errors"),
        Case(f"/finance/providers/{MISSING}/suspend", get=NOT_GET,
             post="login 403 403 404 403 403 403"),
    ),
    "finance.provider_bank": (
        Case("/finance/providers/{provider}/bank", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403"),
        Case("/finance/providers/{proposed_provider}/bank", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403", why="no bank details yet"),
        Case(f"/finance/providers/{MISSING}/bank", get="login 403 403 404 403 403 403",
             post="login 403 403 404 403 403 403"),
    ),
    "finance.provider_reveal": (
        Case("/finance/providers/{provider}/bank/reveal", get=NOT_GET,
             post="login 403 403 400 403 403 403"),
        Case(f"/finance/providers/{MISSING}/bank/reveal", get=NOT_GET,
             post="login 403 403 404 403 403 403"),
    ),
    "finance.provider_confirm_bank": (
        Case("/finance/providers/{held_provider}/bank/confirm", get=NOT_GET,
             post="login 403 403 400 403 403 403"),
        Case(f"/finance/providers/{MISSING}/bank/confirm", get=NOT_GET,
             post="login 403 403 404 403 403 403"),
    ),
    # ---------------------------------------------------------------- finance: bank files
    "finance.batch_pain001": (
        Case("/finance/batches/{batch}/pain001", get="login 403 403 200 403 403 403",
             why="a paid batch, its fund with its payer account: the file"),
        Case(f"/finance/batches/{MISSING}/pain001", get="login 403 403 404 403 403 403",
             why="the list of batches, with the reason"),
    ),
    "finance.batch_nacha": (
        Case("/finance/batches/{batch}/nacha", get="login 403 403 200 403 403 403"),
        Case(f"/finance/batches/{MISSING}/nacha", get="login 403 403 404 403 403 403"),
    ),
    "finance.fund_payments": (
        Case("/finance/funds/{fund}/payments", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403",
             why="the therapy fund; a form without its fields keeps the settings"),
        Case("/finance/funds/{grants_fund}/payments", get="login 403 403 404 403 403 403",
             post="login 403 403 404 403 403 403", why="a grants fund pays no provider"),
        Case(f"/finance/funds/{MISSING}/payments", get="login 403 403 404 403 403 403",
             post="login 403 403 404 403 403 403"),
    ),
    "finance.statements": (
        Case("/finance/statements", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403", why="an upload without its file"),
        Case("/finance/statements?page=2", get="login 403 403 200 403 403 403",
             post="login 403 403 422 403 403 403"),
    ),
    "finance.statement": (
        Case("/finance/statements/{statement}", get="login 403 403 200 403 403 403"),
        Case(f"/finance/statements/{MISSING}", get="login 403 403 404 403 403 403"),
    ),
    "finance.statement_attention": (
        Case("/finance/statements/attention", get="login 403 403 200 403 403 403"),
        Case("/finance/statements/attention?page=2", get="login 403 403 200 403 403 403"),
    ),
    # ---------------------------------------------------------------- resource hub curation
    "curation.queue": (
        Case("/hub/", get="login 200 200 403 403 403 403", navigator="200"),
    ),
    "curation.services": (
        Case("/hub/services", get="login 200 200 403 403 403 403", navigator="200"),
        Case("/hub/services?q=sam&page=2", get="login 200 200 403 403 403 403", navigator="200",
             why="a search"),
    ),
    "curation.new_service": (
        Case("/hub/services/new", get="login 403 403 403 403 403 403",
             post="login 403 403 403 403 403 403", navigator="200 422",
             why="only navigators propose"),
    ),
    "curation.edit_service": (
        Case("/hub/services/{hub_service}/edit", get="login 403 403 403 403 403 403",
             post="login 403 403 403 403 403 403", navigator="200 422"),
        Case(f"/hub/services/{MISSING}/edit", get="login 403 403 403 403 403 403",
             post="login 403 403 403 403 403 403", navigator="404 404"),
    ),
    "curation.service": (
        Case("/hub/services/{hub_service}", get="login 200 200 403 403 403 403", navigator="200"),
        Case(f"/hub/services/{MISSING}", get="login 404 404 403 403 403 403", navigator="404"),
    ),
    "curation.mark_checked": (
        Case("/hub/services/{hub_service}/checked", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 400",
             why="a date and a key: without its key, 400"),
        Case(f"/hub/services/{MISSING}/checked", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 404"),
    ),
    "curation.retire": (
        Case("/hub/services/{hub_service}/retire", get="login 403 403 403 403 403 403",
             post="login 403 403 403 403 403 403", navigator="200 422",
             why="the reason is missing"),
        Case(f"/hub/services/{MISSING}/retire", get="login 403 403 403 403 403 403",
             post="login 403 403 403 403 403 403", navigator="404 404"),
    ),
    "curation.history": (
        Case("/hub/services/{hub_service}/history", get="login 200 200 403 403 403 403",
             navigator="200"),
        Case(f"/hub/services/{MISSING}/history", get="login 404 404 403 403 403 403",
             navigator="404"),
    ),
    "curation.version": (
        Case("/hub/versions/{hub_version}", get="login 200 200 403 403 403 403", navigator="200"),
        Case(f"/hub/versions/{MISSING}", get="login 404 404 403 403 403 403", navigator="404"),
    ),
    "curation.publish": (
        Case("/hub/versions/{hub_version}/publish", get=NOT_GET,
             post="login 403 400 403 403 403 403", navigator="405 400",
             why="navigators and managers publish; a confirmation without its key is a 400"),
        Case(f"/hub/versions/{MISSING}/publish", get=NOT_GET,
             post="login 403 404 403 403 403 403", navigator="405 404"),
    ),
    "curation.send_back": (
        Case("/hub/versions/{hub_version}/send-back", get=NOT_GET,
             post="login 403 400 403 403 403 403", navigator="405 400"),
        Case(f"/hub/versions/{MISSING}/send-back", get=NOT_GET,
             post="login 403 404 403 403 403 403", navigator="405 404"),
    ),
    "curation.withdraw": (
        Case("/hub/versions/{hub_version}/withdraw", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 400",
             why="its proposer withdraws it (the domain refuses anyone else)"),
        Case(f"/hub/versions/{MISSING}/withdraw", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 404"),
    ),
    "curation.organisations": (
        Case("/hub/organisations", get="login 200 200 403 403 403 403",
             post="login 403 403 403 403 403 403", navigator="200 422",
             why="everyone who curates reads the list; navigators add"),
    ),
    # ---------------------------------------------------------------- credit holders
    "ambassador.dashboard": (Case("/wallet/", get="login 403 403 403 200 200 403"),),
    "ambassador.history": (
        Case("/wallet/{own_wallet}/gifts", get="login 403 403 403 200 404 403", why="Avery's"),
        Case("/wallet/{recipient_wallet}/received", get="login 403 403 403 404 200 403",
             why="Sam's"),
        Case("/wallet/{foreign_wallet}/redemptions", get="login 403 403 403 404 404 403",
             why="Olive's"),
    ),
    "ambassador.give": (
        Case("/wallet/{own_wallet}/give", get="login 403 403 403 200 404 403",
             post="login 403 403 403 422 404 403", why="Avery's"),
        Case("/wallet/{recipient_wallet}/give", get="login 403 403 403 404 403 403",
             post="login 403 403 403 404 422 403", why="Sam's: credit received cannot be given on"),
        Case("/wallet/{foreign_wallet}/give", get="login 403 403 403 404 404 403",
             post="login 403 403 403 404 404 403", why="Olive's"),
    ),
    "ambassador.redeem": (
        Case("/wallet/{own_wallet}/redeem", get="login 403 403 403 200 404 403",
             post="login 403 403 403 422 404 403", why="Avery's"),
        Case("/wallet/{own_wallet}/redeem?q=zo&city=nash", get="login 403 403 403 200 404 403",
             post="login 403 403 403 422 404 403", why="a search of the verified providers"),
        Case("/wallet/{recipient_wallet}/redeem", get="login 403 403 403 404 200 403",
             post="login 403 403 403 404 422 403", why="Sam's"),
        Case("/wallet/{foreign_wallet}/redeem", get="login 403 403 403 404 404 403",
             post="login 403 403 403 404 404 403", why="Olive's"),
    ),
    "ambassador.gift": (
        Case("/wallet/gifts/{own_gift}", get="login 404 404 404 200 404 404",
             why="Avery gave it, pending"),
        Case("/wallet/gifts/{received_gift}", get="login 404 404 404 200 404 404",
             why="Avery gave it, Sam claimed it: the giver's page"),
        Case("/wallet/gifts/{foreign_gift}", get="login 404 404 404 404 404 404",
             why="Olive's"),
    ),
    "ambassador.revoke": (
        Case("/wallet/gifts/{own_gift}/revoke", get=NOT_GET,
             post="login 404 404 404 400 404 404"),
        Case("/wallet/gifts/{foreign_gift}/revoke", get=NOT_GET,
             post="login 404 404 404 404 404 404"),
    ),
    "ambassador.resend": (
        Case("/wallet/gifts/{own_gift}/resend", get=NOT_GET,
             post="login 404 404 404 400 404 404"),
        Case("/wallet/gifts/{foreign_gift}/resend", get=NOT_GET,
             post="login 404 404 404 404 404 404"),
    ),
    "ambassador.redemption": (
        Case("/wallet/redemptions/{own_redemption}", get="login 404 404 404 200 404 404",
             why="Avery's"),
        Case("/wallet/redemptions/{recipient_redemption}", get="login 404 404 404 404 200 404",
             why="Sam's"),
        Case("/wallet/redemptions/{foreign_redemption}", get="login 404 404 404 404 404 404",
             why="Olive's"),
    ),
    "ambassador.cancel": (
        Case("/wallet/redemptions/{own_redemption}/cancel", get=NOT_GET,
             post="login 404 404 404 400 404 404"),
        Case("/wallet/redemptions/{foreign_redemption}/cancel", get=NOT_GET,
             post="login 404 404 404 404 404 404"),
    ),
    "ambassador.invoice": (
        Case("/wallet/redemptions/{invoiced_redemption}/invoice", get=NOT_GET,
             post="login 404 404 404 422 404 404",
             why="Avery's session: an upload without its file and key, shown again"),
        Case("/wallet/redemptions/{foreign_booking}/invoice", get=NOT_GET,
             post="login 404 404 404 404 404 404", why="Olive's: nobody else's to add to"),
        Case(f"/wallet/redemptions/{MISSING}/invoice", get=NOT_GET,
             post="login 404 404 404 404 404 404"),
    ),
    # ---------------------------------------------------------------- the partner portal
    "partner.dashboard": (
        Case("/partner/", get="login 403 403 403 403 403 200",
             why="partners' people only, not even admins"),
    ),
    "partner.funding_round": (
        Case("/partner/rounds/{funding_round}", get="login 403 403 403 403 403 200"),
        Case("/partner/rounds/{upcoming_round}", get="login 403 403 403 403 403 404",
             why="not open yet: as if it did not exist"),
        Case(f"/partner/rounds/{MISSING}", get="login 403 403 403 403 403 404"),
    ),
    "partner.start": (
        Case("/partner/rounds/{funding_round}/apply", get=NOT_GET,
             post="login 403 403 403 403 403 400", why="a button: without its key, 400"),
        Case(f"/partner/rounds/{MISSING}/apply", get=NOT_GET,
             post="login 403 403 403 403 403 400",
             why="the button is checked before the round is looked up: 400 too"),
    ),
    "partner.application": (
        Case("/partner/applications/{own_application}", get="login 403 403 403 403 403 200",
             post="login 403 403 403 403 403 400",
             why="Backline's draft; a form without its key is a 400"),
        Case("/partner/applications/{foreign_application}",
             get="login 403 403 403 403 403 404", post="login 403 403 403 403 403 404",
             why="Music Minds Matter's: 404, as if it did not exist"),
        Case(f"/partner/applications/{MISSING}", get="login 403 403 403 403 403 404",
             post="login 403 403 403 403 403 404"),
    ),
    "partner.withdraw": (
        Case("/partner/applications/{own_application}/withdraw", get=NOT_GET,
             post="login 403 403 403 403 403 400"),
        Case("/partner/applications/{foreign_application}/withdraw", get=NOT_GET,
             post="login 403 403 403 403 403 404"),
        Case(f"/partner/applications/{MISSING}/withdraw", get=NOT_GET,
             post="login 403 403 403 403 403 404"),
    ),
    "partner.application_document": (
        Case("/partner/applications/{own_application}/documents", get=NOT_GET,
             post="login 403 403 403 403 403 400", why="an upload without its key: 400"),
        Case("/partner/applications/{foreign_application}/documents", get=NOT_GET,
             post="login 403 403 403 403 403 404"),
        Case(f"/partner/applications/{MISSING}/documents", get=NOT_GET,
             post="login 403 403 403 403 403 404"),
    ),
    "partner.grant": (
        Case("/partner/grants/{grant}", get="login 403 403 403 403 403 200",
             why="the world's grant is Backline's"),
        Case("/partner/grants/{foreign_grant}", get="login 403 403 403 403 403 404"),
        Case(f"/partner/grants/{MISSING}", get="login 403 403 403 403 403 404"),
    ),
    "partner.report": (
        Case("/partner/reports/{reporting}", get="login 403 403 403 403 403 200",
             post="login 403 403 403 403 403 400", why="a form without its key: 400"),
        Case("/partner/reports/{foreign_reporting}", get="login 403 403 403 403 403 404",
             post="login 403 403 403 403 403 404"),
        Case(f"/partner/reports/{MISSING}", get="login 403 403 403 403 403 404",
             post="login 403 403 403 403 403 404"),
    ),
    "partner.report_document": (
        Case("/partner/reports/{reporting}/documents", get=NOT_GET,
             post="login 403 403 403 403 403 400", why="an upload without its key: 400"),
        Case("/partner/reports/{foreign_reporting}/documents", get=NOT_GET,
             post="login 403 403 403 403 403 404"),
        Case(f"/partner/reports/{MISSING}/documents", get=NOT_GET,
             post="login 403 403 403 403 403 404"),
    ),
    "partner.remove_document": (
        Case("/partner/documents/{own_document}/remove", get=NOT_GET,
             post="login 403 403 403 403 403 400", why="a button: without its key, 400"),
        Case("/partner/documents/{foreign_document}/remove", get=NOT_GET,
             post="login 403 403 403 403 403 400",
             why="the button is checked before the document is looked up: 400 too (with "
                 "its key, 404: see test_portal_isolation)"),
        Case(f"/partner/documents/{MISSING}/remove", get=NOT_GET,
             post="login 403 403 403 403 403 400"),
    ),
    "documents.download": (
        Case("/documents/{own_document}", get="login 200 200 200 404 404 200",
             why="its partner's people, managers, finance and admins read it; to anyone "
                 "else it does not exist (readable_document: 404, whatever the role)"),
        Case("/documents/{own_report_document}", get="login 200 200 200 404 404 200",
             why="of the version of Backline's report being written"),
        Case("/documents/{foreign_document}", get="login 200 200 200 404 404 404",
             why="Music Minds Matter's: 404 for Backline's person"),
        Case("/documents/{own_invoice}", get="login 404 404 200 200 404 404",
             why="a provider's invoice is health information: finance and the person who "
                 "booked the session (Avery) read it; managers and admins do not"),
        Case("/documents/{foreign_invoice}", get="login 404 404 200 404 404 404",
             why="Olive's invoice: 404 for Avery"),
        Case(f"/documents/{MISSING}", get="login 404 404 404 404 404 404"),
    ),
    # ---------------------------------------------------------------- help desk: the public side
    "care.ask": (
        Case("/care/", get="200 200 200 200 200 200 200", post="400 400 400 400 400 400 400",
             navigator="200 400",
             why="public: anyone asks for help, signed in or not; a form without its key (and "
                 "its signed stamp) is refused as incomplete, 400, and makes no request"),
        Case("/care/?country=GB", get="200 200 200 200 200 200 200",
             post="400 400 400 400 400 400 400", navigator="200 400",
             why="the country chosen first: its crisis lines above the form"),
        Case("/care/?country=ZZ", get="400 400 400 400 400 400 400",
             post="400 400 400 400 400 400 400", navigator="400 400",
             why="no such country: the chooser again, 400"),
    ),
    "care.open_link": (
        Case("/care/link/{help_link}", get="200 200 200 200 200 200 200",
             post="302 302 302 302 302 302 302", navigator="200 302", fresh_link=True,
             why="the link is the proof, whoever holds it: a page with one button (reading "
                 "it uses nothing); the button is the whole form, so each visitor presses it "
                 "on a fresh link of the request's and is let in (see Case.fresh_link)"),
        Case("/care/link/not-a-real-token", get="404 404 404 404 404 404 404",
             post="404 404 404 404 404 404 404", navigator="404 404", why="unknown link"),
    ),
    "care.request_page": (
        Case("/care/requests/{help_request}", get="404 404 404 404 200 404 404", navigator="404",
             why="Avery's request, made while she was signed in: her account opens it; no "
                 "one else's does, not even her partner's navigator (who has /helpdesk/), "
                 "and no visitor holds its device cookie"),
        Case("/care/requests/{foreign_help_request}", get="404 404 404 404 404 404 404",
             navigator="404", why="made by someone not signed in: only their device opens it"),
        Case("/care/requests/HD-0000-0000", get="404 404 404 404 404 404 404", navigator="404",
             why="no such request"),
        Case("/care/requests/not-a-reference", get="404 404 404 404 404 404 404",
             navigator="404"),
    ),
    "care.answer": (
        Case("/care/requests/{help_request}/answer", get=NOT_GET,
             post="404 404 404 404 400 404 404", navigator="405 404",
             why="only whoever opens the request answers in it (anyone else: 404); Avery's "
                 "answer without its key is a 400, like every form's"),
        Case("/care/requests/{foreign_help_request}/answer", get=NOT_GET,
             post="404 404 404 404 404 404 404", navigator="405 404"),
        Case("/care/requests/HD-0000-0000/answer", get=NOT_GET,
             post="404 404 404 404 404 404 404", navigator="405 404"),
    ),
    "care.erase": (
        Case("/care/requests/{help_request}/erase", get=NOT_GET,
             post="404 404 404 404 400 404 404", navigator="405 404",
             why="only whoever opens the request erases it (anyone else: 404); Avery's "
                 "erasure without its key is a 400, like every form's"),
        Case("/care/requests/{foreign_help_request}/erase", get=NOT_GET,
             post="404 404 404 404 404 404 404", navigator="405 404"),
        Case("/care/requests/HD-0000-0000/erase", get=NOT_GET,
             post="404 404 404 404 404 404 404", navigator="405 404"),
    ),
    # ---------------------------------------------------------------- help desk: the navigators
    "helpdesk.queue": (
        Case("/helpdesk/", get="login 403 403 403 403 403 403", navigator="200",
             why="navigators only, not even admins: their partner's requests, no content"),
        Case("/helpdesk/?show=closed&page=2", get="login 403 403 403 403 403 403", navigator="200"),
    ),
    "helpdesk.request_page": (
        Case("/helpdesk/requests/{help_request}", get="login 403 403 403 403 403 403",
             navigator="200", why="routed to Backline, whose desk the navigator works at"),
        Case("/helpdesk/requests/{foreign_help_request}", get="login 403 403 403 403 403 403",
             navigator="404", why="routed to another partner: 404, as if it did not exist"),
        Case("/helpdesk/requests/HD-0000-0000", get="login 403 403 403 403 403 403",
             navigator="404"),
    ),
    "helpdesk.assign": (
        Case("/helpdesk/requests/{help_request}/assign", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 400",
             why="a button: without its key, 400"),
        Case("/helpdesk/requests/{foreign_help_request}/assign", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 404"),
        Case("/helpdesk/requests/HD-0000-0000/assign", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 404"),
    ),
    "helpdesk.reply": (
        Case("/helpdesk/requests/{help_request}/reply", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 400",
             why="a form without its key is a 400"),
        Case("/helpdesk/requests/{foreign_help_request}/reply", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 404"),
        Case("/helpdesk/requests/HD-0000-0000/reply", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 404"),
    ),
    "helpdesk.close": (
        Case("/helpdesk/requests/{help_request}/close", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 400",
             why="a form without its key is a 400"),
        Case("/helpdesk/requests/{foreign_help_request}/close", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 404"),
        Case("/helpdesk/requests/HD-0000-0000/close", get=NOT_GET,
             post="login 403 403 403 403 403 403", navigator="405 404"),
    ),
    # ---------------------------------------------------------------- help desk: admins, managers
    "admin.helpdesk": (
        Case("/admin/helpdesk", get="login 200 403 403 403 403 403", navigator="403",
             why="routes, working weeks and navigators' partners: admins only"),
    ),
    "admin.set_route": (
        Case("/admin/helpdesk/routes", get=NOT_GET, post="login 400 403 403 403 403 403",
             navigator="405 403", why="a form without its key is a 400"),
    ),
    "admin.remove_route": (
        Case("/admin/helpdesk/routes/{help_route}/remove", get=NOT_GET,
             post="login 400 403 403 403 403 403", navigator="405 403",
             why="a button: without its key, 400"),
        Case(f"/admin/helpdesk/routes/{MISSING}/remove", get=NOT_GET,
             post="login 400 403 403 403 403 403", navigator="405 403",
             why="the button is checked before the route is looked up: 400 too"),
    ),
    "admin.set_week": (
        Case("/admin/helpdesk/partners/{partner}/week", get=NOT_GET,
             post="login 400 403 403 403 403 403", navigator="405 403",
             why="a form without its key is a 400"),
        Case("/admin/helpdesk/partners/{other_partner}/week", get=NOT_GET,
             post="login 400 403 403 403 403 403", navigator="405 403"),
        Case(f"/admin/helpdesk/partners/{MISSING}/week", get=NOT_GET,
             post="login 404 403 403 403 403 403", navigator="405 403"),
    ),
    "admin.set_navigator": (
        Case("/admin/helpdesk/navigators/{navigator}", get=NOT_GET,
             post="login 400 403 403 403 403 403", navigator="405 403",
             why="a form without its key is a 400; a navigator cannot move themselves"),
        Case(f"/admin/helpdesk/navigators/{MISSING}", get=NOT_GET,
             post="login 404 403 403 403 403 403", navigator="405 403"),
    ),
    "admin.helpdesk_requests": (
        Case("/admin/helpdesk/requests", get="login 200 403 403 403 403 403", navigator="403",
             why="the open requests without their content, to re-route one"),
        Case("/admin/helpdesk/requests?page=2", get="login 200 403 403 403 403 403",
             navigator="403"),
    ),
    "admin.reroute": (
        Case("/admin/helpdesk/requests/{help_request}/reroute", get=NOT_GET,
             post="login 400 403 403 403 403 403", navigator="405 403",
             why="a form without its key is a 400"),
        Case("/admin/helpdesk/requests/{foreign_help_request}/reroute", get=NOT_GET,
             post="login 400 403 403 403 403 403", navigator="405 403"),
        Case("/admin/helpdesk/requests/HD-0000-0000/reroute", get=NOT_GET,
             post="login 400 403 403 403 403 403", navigator="405 403",
             why="the form is checked before the request is looked up: 400 too"),
    ),
    "manager.helpdesk_figures_page": (
        Case("/manager/helpdesk", get="login 200 200 403 403 403 403", navigator="403",
             why="counts and times only, for managers and admins"),
        Case("/manager/helpdesk?year={year}", get="login 200 200 403 403 403 403",
             navigator="403"),
    ),
}
# fmt: on


def answer(response: TestResponse) -> str:
    """The table's name for a response: ``login`` for a redirect to sign in, else the code."""
    response.get_data()
    response.close()
    if response.status_code == 302 and response.headers["Location"].startswith("/login"):
        return "login"
    return str(response.status_code)


def test_every_route_answers_every_visitor_as_the_table_says(app: Flask, db: Session) -> None:
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    assert not set(rules) - set(MATRIX), (
        f"routes missing from the table: {set(rules) - set(MATRIX)}"
    )
    assert not set(MATRIX) - set(rules), (
        f"the table names no such route: {set(MATRIX) - set(rules)}"
    )
    served_by_get = {rule.rule for rule in rules.values() if "GET" in (rule.methods or ())}
    for endpoint, rule in rules.items():
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        assert methods <= {"GET", "POST"}, f"{endpoint} accepts {methods}: add them to the table"
        for case in MATRIX[endpoint]:
            assert (case.post is not None) == ("POST" in methods), f"{endpoint}: POST answers"
            get_elsewhere = "GET" not in methods and rule.rule in served_by_get
            assert ("GET" in methods or get_elsewhere) != (case.get == NOT_GET), endpoint
            assert len(case.get.split()) == len(ROLES), f"{endpoint}: {case.get}"
            if endpoint.startswith("curation.") or endpoint in HELP_DESK:
                answers = 2 if "POST" in methods else 1
                assert len(case.navigator.split()) == answers, f"{endpoint}: navigator"
            assert not case.fresh_link or "{help_link}" in case.path, endpoint
        if rule.arguments - {"filename"}:
            assert len(MATRIX[endpoint]) >= 2, f"{endpoint}: try another's object, or a missing one"

    world = build_security_world(app, db)
    visitors = clients(app, world)
    tokens = {role: token_of(visitors[role], role) for role in VISITORS}
    wrong: list[str] = []
    for endpoint, cases in MATRIX.items():
        for case in cases:
            path = world.path(case.path)
            for role, expected in zip(ROLES, case.get.split(), strict=True):
                got = answer(visitors[role].get(path))
                if got != expected:
                    wrong.append(f"GET  {path} as {role}: {got}, table says {expected}")
            navigator = case.navigator.split()
            if navigator:
                got = answer(visitors[NAVIGATOR].get(path))
                if got != navigator[0]:
                    wrong.append(f"GET  {path} as navigator: {got}, table says {navigator[0]}")
            if case.fresh_link:
                presses = list(zip(ROLES, (case.post or "").split(), strict=True))
                presses += [(NAVIGATOR, navigator[1])]
                wrong += pressed_on_fresh_links(app, db, world, presses)
                continue
            if navigator[1:]:
                before = snapshot(app, db)
                got = answer(visitors[NAVIGATOR].post(path, data={"csrf_token": tokens[NAVIGATOR]}))
                if got != navigator[1]:
                    wrong.append(f"POST {path} as navigator: {got}, table says {navigator[1]}")
                if snapshot(app, db) != before:
                    wrong.append(f"POST {path} as navigator with no fields changed the database")
            if case.post is None:
                continue
            for role, expected in zip(ROLES, case.post.split(), strict=True):
                client, token = visitors[role], tokens[role]
                if endpoint == "auth.logout":
                    client = (
                        app.test_client()
                        if role == "anonymous"
                        else sign_in(app, world.emails[role])
                    )
                    token = token_of(client, role)
                before = snapshot(app, db)
                got = answer(client.post(path, data={"csrf_token": token}))
                if got != expected:
                    wrong.append(f"POST {path} as {role}: {got}, table says {expected}")
                if endpoint == "auth.logout":
                    if role != "anonymous":
                        visitors[role] = sign_in(app, world.emails[role])
                        tokens[role] = token_of(visitors[role], role)
                    continue
                if snapshot(app, db) != before:
                    wrong.append(f"POST {path} as {role} with no fields changed the database")
    assert not wrong, "\n".join(wrong)


def pressed_on_fresh_links(
    app: Flask, db: Session, world: SecurityWorld, presses: list[tuple[str, str]]
) -> list[str]:
    """Each visitor in ``presses`` presses a private link's button with just a CSRF token, on
    a fresh link to Avery's request and from a client of their own: what went otherwise than
    ``presses`` says. A press that lets the device in must use up that link and no other."""
    wrong = []
    for role, expected in presses:
        client = app.test_client() if role == "anonymous" else sign_in(app, world.emails[role])
        token = token_of(client, role)
        db.rollback()
        link = helpdesk_links.new_link(db, world.help_request_id, LinkKind.LINK, now=clock.now())
        db.commit()
        got = answer(client.post(f"/care/link/{link}", data={"csrf_token": token}))
        if got != expected:
            wrong.append(f"POST a fresh private link as {role}: {got}, table says {expected}")
        db.rollback()
        if helpdesk_links.link_works(db, link, now=clock.now()) is not None:
            wrong.append(f"POST a fresh private link as {role} left the link unused")
        if helpdesk_links.link_works(db, world.help_link, now=clock.now()) is None:
            wrong.append(f"POST a fresh private link as {role} used up the world's link")
        db.rollback()
    return wrong


STAFF_AND_WALLET_SCREENS = (
    "admin.",
    "manager.",
    "finance.",
    "ambassador.",
    "partner.",
    "documents.",
)
"""Endpoint families a navigator has no business in."""


def test_a_navigator_reaches_no_staff_or_wallet_screen(app: Flask, db: Session) -> None:
    """A navigator answers as someone without the screen's role: as finance does on a
    credit holder's screens (no wallet), as a recipient does on the staff screens."""
    world = build_security_world(app, db)
    visitors = clients(app, world)
    token = token_of(visitors[NAVIGATOR], NAVIGATOR)
    wrong: list[str] = []
    tried = 0
    for endpoint, cases in MATRIX.items():
        if not endpoint.startswith(STAFF_AND_WALLET_SCREENS):
            continue
        like = "finance" if endpoint.startswith("ambassador.") else "recipient"
        for case in cases:
            path = world.path(case.path)
            expected = case.get.split()[ROLES.index(like)]
            got = answer(visitors[NAVIGATOR].get(path))
            tried += 1
            if got != expected:
                wrong.append(f"GET  {path} as navigator: {got}, as {like}: {expected}")
            if case.post is None:
                continue
            expected = case.post.split()[ROLES.index(like)]
            before = snapshot(app, db)
            got = answer(visitors[NAVIGATOR].post(path, data={"csrf_token": token}))
            if got != expected:
                wrong.append(f"POST {path} as navigator: {got}, as {like}: {expected}")
            if snapshot(app, db) != before:
                wrong.append(f"POST {path} as navigator changed the database")
    assert tried > 80, tried
    assert not wrong, "\n".join(wrong)


def test_the_snapshot_sees_every_change_to_the_help_desk(app: Flask, db: Session) -> None:
    """What the matrix and the CSRF tests hold a refused request to: a change to any help
    desk table, or to the partner a navigator works for, changes the snapshot."""
    world = build_security_world(app, db)
    changes = {
        "users.partner_id": update(User)
        .where(User.id == world.navigator)
        .values(partner_id=world.other_partner),
        "helpdesk_routes": update(HelpdeskRoute)
        .where(HelpdeskRoute.id == world.help_route)
        .values(language="es"),
        "help_requests": update(HelpRequest)
        .where(HelpRequest.id == world.help_request_id)
        .values(urgent=True),
        "help_links": update(HelpLink)
        .where(HelpLink.request_id == world.help_request_id)
        .values(used_at=clock.now()),
        "help_messages": insert(HelpMessage).values(
            request_id=world.help_request_id,
            author=Author.REQUESTER,
            body="Thank you.",
            services=[],
            created_at=clock.now(),
        ),
    }
    before = snapshot(app, db)
    for what, change in changes.items():
        db.execute(change)
        db.commit()
        after = snapshot(app, db)
        assert after != before, f"the snapshot missed a change to {what}"
        before = after


def test_a_refused_upload_to_a_report_begins_no_version(app: Flask, db: Session) -> None:
    """An upload to a report nobody has begun writing: sent with just a CSRF token (a 400)
    or with a file that is not taken (flashed, back to the report), it writes nothing, not
    even the version the document would have gone to; a PNG begins the version and is
    attached to it."""
    world = build_security_world(app, db)
    manager = db.scalars(select(User).where(User.email == world.emails["manager"])).one()
    grant = approved_grant(
        db,
        drafter=db.get_one(User, world.drafter),
        approver=manager,
        fund=world.grants_fund,
        partner=world.partner,
    )
    requirement = reports_of(db, grant)[0]
    db.commit()
    partner = sign_in(app, world.emails["partner"])
    path = f"/partner/reports/{requirement}/documents"
    fields = form_fields(partner, f"/partner/reports/{requirement}", path)
    before, files = snapshot(app, db), stored_files(app)
    assert answer(partner.post(path, data={"csrf_token": fields["csrf_token"]})) == "400"
    assert snapshot(app, db) == before
    page = b"<html><script>alert(1)</script></html>"
    refused = partner.post(path, data={**fields, "document": (io.BytesIO(page), "logo.png")})
    assert answer(refused) == "303"
    assert (snapshot(app, db), stored_files(app)) == (before, files)
    taken = partner.post(path, data={**fields, "document": (io.BytesIO(PNG), "logo.png")})
    assert answer(taken) == "303"
    db.rollback()
    version = db.scalars(select(ReportVersion).where(ReportVersion.requirement_id == requirement))
    document = db.scalars(select(Document).where(Document.report_version_id == version.one().id))
    assert document.one().filename == "logo.png"
    db.rollback()
