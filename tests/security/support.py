"""Helpers the security tests share: the form of every state-changing route and how to read
it as a browser would, and what a refused request must leave as it was."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants.domain.audit import verify_chain
from grants.domain.ledger import verify_ledger
from grants.extensions import db as database
from grants.models import Fund, IdempotencyRecord, LedgerTransaction
from grants.reports.fingerprint import ledger_fingerprint
from grants.web.documents import uploads_folder
from tests.support import forms_on

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

FORMS: dict[str, tuple[str, str, str | None]] = {
    "auth.login": ("anonymous", "/login", "/login"),
    "auth.logout": ("ambassador", "/wallet/", "/logout"),
    "notifications.mark_read": ("ambassador", "/notifications/", "/notifications/read"),
    "notifications.settings": ("ambassador", "/notifications/settings", None),
    "account.forgot_password": ("anonymous", "/password/forgot", None),
    "account.reset_password": ("anonymous", "/password/reset/{reset_token}", None),
    "account.profile": ("ambassador", "/account", None),
    "account.change_password": ("ambassador", "/account/password", None),
    "account.change_email": ("ambassador", "/account/email", None),
    "account.confirm_email": ("anonymous", "/account/email/confirm/{email_token}", None),
    "claim.claim": ("anonymous", "/claim/{foreign_token}", None),
    "admin.new_support_line": ("admin", "/admin/support-lines/new", None),
    "admin.edit_support_line": ("admin", "/admin/support-lines/{support_line}/edit", None),
    "admin.set_user_active": ("admin", "/admin/", "/admin/users/{drafter}/deactivate"),
    "admin.invite": ("admin", "/admin/users/invite", None),
    "admin.change_access": ("admin", "/admin/users/{drafter}", "/admin/users/{drafter}/access"),
    "admin.invitation": (
        "admin",
        "/admin/users/{invited}",
        "/admin/users/{invited}/invitation/revoke",
    ),
    "admin.new_programme": ("admin", "/admin/programmes/new", None),
    "admin.edit_programme": ("admin", "/admin/programmes/{programme}/edit", None),
    "invitations.accept": ("anonymous", "/invitations/{invitation_token}", None),
    "manager.allocate_to_cohort": (
        "manager",
        "/manager/allowances/cohort?fund_id={fund}&amount=10&programme=&country=",
        "/manager/allowances/cohort",
    ),
    "manager.new_allowance": ("manager", "/manager/allowances/new?ambassador=1", None),
    "manager.cohort_import_upload": ("manager", "/manager/cohort-import", None),
    "manager.cohort_import_confirm": ("manager", "/manager/cohort-import/{cohort_upload}", None),
    "manager.new_fund": ("manager", "/manager/funds/new", None),
    "manager.fund": ("manager", "/manager/funds/{fund}", None),
    "manager.new_grant": ("manager", "/manager/grants/new", None),
    "manager.edit_grant": ("manager", "/manager/grants/{grant}/edit", None),
    "manager.decide": ("manager", "/manager/grants/{grant}", "/manager/grants/{grant}/close"),
    "manager.decide_with_reason": (
        "manager",
        "/manager/grants/{grant}",
        "/manager/grants/{grant}/cancel",
    ),
    "manager.report_received": (
        "manager",
        "/manager/grants/{grant}",
        "/manager/reports/{reporting}/received",
    ),
    "manager.new_partner": ("manager", "/manager/partners/new", None),
    "manager.edit_partner": ("manager", "/manager/partners/{partner}/edit", None),
    "manager.toggle_partner": (
        "manager",
        "/manager/partners/{partner}",
        "/manager/partners/{partner}/active",
    ),
    "finance.pay": ("finance", "/finance/tranches/{tranche}/pay", None),
    "finance.approve": (
        "finance",
        "/finance/redemptions/{foreign_redemption}",
        "/finance/redemptions/{foreign_redemption}/approve",
    ),
    "finance.reject": (
        "finance",
        "/finance/redemptions/{foreign_redemption}",
        "/finance/redemptions/{foreign_redemption}/reject",
    ),
    "finance.payouts": ("finance", "/finance/payouts", None),
    "finance.report_pdf_download": (
        "finance",
        "/finance/reports?currency=USD&year={year}",
        "/finance/reports/pdf",
    ),
    "finance.retry_report_job": (
        "finance",
        "/finance/reports/jobs/{job}",
        "/finance/reports/jobs/{job}/retry",
    ),
    "finance.provider_new": ("finance", "/finance/providers/new", None),
    "finance.provider_edit": ("finance", "/finance/providers/{provider}/edit", None),
    "finance.provider_verify": (
        "finance",
        "/finance/providers/{proposed_provider}",
        "/finance/providers/{proposed_provider}/verify",
    ),
    "finance.provider_suspend": (
        "finance",
        "/finance/providers/{proposed_provider}",
        "/finance/providers/{proposed_provider}/suspend",
    ),
    "finance.provider_bank": ("finance", "/finance/providers/{held_provider}/bank", None),
    "finance.provider_reveal": (
        "finance",
        "/finance/providers/{provider}",
        "/finance/providers/{provider}/bank/reveal",
    ),
    "finance.provider_confirm_bank": (
        "finance",
        "/finance/providers/{held_provider}",
        "/finance/providers/{held_provider}/bank/confirm",
    ),
    "finance.fund_payments": ("finance", "/finance/funds/{fund}/payments", None),
    "finance.statements": ("finance", "/finance/statements", None),
    "ambassador.give": ("ambassador", "/wallet/{own_wallet}/give", None),
    "ambassador.redeem": ("ambassador", "/wallet/{own_wallet}/redeem", None),
    "ambassador.revoke": (
        "ambassador",
        "/wallet/gifts/{own_gift}",
        "/wallet/gifts/{own_gift}/revoke",
    ),
    "ambassador.resend": (
        "ambassador",
        "/wallet/gifts/{own_gift}",
        "/wallet/gifts/{own_gift}/resend",
    ),
    "ambassador.cancel": (
        "ambassador",
        "/wallet/redemptions/{own_redemption}",
        "/wallet/redemptions/{own_redemption}/cancel",
    ),
    "ambassador.invoice": (
        "ambassador",
        "/wallet/redemptions/{invoiced_redemption}",
        "/wallet/redemptions/{invoiced_redemption}/invoice",
    ),
    "curation.new_service": ("navigator", "/hub/services/new", None),
    "curation.edit_service": ("navigator", "/hub/services/{hub_service}/edit", None),
    "curation.mark_checked": (
        "navigator",
        "/hub/services/{hub_service}",
        "/hub/services/{hub_service}/checked",
    ),
    "curation.retire": ("navigator", "/hub/services/{hub_service}/retire", None),
    "curation.publish": (
        "navigator",
        "/hub/versions/{hub_version}",
        "/hub/versions/{hub_version}/publish",
    ),
    "curation.send_back": (
        "navigator",
        "/hub/versions/{hub_version}",
        "/hub/versions/{hub_version}/send-back",
    ),
    "curation.withdraw": (
        "navigator",
        "/hub/versions/{hub_version}",
        "/hub/versions/{hub_version}/withdraw",
    ),
    "curation.organisations": ("navigator", "/hub/organisations", None),
    "care.ask": ("anonymous", "/care/?country=US", "/care/"),
    "care.open_link": ("anonymous", "/care/link/{help_link}", None),
    "care.answer": (
        "ambassador",
        "/care/requests/{help_request}",
        "/care/requests/{help_request}/answer",
    ),
    "care.erase": (
        "ambassador",
        "/care/requests/{help_request}",
        "/care/requests/{help_request}/erase",
    ),
    "helpdesk.assign": (
        "navigator",
        "/helpdesk/requests/{help_request}",
        "/helpdesk/requests/{help_request}/assign",
    ),
    "helpdesk.reply": (
        "navigator",
        "/helpdesk/requests/{help_request}",
        "/helpdesk/requests/{help_request}/reply",
    ),
    "helpdesk.close": (
        "navigator",
        "/helpdesk/requests/{help_request}",
        "/helpdesk/requests/{help_request}/close",
    ),
    "admin.set_route": ("admin", "/admin/helpdesk", "/admin/helpdesk/routes"),
    "admin.remove_route": (
        "admin",
        "/admin/helpdesk",
        "/admin/helpdesk/routes/{help_route}/remove",
    ),
    "admin.set_week": ("admin", "/admin/helpdesk", "/admin/helpdesk/partners/{partner}/week"),
    "admin.set_navigator": (
        "admin",
        "/admin/helpdesk",
        "/admin/helpdesk/navigators/{navigator}",
    ),
    "admin.reroute": (
        "admin",
        "/admin/helpdesk/requests",
        "/admin/helpdesk/requests/{help_request}/reroute",
    ),
    "partner.start": (
        "partner",
        "/partner/rounds/{funding_round}",
        "/partner/rounds/{funding_round}/apply",
    ),
    "partner.application": ("partner", "/partner/applications/{own_application}", None),
    "partner.withdraw": (
        "partner",
        "/partner/applications/{own_application}",
        "/partner/applications/{own_application}/withdraw",
    ),
    "partner.application_document": (
        "partner",
        "/partner/applications/{own_application}",
        "/partner/applications/{own_application}/documents",
    ),
    "partner.remove_document": (
        "partner",
        "/partner/applications/{own_application}",
        "/partner/documents/{own_document}/remove",
    ),
    "partner.report": ("partner", "/partner/reports/{reporting}", None),
    "partner.report_document": (
        "partner",
        "/partner/reports/{reporting}",
        "/partner/reports/{reporting}/documents",
    ),
    "manager.new_round": ("manager", "/manager/rounds/new", None),
    "manager.edit_round": ("manager", "/manager/rounds/{funding_round}/edit", None),
    "manager.declare_conflict": (
        "manager",
        "/manager/applications/{foreign_application}",
        "/manager/applications/{foreign_application}/declare",
    ),
    "manager.score_application": (
        "manager",
        "/manager/applications/{foreign_application}",
        "/manager/applications/{foreign_application}/score",
    ),
    "manager.award_application": (
        "manager",
        "/manager/applications/{foreign_application}",
        "/manager/applications/{foreign_application}/award",
    ),
    "manager.decline_application": (
        "manager",
        "/manager/applications/{foreign_application}",
        "/manager/applications/{foreign_application}/decline",
    ),
    "manager.accept_report": (
        "manager",
        "/manager/reports/{foreign_reporting}",
        "/manager/reports/{foreign_reporting}/accept",
    ),
    "manager.ask_for_changes": (
        "manager",
        "/manager/reports/{foreign_reporting}",
        "/manager/reports/{foreign_reporting}/changes",
    ),
    "manager.tranche_release": (
        "manager",
        "/manager/grants/{foreign_grant}",
        "/manager/tranches/{foreign_tranche}/release",
    ),
    "manager.invite_partner_person": (
        "manager",
        "/manager/partners/{partner}",
        "/manager/partners/{partner}/people",
    ),
}
"""Per state-changing route: who may use it, the page showing its form, and where the form
posts (``None``: back to the page)."""


def shown_form(client: FlaskClient, page: str, action: str | None) -> dict[str, str]:
    """The fields of the form on ``page`` that posts to ``action``, as a browser sends them;
    a confirmation the page does not offer in this state is just its idempotency key."""
    targets = {action} if action else {"", page}
    for target, fields in forms_on(client, page):
        if target in targets and "csrf_token" in fields:
            return fields
    return {"csrf_token": "", "key": "a-confirmation-key"}


def text(response: TestResponse) -> str:
    """The body as text (undecodable bytes, as in a PDF, replaced), the response closed."""
    body = response.get_data().decode("utf-8", "replace")
    response.close()
    return body


def changing_endpoints(app: Flask) -> set[str]:
    return {
        rule.endpoint for rule in app.url_map.iter_rules() if (rule.methods or set()) & CHANGING
    }


@dataclass(frozen=True)
class Tally:
    """What a refused request must leave as it was: the rows of every table, the ledger's
    fingerprint, and the last idempotency record (a refusal may be recorded under its key)."""

    rows: dict[str, int]
    fingerprint: str
    last_record: int


def tally(session: Session) -> Tally:
    """The database's :class:`Tally` now, read in a transaction of its own."""
    session.rollback()
    counts = union_all(
        *(
            select(literal(table.name).label("name"), func.count().label("rows")).select_from(table)
            for table in database.metadata.sorted_tables
        )
    )
    rows = {name: int(count) for name, count in session.execute(counts)}
    position = session.scalar(select(func.max(LedgerTransaction.id))) or 0
    funds = list(session.scalars(select(Fund.id)))
    last_record = session.scalar(select(func.max(IdempotencyRecord.id))) or 0
    found = Tally(rows, ledger_fingerprint(session, position=position, fund_ids=funds), last_record)
    session.rollback()
    return found


def unchanged_but_a_recorded_refusal(session: Session, before: Tally) -> list[str]:
    """What changed since ``before``, beyond the one idempotency record a domain refusal
    may leave so that a retry gets the same refusal; an empty list when nothing did."""
    after = tally(session)
    problems = []
    if after.fingerprint != before.fingerprint:
        problems.append("the ledger fingerprint changed")
    for name, count in after.rows.items():
        allowed = 1 if name == IdempotencyRecord.__tablename__ else 0
        if not 0 <= count - before.rows.get(name, 0) <= allowed:
            problems.append(f"{name}: {before.rows.get(name, 0)} rows before, {count} after")
    outcomes = session.scalars(
        select(IdempotencyRecord.outcome).where(IdempotencyRecord.id > before.last_record)
    ).all()
    problems += [f"a key recorded {outcome}" for outcome in outcomes if '"refusal"' not in outcome]
    session.rollback()
    return problems


def stored_files(app: Flask) -> dict[str, int]:
    """Every file in ``app``'s uploads folder (temporary ones too), by name, with its size:
    equal before and after a request that stored and removed no file."""
    folder = uploads_folder(app)
    return {
        str(path.relative_to(folder)): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def ledger_problems(session: Session) -> list[str]:
    """Whatever ``ledger verify`` and ``audit verify`` would report."""
    session.rollback()
    problems = verify_ledger(session) + verify_chain(session)
    session.rollback()
    return problems
