"""The wallet: balances and history, redeeming credit for a session (choosing or proposing
its provider, giving its invoice), giving credit to a bandmate or crew member, cancelling a
request and revoking a gift.

A person only ever reaches their own wallets, gifts and redemptions: anyone else's, like
one that does not exist, answers 404. Gifts and redemptions answer 404 even to people
without a wallet (a manager, say), since their details are the holder's alone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from grants import clock
from grants.domain import gifts, redemptions, wallets
from grants.domain.errors import DomainError
from grants.domain.idempotency import Receipt
from grants.domain.invoices import invoices_of
from grants.domain.paging import Page
from grants.domain.providers import SEARCH_LIMIT, search_providers
from grants.domain.wallets import WalletSummary
from grants.extensions import db
from grants.models import Gift, Provider, ProviderStatus, Redemption, Role
from grants.web import roles_required
from grants.web.actions import (
    ConfirmForm,
    confirm,
    new_key,
    refusal_status,
    submit,
)
from grants.web.ambassador.blueprint import bp
from grants.web.ambassador.booking import add_invoice, booking, chosen_again, kept_files
from grants.web.ambassador.forms import (
    HOME_COUNTRIES,
    UPLOAD_FIELDS,
    GiftForm,
    InvoiceForm,
    RedeemForm,
)
from grants.web.documents import upload_view
from grants.web.hooks import local_today, moment, money, user_locale
from grants.web.listing import requested_page
from grants.web.support_panel import current_panel

P = ParamSpec("P")
R = TypeVar("R")

HOLDERS = (Role.AMBASSADOR, Role.RECIPIENT)
SEARCH_MAX = 100
"""The longest search text read from a provider search."""
GIFT_FIELDS = {"display_name": "recipient_name", "email": "recipient_email"}
"""The gift form's names for the fields the domain calls otherwise."""
SECTIONS: dict[str, tuple[Callable[..., Page[Any]], str]] = {
    "allowances": (wallets.credit_history, "Allowances"),
    "gifts": (wallets.gifts_given, "Gifts you gave"),
    "received": (wallets.gifts_received, "Gifts you received"),
    "redemptions": (wallets.redemptions, "Sessions"),
}
"""Each full history a wallet has: how it is read and what it is called."""


def holders_only(view: Callable[P, R]) -> Callable[P, R]:
    """Let a signed-in credit holder through; anyone else signed in gets 404, as for an
    object that is not theirs (anonymous visitors are sent to sign in)."""

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if not current_user.has_role(*HOLDERS):
            abort(404)
        return view(*args, **kwargs)

    protected: Callable[P, R] = login_required(guarded)
    return protected


@bp.route("/")
@roles_required(*HOLDERS)
def dashboard() -> ResponseReturnValue:
    """The signed-in person's own credit; nobody else's is reachable from here."""
    session = db.session()
    membership = wallets.membership_of(session, current_user.id)
    held = wallets.wallets_of(session, current_user.id)
    recent = {wallet.id: wallets.recent_history(session, wallet) for wallet in held}
    prices: dict[str, int] = current_app.config.get("TYPICAL_SESSION_PRICE") or {}
    covered = {
        wallet.id: wallets.sessions_covered(wallet.available, prices.get(wallet.currency))
        for wallet in held
    }
    sessions = {
        wallet_id: None if count is None else wallets.describe_sessions(count)
        for wallet_id, count in covered.items()
    }
    return render_template(
        "dashboards/wallet.html",
        membership=membership,
        wallets=held,
        recent=recent,
        sessions=sessions,
        prices=prices,
        today=local_today(),
        now=clock.now(),
        new_key=new_key,
        support=current_panel(membership.country if membership else None),
    )


@bp.route("/<int:wallet_id>/<any(allowances, gifts, received, redemptions):section>")
@roles_required(*HOLDERS)
def history(wallet_id: int, section: str) -> ResponseReturnValue:
    """One whole history of a wallet, a page at a time."""
    wallet = _own_wallet(wallet_id)
    read, title = SECTIONS[section]
    page = read(db.session(), wallet, page=requested_page(request))
    return render_template(
        "ambassador/history.html",
        wallet=wallet,
        section=section,
        title=title,
        page=page,
        today=local_today(),
        new_key=new_key,
        support=current_panel(),
    )


@bp.route("/<int:wallet_id>/redeem", methods=["GET", "POST"])
@roles_required(*HOLDERS)
@upload_view
def redeem(wallet_id: int) -> ResponseReturnValue:
    """Ask for credit to pay for one therapy session; finance decides.

    The provider is chosen from a search of the verified ones (``q`` and ``city``), or
    proposed; the invoice may come with the request or later."""
    wallet = _own_wallet(wallet_id)
    form = RedeemForm(provider_country=HOME_COUNTRIES.get(wallet.currency, "US"))
    outcome = kept_files(lambda stored: booking(form, wallet.id, stored))
    if outcome.done:
        assert outcome.result is not None
        _tell_the_booker(outcome.result, invoiced=form.invoice.data is not None)
        return redirect(url_for("ambassador.dashboard"))
    text = request.args.get("q", "")[:SEARCH_MAX].replace("\x00", "")
    city = request.args.get("city", "")[:SEARCH_MAX].replace("\x00", "")
    found = search_providers(db.session(), text=text, city=city) if text or city else []
    chosen = chosen_again(form, found)
    return render_template(
        "ambassador/redeem.html",
        form=form,
        wallet=wallet,
        text=text,
        city=city,
        searched=bool(text or city),
        search_args={name: value for name, value in (("q", text), ("city", city)) if value},
        providers=[*chosen, *found],
        search_limit=SEARCH_LIMIT,
        today=local_today(),
        support=current_panel(),
    ), outcome.status


@bp.route("/<int:wallet_id>/give", methods=["GET", "POST"])
@roles_required(*HOLDERS)
def give(wallet_id: int) -> ResponseReturnValue:
    """Give credit to a bandmate or crew member, who is emailed a link to claim it."""
    wallet = _own_wallet(wallet_id)
    form = GiftForm()
    outcome = submit(
        form,
        lambda: gifts.give_gift(
            db.session(),
            key=form.key.data,
            actor=current_user,
            wallet_id=wallet.id,
            amount=form.amount.data,
            locale=user_locale(),
            recipient_name=form.recipient_name.data,
            recipient_email=form.recipient_email.data,
            relation=form.relation.data,
            message=form.message.data or "",
            now=clock.now(),
        ),
        fields=GIFT_FIELDS,
    )
    if outcome.done:
        assert outcome.result is not None
        receipt = outcome.result
        _tell_the_giver(receipt.object_id, receipt.replayed)
        return redirect(url_for("ambassador.dashboard"))
    status = outcome.status
    fund_today = wallet.fund_today(clock.now())
    if not form.is_submitted() and not wallet.can_give_on(fund_today):
        status = 403
    return render_template(
        "ambassador/give.html",
        form=form,
        wallet=wallet,
        fund_today=fund_today,
        support=current_panel(),
    ), status


@bp.route("/gifts/<int:gift_id>")
@holders_only
def gift(gift_id: int) -> ResponseReturnValue:
    """A gift the signed-in person gave: to whom, how much, where it stands."""
    return _show_gift(_own_gift(gift_id))


@bp.route("/gifts/<int:gift_id>/revoke", methods=["POST"])
@holders_only
def revoke(gift_id: int) -> ResponseReturnValue:
    """Revoke a gift nobody has claimed; its credit is released."""
    found = _own_gift(gift_id)
    receipt = confirm(
        lambda key: gifts.revoke_gift(
            db.session(), key=key, actor=current_user, gift_id=found.id, now=clock.now()
        )
    )
    if isinstance(receipt, DomainError):
        return _refused(receipt, lambda: _show_gift(found, refusal=receipt.message))
    if receipt.replayed:
        flash("This gift was already revoked.", "success")
    else:
        flash(
            f"You revoked the gift of {money(found.amount, found.currency)} to "
            f"{found.recipient_name}; its link no longer works and the credit is released.",
            "success",
        )
    return redirect(url_for("ambassador.dashboard"))


@bp.route("/gifts/<int:gift_id>/resend", methods=["POST"])
@holders_only
def resend(gift_id: int) -> ResponseReturnValue:
    """Email the recipient of a gift nobody has claimed a new link; the old one stops working."""
    found = _own_gift(gift_id)
    receipt = confirm(
        lambda key: gifts.resend_claim_link(
            db.session(), key=key, actor=current_user, gift_id=found.id, now=clock.now()
        )
    )
    if isinstance(receipt, DomainError):
        return _refused(receipt, lambda: _show_gift(found, refusal=receipt.message))
    if receipt.replayed:
        flash("This new link was already sent; it was not sent twice.", "success")
    else:
        flash(
            f"We are emailing {found.recipient_email} a new link to claim the gift; the link "
            "sent before no longer works.",
            "success",
        )
    return redirect(url_for("ambassador.gift", gift_id=found.id))


@bp.route("/redemptions/<int:redemption_id>")
@holders_only
def redemption(redemption_id: int) -> ResponseReturnValue:
    """A redemption the signed-in person asked for, and where it stands."""
    return _show_redemption(_own_redemption(redemption_id))


@bp.route("/redemptions/<int:redemption_id>/invoice", methods=["POST"])
@holders_only
@upload_view
def invoice(redemption_id: int) -> ResponseReturnValue:
    """Add the provider's invoice or receipt to a session finance has not decided yet."""
    found = _own_redemption(redemption_id)
    form = InvoiceForm()
    outcome = kept_files(
        lambda stored: submit(
            form, lambda: add_invoice(form, found.id, stored), fields=UPLOAD_FIELDS
        )
    )
    if not outcome.done:
        if outcome.status == 404:
            abort(404)
        return _show_redemption(found, invoice_form=form), outcome.status
    assert outcome.result is not None
    flash(
        f"{outcome.result.filename} is added to the session; finance sees it beside your request.",
        "success",
    )
    return redirect(url_for("ambassador.redemption", redemption_id=found.id))


@bp.route("/redemptions/<int:redemption_id>/cancel", methods=["POST"])
@holders_only
def cancel(redemption_id: int) -> ResponseReturnValue:
    """Withdraw a request finance has not decided yet; its credit is released."""
    found = _own_redemption(redemption_id)
    receipt = confirm(
        lambda key: redemptions.cancel_redemption(
            db.session(),
            key=key,
            actor=current_user,
            redemption_id=found.id,
            now=clock.now(),
        )
    )
    if isinstance(receipt, DomainError):
        return _refused(receipt, lambda: _show_redemption(found, refusal=receipt.message))
    if receipt.replayed:
        flash("This request was already cancelled.", "success")
    else:
        flash(
            f"You cancelled the request for {money(found.amount, found.currency)}; "
            "the credit is released.",
            "success",
        )
    return redirect(url_for("ambassador.dashboard"))


def _tell_the_giver(gift_id: int | None, replayed: bool) -> None:
    """After the gift is committed, tell the giver it is held and its link is on its way:
    the worker emails it from the outbox. A replayed request recorded no second email."""
    if replayed or gift_id is None:
        flash("This gift was already given; it was not given or emailed twice.", "success")
        return
    given = db.session.get(Gift, gift_id)
    assert given is not None
    flash(
        f"Your gift of {money(given.amount, given.currency)} to {given.recipient_name} is "
        f"waiting for them: we are emailing {given.recipient_email} a link to claim it by "
        f"{moment(given.expires_at)}.",
        "success",
    )


def _own_wallet(wallet_id: int) -> WalletSummary:
    return wallets.own_wallet(db.session(), current_user.id, wallet_id) or abort(404)


def _own_gift(gift_id: int) -> Gift:
    return wallets.own_gift(db.session(), current_user.id, gift_id) or abort(404)


def _own_redemption(redemption_id: int) -> Redemption:
    return wallets.own_redemption(db.session(), current_user.id, redemption_id) or abort(404)


def _show_gift(found: Gift, refusal: str | None = None) -> str:
    """The gift's page; its two buttons (revoke, new link) each carry a key of their own."""
    return render_template(
        "ambassador/gift.html",
        gift=found,
        refusal=refusal,
        form=ConfirmForm(formdata=None),
        resend_form=ConfirmForm(formdata=None),
        support=current_panel(),
    )


def _show_redemption(
    found: Redemption, refusal: str | None = None, invoice_form: InvoiceForm | None = None
) -> str:
    """The session's page: where it stands, its provider and invoices, and while finance
    has not decided it, the forms to add an invoice and to cancel."""
    session = db.session()
    provider = session.get(Provider, found.provider_id) if found.provider_id else None
    return render_template(
        "ambassador/redemption.html",
        redemption=found,
        provider=provider,
        invoices=invoices_of(session, found.id),
        refusal=refusal,
        form=ConfirmForm(),
        invoice_form=invoice_form or InvoiceForm(formdata=None),
        support=current_panel(),
    )


def _tell_the_booker(receipt: Receipt, *, invoiced: bool) -> None:
    """After the booking is committed: what happens next."""
    if receipt.replayed:
        flash("This request was already sent; it was not sent twice.", "success")
        return
    booked = db.session.get(Redemption, receipt.object_id)
    assert booked is not None
    provider = db.session.get(Provider, booked.provider_id) if booked.provider_id else None
    told = [
        "Your request is with finance. The credit is held for it until they decide, and you "
        "can cancel it until then."
    ]
    if provider is not None and provider.status is ProviderStatus.PROPOSED:
        told.append(f"Finance verifies {provider.label} before the session is paid.")
    if not invoiced:
        told.append("Add the invoice or receipt from the session's page when you have it.")
    flash(" ".join(told), "success")


def _refused(error: DomainError, page: Callable[[], str]) -> ResponseReturnValue:
    """A refused revoke, new link or cancel: the object's page with the refusal, or 404 when
    the object is not (or no longer) the holder's."""
    status = refusal_status(error)
    if status == 404:
        abort(404)
    return page(), status
