"""The claim page: where a bandmate or crew member takes the credit a gift's email links to.

The page is public: the link's token is the proof. It shows who gave what and until when.
Someone not signed in may choose a name and password (a new recipient account) or sign in
first; the page shows both to everyone, so it tells nothing about which emails have an
account. A link that is unknown, altered, used, revoked or expired gets a page that says
so in plain words (404 or 410), with the support panel, never an error; only the recipient
who used the link, signed in, is taken to their wallet instead, told when they claimed it.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from grants import clock
from grants.clock import date_in
from grants.domain import claims, gifts
from grants.domain.claims import NewRecipient
from grants.domain.dates import format_long_day
from grants.domain.errors import InvalidState, NotFound
from grants.domain.idempotency import Receipt
from grants.domain.support import SupportPanel, active_lines, panel_for_gift
from grants.extensions import db
from grants.models import Gift, User
from grants.security import password_hasher, password_rules
from grants.web.actions import ConfirmForm, submit
from grants.web.ambassador.blueprint import claim_bp
from grants.web.ambassador.forms import ClaimForm
from grants.web.auth import start_session
from grants.web.hooks import show_times_in, user_locale, user_time_zone

CLAIM_FIELDS = {"display_name": "display_name", "password": "password"}


@claim_bp.route("/<token>", methods=["GET", "POST"])
def claim(token: str) -> ResponseReturnValue:
    """Show a gift to whoever holds its link, and claim it into their wallet."""
    try:
        gift = claims.find_gift_by_token(db.session(), token)
    except NotFound as error:
        return _unavailable(None, error.message, 404)
    signed_in = bool(current_user.is_authenticated)
    form: ConfirmForm | ClaimForm = ConfirmForm() if signed_in else ClaimForm()
    outcome = submit(
        form,
        lambda: claims.claim_gift(
            db.session(),
            key=form.key.data,
            token=token,
            claimant=current_user if signed_in else None,
            new_recipient=(
                NewRecipient(form.display_name.data, form.password.data)
                if isinstance(form, ClaimForm)
                else None
            ),
            hasher=password_hasher(),
            rules=password_rules(),
            now=clock.now(),
        ),
        fields=CLAIM_FIELDS,
    )
    if outcome.done:
        assert outcome.result is not None
        return _claimed(gift, signed_in, outcome.result)
    refusal = outcome.refusal
    if refusal is None:
        refusal = gifts.claimability(gift, clock.now())
        if refusal is not None:
            return _already_yours(gift) or _unavailable(gift, refusal.message, 410)
    elif isinstance(refusal, (InvalidState, NotFound)):
        status = outcome.status
        return _already_yours(gift) or _unavailable(
            gift, refusal.message, 410 if status == 409 else status
        )
    fund_zone = gift.giver_wallet.fund.time_zone
    show_times_in(fund_zone)
    return render_template(
        "claim/claim.html",
        gift=gift,
        fund_zone=fund_zone,
        giver_name=gift.giver_wallet.user.display_name,
        form=form,
        token=token,
        login_url=url_for("auth.login", next=url_for("claim.claim", token=token)),
        support=panel_for_gift(db.session(), gift),
    ), outcome.status


def _claimed(gift: Gift, signed_in: bool, receipt: Receipt) -> ResponseReturnValue:
    """After the claim is committed: sign a new recipient in and show them their wallet."""
    if not signed_in and receipt.user_id is not None:
        recipient = db.session.get(User, receipt.user_id)
        if recipient is not None:
            start_session(recipient)
    flash(
        f"The credit {gift.giver_wallet.user.display_name} gave you is in your wallet.", "success"
    )
    return redirect(url_for("ambassador.dashboard"))


def _already_yours(gift: Gift) -> ResponseReturnValue | None:
    """For the signed-in recipient opening a link they have used: their wallet, with when
    they claimed the gift (``None`` for anyone else, who is told the link is used)."""
    user_id = current_user.id if current_user.is_authenticated else None
    claimed_at = claims.claimed_by(gift, user_id)
    if claimed_at is None:
        return None
    day = format_long_day(date_in(claimed_at, user_time_zone()), user_locale())
    flash(f"You claimed this gift on {day}.", "success")
    return redirect(url_for("ambassador.dashboard"))


def _unavailable(gift: Gift | None, message: str, status: int) -> ResponseReturnValue:
    """The page for a link that cannot be used, with the support lines of the gift's
    country (every country's when the link names no gift)."""
    panel = (
        panel_for_gift(db.session(), gift)
        if gift is not None
        else SupportPanel(None, active_lines(db.session(), None))
    )
    return render_template(
        "claim/unavailable.html",
        message=message,
        status=status,
        signed_in=current_user.is_authenticated,
        support=panel,
    ), status
