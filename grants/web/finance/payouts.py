"""Finance and therapy payouts: the queue of requested redemptions, approving or rejecting
each, paying approved ones in batches, and the CSV the providers are paid from.

Beside each request finance sees its provider in the directory, where they stand (a
proposed provider is verified before any of their sessions is approved) and the invoices
the person who booked it gave. Provider names and session dates are health details: these
screens are finance's only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from grants import clock
from grants.domain.errors import DomainError
from grants.domain.invoices import invoices_of
from grants.domain.payouts import (
    pay_redemptions,
    payout_batches,
    payout_csv,
    payout_lines,
    redemption_queue,
)
from grants.domain.providers import payment_blocker
from grants.domain.redemptions import approve_redemption, reject_redemption
from grants.extensions import db
from grants.models import (
    Ambassador,
    Document,
    Fund,
    Programme,
    Provider,
    ProviderStatus,
    Redemption,
    RedemptionState,
    Role,
    User,
    Wallet,
)
from grants.web import roles_required
from grants.web.actions import accepted, new_key, read, refusal_status, submit
from grants.web.finance.blueprint import bp
from grants.web.finance.forms import ApprovalForm, PayoutBatchForm, RejectionForm
from grants.web.hooks import local_today, money
from grants.web.listing import requested_page

PAYOUTS_PER_PAGE = 100
"""Approved redemptions listed per page, each one a candidate for the batch."""
PROVIDER_PAGE = "finance.provider"
"""The endpoint of a provider's page in finance's directory, linked where it exists."""


@dataclass(frozen=True)
class Paperwork:
    """What finance checks beside a request before approving it: its provider in the
    directory (``None`` for a session booked by name only, before the directory), how many
    invoices or receipts it has, and whether its fund asks for one."""

    provider: Provider | None
    invoices: int
    invoice_required: bool

    @property
    def standing(self) -> str | None:
        """Where the provider stands: Proposed, Verified, Suspended or Payouts held."""
        provider = self.provider
        if provider is None:
            return None
        if provider.status is ProviderStatus.SUSPENDED:
            return "Suspended"
        if provider.status is ProviderStatus.PROPOSED:
            return "Proposed"
        return "Payouts held" if provider.payouts_held else "Verified"

    @property
    def blocker(self) -> str | None:
        """Why the session cannot be approved now, whatever finance writes; else ``None``."""
        return payment_blocker(self.provider)

    @property
    def needs_waiver(self) -> bool:
        """Whether approving needs a reason for approving without an invoice."""
        return self.provider is not None and self.invoice_required and not self.invoices


@bp.route("/redemptions")
@roles_required(Role.FINANCE)
def redemptions() -> ResponseReturnValue:
    """Redemptions waiting for a decision, oldest request first."""
    page = redemption_queue(
        db.session(),
        actor=current_user,
        state=RedemptionState.REQUESTED,
        page=requested_page(request),
    )
    return render_template(
        "finance/redemptions.html",
        page=page,
        keys={r.id: new_key() for r in page.items},
        paperwork=_paperwork([r.id for r in page.items]),
        provider_page=PROVIDER_PAGE in current_app.view_functions,
    )


@bp.route("/redemptions/<int:redemption_id>")
@roles_required(Role.FINANCE)
def redemption(redemption_id: int) -> ResponseReturnValue:
    """One redemption with its details, and the decision forms while it waits."""
    return _show_redemption(_found(redemption_id))


@bp.route("/redemptions/<int:redemption_id>/approve", methods=["POST"])
@roles_required(Role.FINANCE)
def approve(redemption_id: int) -> ResponseReturnValue:
    """Approve the payout: the credit becomes payable to the provider. Where the fund asks
    for an invoice and the session has none, the form says why finance approves anyway."""
    found = _found(redemption_id)
    form = ApprovalForm()
    if not accepted(form):
        return _show_redemption(found, approve_form=form), 422
    outcome = submit(
        form,
        lambda: approve_redemption(
            db.session(),
            key=form.key.data,
            actor=current_user,
            redemption_id=found.id,
            now=clock.now(),
            invoice_waiver=form.invoice_waiver.data or "",
        ),
    )
    if not outcome.done:
        return _show_redemption(found, approve_form=form), outcome.status
    assert outcome.result is not None
    if outcome.result.replayed:
        flash("This redemption was already approved.", "success")
    else:
        flash(
            f"Approved {money(found.amount, found.currency)} for {found.provider_name}.", "success"
        )
    return redirect(url_for("finance.redemptions"))


@bp.route("/redemptions/<int:redemption_id>/reject", methods=["POST"])
@roles_required(Role.FINANCE)
def reject(redemption_id: int) -> ResponseReturnValue:
    """Reject the payout with a reason; the credit goes back to the redeemer."""
    found = _found(redemption_id)
    form = RejectionForm()
    outcome = submit(
        form,
        lambda: reject_redemption(
            db.session(),
            key=form.key.data,
            actor=current_user,
            redemption_id=found.id,
            reason=form.reason.data or "",
            now=clock.now(),
        ),
    )
    if not outcome.done:
        return _show_redemption(found, reject_form=form), outcome.status
    assert outcome.result is not None
    if outcome.result.replayed:
        flash("This redemption was already rejected.", "success")
    else:
        flash("The redemption was rejected; the credit is back with its redeemer.", "success")
    return redirect(url_for("finance.redemptions"))


@bp.route("/payouts", methods=["GET", "POST"])
@roles_required(Role.FINANCE)
def payouts() -> ResponseReturnValue:
    """Approved redemptions, oldest approval first, to mark paid in one batch."""
    form = PayoutBatchForm()
    outcome = submit(
        form,
        lambda: pay_redemptions(
            db.session(),
            key=form.key.data,
            actor=current_user,
            redemption_ids=form.redemption_ids.data or [],
            payment_reference=form.payment_reference.data or "",
            now=clock.now(),
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        reference = form.payment_reference.data.strip()
        if outcome.result.replayed:
            flash(f"The batch {reference} was already recorded as paid.", "success")
        else:
            paid = outcome.result.object_id
            noun = "redemption was" if paid == 1 else "redemptions were"
            flash(f"{paid} {noun} marked paid under reference {reference}.", "success")
        return redirect(url_for("finance.batches"))
    page = redemption_queue(
        db.session(),
        actor=current_user,
        state=RedemptionState.APPROVED,
        page=requested_page(request),
        per_page=PAYOUTS_PER_PAGE,
    )
    chosen = set(form.redemption_ids.data or [])
    return render_template(
        "finance/payouts.html", form=form, page=page, chosen=chosen
    ), outcome.status


@bp.route("/payouts/batches")
@roles_required(Role.FINANCE)
def batches() -> ResponseReturnValue:
    """Batches paid so far, latest first, each with its CSV."""
    page = payout_batches(db.session(), actor=current_user, page=requested_page(request))
    return render_template("finance/batches.html", page=page)


@bp.route("/payouts/approved.csv")
@roles_required(Role.FINANCE)
def export_approved() -> ResponseReturnValue:
    """The approved redemptions not yet paid, as CSV."""
    lines = payout_lines(db.session(), actor=current_user)
    return _csv(payout_csv(lines), f"payouts-approved-{local_today().isoformat()}.csv")


@bp.route("/payouts/batch.csv")
@roles_required(Role.FINANCE)
def export_batch() -> ResponseReturnValue:
    """The redemptions paid under the ``reference`` parameter, as CSV."""
    reference = request.args.get("reference", "")
    lines = read(
        lambda: payout_lines(db.session(), actor=current_user, payment_reference=reference)
    )
    if isinstance(lines, DomainError):
        abort(refusal_status(lines))
    return _csv(payout_csv(lines), f"payouts-{_file_part(reference)}.csv")


def _found(redemption_id: int) -> Redemption:
    query = _with_redeemer(select(Redemption)).where(Redemption.id == redemption_id)
    found: Redemption | None = db.session.scalar(query)
    if found is None:
        abort(404)
    return found


def _with_redeemer(query: Select[Any]) -> Select[Any]:
    """``query`` loading each redemption's wallet and its holder in the same statement."""
    return query.options(joinedload(Redemption.wallet).joinedload(Wallet.user))


def _programmes(user_ids: Iterable[int]) -> dict[int, str]:
    """The programme code of each of these people who is an ambassador, in one query."""
    ids = set(user_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Ambassador.user_id, Programme.code)
        .join(Programme, Programme.id == Ambassador.programme_id)
        .where(Ambassador.user_id.in_(ids))
    ).all()
    return {user_id: code for user_id, code in rows}  # noqa: C416  (rows, not pairs, for mypy)


def _paperwork(redemption_ids: list[int]) -> dict[int, Paperwork]:
    """Each redemption's :class:`Paperwork`, in one query."""
    if not redemption_ids:
        return {}
    invoices = (
        select(func.count(Document.id))
        .where(Document.redemption_id == Redemption.id)
        .correlate(Redemption)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Redemption.id, Provider, Fund.invoice_required, invoices)
        .join(Wallet, Wallet.id == Redemption.wallet_id)
        .join(Fund, Fund.id == Wallet.fund_id)
        .outerjoin(Provider, Provider.id == Redemption.provider_id)
        .where(Redemption.id.in_(redemption_ids))
    ).all()
    return {row[0]: Paperwork(row[1], int(row[3] or 0), bool(row[2])) for row in rows}


def _show_redemption(
    found: Redemption,
    *,
    approve_form: ApprovalForm | None = None,
    reject_form: RejectionForm | None = None,
) -> str:
    decider = db.session.get(User, found.decided_by_id) if found.decided_by_id else None
    return render_template(
        "finance/redemption.html",
        redemption=found,
        programme=_programmes([found.wallet.user_id]).get(found.wallet.user_id),
        decider=decider,
        paperwork=_paperwork([found.id])[found.id],
        invoices=invoices_of(db.session(), found.id),
        provider_page=PROVIDER_PAGE in current_app.view_functions,
        approve_form=approve_form or ApprovalForm(formdata=None),
        reject_form=reject_form or RejectionForm(),
    )


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _file_part(reference: str) -> str:
    """``reference`` reduced to characters safe in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", reference.strip()).strip("-.")[:60] or "batch"
