"""Booking a session from the wallet: one transaction of the provider proposed (if any),
the request and the invoice given with it, and the files such a transaction stores.

An upload view (:func:`grants.web.documents.upload_view`) stores its file before the
transaction commits; :func:`kept_files` removes it again when the transaction does not
commit, so no file is left that no row names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app
from flask_login import current_user

from grants import clock
from grants.domain import redemptions
from grants.domain.idempotency import Receipt
from grants.domain.invoices import attach_invoice, attach_invoice_once
from grants.domain.providers import propose_provider
from grants.extensions import db
from grants.models import Document, Provider, ProviderStatus
from grants.web.actions import Submission, submit
from grants.web.ambassador.forms import BOOKING_FIELDS, InvoiceForm, RedeemForm
from grants.web.documents import discard_file, uploads_folder
from grants.web.hooks import local_today, user_locale

T = TypeVar("T")


def booking(form: RedeemForm, wallet_id: int, stored: list[str]) -> Submission[Receipt]:
    """Submit the booking form as one transaction: the proposed provider if there is one
    (under a key derived from the form's), the request, and the invoice given with it
    (whose stored name goes into ``stored``). A refusal of any part keeps none of them; a
    resubmitted form stores its invoice no second time."""
    session = db.session()

    def request_session(provider_id: int) -> Receipt:
        return redemptions.request_redemption(
            session,
            key=form.key.data,
            actor=current_user,
            wallet_id=wallet_id,
            amount=form.amount.data,
            locale=user_locale(),
            provider_id=provider_id,
            session_date=form.session_date.data,
            now=clock.now(),
            today=local_today(),
        )

    def book() -> Receipt:
        proposal = form.proposal()
        if proposal is None:
            assert form.chosen_provider is not None
            receipt = request_session(form.chosen_provider)
        else:
            with session.begin_nested():
                proposed = propose_provider(
                    session,
                    key=f"{form.key.data}:provider",
                    actor=current_user,
                    details=proposal,
                    now=clock.now(),
                )
                assert proposed.object_id is not None
                receipt = request_session(proposed.object_id)
        if form.invoice.data is not None and not receipt.replayed:
            assert receipt.object_id is not None
            add_invoice(form, receipt.object_id, stored)
        return receipt

    return submit(form, book, fields=BOOKING_FIELDS)


def add_invoice(form: RedeemForm | InvoiceForm, redemption_id: int, stored: list[str]) -> Document:
    """Store the form's file as the invoice of the holder's session ``redemption_id``,
    noting its stored name in ``stored``. The later-invoice form is keyed: sent twice, it
    stores the file once (the booking form's own replay keeps its invoice from a second
    store)."""
    upload = form.invoice.data
    if isinstance(form, InvoiceForm):
        document, replayed = attach_invoice_once(
            db.session(),
            key=form.key.data,
            actor=current_user,
            redemption_id=redemption_id,
            upload_stream=upload.stream,
            filename=upload.filename or "",
            folder=uploads_folder(),
            max_bytes=int(current_app.config["UPLOAD_MAX_BYTES"]),
            now=clock.now(),
        )
        if not replayed:
            stored.append(document.stored_name)
        return document
    document = attach_invoice(
        db.session(),
        actor=current_user,
        redemption_id=redemption_id,
        upload_stream=upload.stream,
        filename=upload.filename or "",
        folder=uploads_folder(),
        max_bytes=int(current_app.config["UPLOAD_MAX_BYTES"]),
        now=clock.now(),
    )
    stored.append(document.stored_name)
    return document


def kept_files(send: Callable[[list[str]], Submission[T]]) -> Submission[T]:
    """Run a submission that may store uploaded files, naming them in the list it is given;
    when its transaction does not commit, the files go again, so none is left that no row
    names."""
    stored: list[str] = []
    try:
        outcome = send(stored)
    except BaseException:
        _discard(stored)
        raise
    if not outcome.done:
        _discard(stored)
    return outcome


def _discard(stored: list[str]) -> None:
    folder = uploads_folder()
    for name in stored:
        discard_file(folder, name)


def chosen_again(form: RedeemForm, found: list[Provider]) -> list[Provider]:
    """The verified provider chosen on a form shown again, when the search no longer lists
    them (so the choice is not lost); else nothing."""
    chosen = form.chosen_provider
    if chosen is None or any(provider.id == chosen for provider in found):
        return []
    provider = db.session.get(Provider, chosen)
    if provider is None or provider.status is not ProviderStatus.VERIFIED:
        return []
    return [provider]
