"""Finance's directory of therapy providers: search, add, verify, suspend, bank details.

Every page here shows bank details, if only masked, so none is kept by a browser or a proxy
(``Cache-Control: no-store``). Seeing an account in full is a button: the domain writes the
look to the audit trail, and the trail is committed before the details are shown. A change of
details a provider already had holds their payouts until another member of finance confirms
it (:mod:`grants.domain.provider_bank`).
"""

from __future__ import annotations

from typing import Any

import pycountry
from flask import Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select

from grants import clock
from grants.data_key import current_data_keys
from grants.domain.errors import DomainError
from grants.domain.paging import paginate
from grants.domain.provider_bank import (
    confirm_bank_details,
    reveal_bank_details,
    set_bank_details,
)
from grants.domain.providers import (
    propose_provider,
    search_query,
    suspend_provider,
    update_provider,
    verify_provider,
)
from grants.extensions import db
from grants.models import Provider, ProviderStatus, Redemption, RedemptionState, Role, User
from grants.payments.bank_details import BankDetails, check_scheme
from grants.web import roles_required
from grants.web.actions import ConfirmForm, confirm, refusal_status, submit
from grants.web.finance.blueprint import bp
from grants.web.finance.provider_forms import (
    BankDetailsForm,
    ProviderEditForm,
    ProviderForm,
    SuspendForm,
    VersionedForm,
)
from grants.web.listing import order_by, requested_page, requested_sort

EVERY_STATUS = tuple(ProviderStatus)
STATUS_FILTERS: dict[str, tuple[ProviderStatus, ...]] = {
    "all": EVERY_STATUS,
    "proposed": (ProviderStatus.PROPOSED,),
    "verified": (ProviderStatus.VERIFIED,),
    "suspended": (ProviderStatus.SUSPENDED,),
    "held": EVERY_STATUS,
}
"""The directory's status filter; ``held`` is any provider whose payouts wait for a second
member of finance to confirm a change of bank details."""
SORTS = {"added": Provider.proposed_at, "name": Provider.search_name}
SEARCH_MAX = 100
"""The most characters of a search word or city the directory reads."""
USUAL_SCHEME = {"US": "us", "GB": "gb"}
"""The bank details form's scheme for a provider in these countries; IBAN elsewhere."""
SESSION_STATES = (RedemptionState.REQUESTED, RedemptionState.APPROVED, RedemptionState.PAID)


@bp.route("/providers")
@roles_required(Role.FINANCE)
def providers() -> ResponseReturnValue:
    """The directory: searched by name or practice words and city, filtered by status,
    newest first or by name, a page at a time."""
    text = request.args.get("q", "")[:SEARCH_MAX]
    city = request.args.get("city", "")[:SEARCH_MAX]
    status = request.args.get("status", "all")
    if status not in STATUS_FILTERS:
        status = "all"
    sort = requested_sort(request, SORTS, "-added")
    query = search_query(text, city, statuses=STATUS_FILTERS[status])
    if status == "held":
        query = query.where(Provider.payouts_held)
    tiebreak = Provider.id.desc() if sort.descending else Provider.id
    page = paginate(
        db.session(),
        order_by(query.order_by(None), sort, SORTS, tiebreak),
        requested_page(request),
    )
    proposed, held = db.session.execute(
        select(
            func.count().filter(Provider.status == ProviderStatus.PROPOSED),
            func.count().filter(Provider.payouts_held),
        ).select_from(Provider)
    ).one()
    return _private(
        render_template(
            "finance/providers.html",
            page=page,
            text=text,
            city=city,
            status=status,
            statuses=list(STATUS_FILTERS),
            sort=sort,
            proposed=proposed,
            held=held,
        )
    )


@bp.route("/providers/new", methods=["GET", "POST"])
@roles_required(Role.FINANCE)
def provider_new() -> ResponseReturnValue:
    """Add a provider to the directory; it starts proposed, to verify once its licence and
    bank details are in."""
    form = ProviderForm()
    outcome = submit(
        form,
        lambda: propose_provider(
            db.session(),
            key=form.key.data,
            actor=current_user,
            details=form.details(),
            now=clock.now(),
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        assert outcome.result.object_id is not None
        if outcome.result.replayed:
            flash("This provider was already added.", "success")
        else:
            flash(
                "The provider was added as proposed. Give their licence and bank details, "
                "then verify them.",
                "success",
            )
        return redirect(url_for("finance.provider", provider_id=outcome.result.object_id))
    return _private(
        render_template("finance/provider_form.html", form=form, provider=None), outcome.status
    )


@bp.route("/providers/<int:provider_id>")
@roles_required(Role.FINANCE)
def provider(provider_id: int) -> ResponseReturnValue:
    """Everything about one provider, and what finance may do with them."""
    return _show(_found(provider_id))


@bp.route("/providers/<int:provider_id>/edit", methods=["GET", "POST"])
@roles_required(Role.FINANCE)
def provider_edit(provider_id: int) -> ResponseReturnValue:
    """Correct a provider's details, refused if someone changed them since the form opened."""
    found = _found(provider_id)
    form = ProviderEditForm() if request.method == "POST" else ProviderEditForm.of(found)
    outcome = submit(
        form,
        lambda: update_provider(
            db.session(),
            actor=current_user,
            provider_id=found.id,
            details=form.details(),
            version=form.version.data,
            now=clock.now(),
        ),
    )
    if outcome.done:
        flash("The provider's details were saved.", "success")
        return redirect(url_for("finance.provider", provider_id=found.id))
    return _private(
        render_template(
            "finance/provider_form.html", form=form, provider=found, stale=outcome.status == 409
        ),
        outcome.status,
    )


@bp.route("/providers/<int:provider_id>/verify", methods=["POST"])
@roles_required(Role.FINANCE)
def provider_verify(provider_id: int) -> ResponseReturnValue:
    """Verify a proposed or suspended provider: the domain names what is still missing."""
    found = _found(provider_id)
    form = VersionedForm()
    outcome = confirm(
        lambda _key: verify_provider(
            db.session(),
            actor=current_user,
            provider_id=found.id,
            version=form.version.data,
            now=clock.now(),
        ),
        form,
    )
    if isinstance(outcome, DomainError):
        return _show(found, refusal=outcome.message, status=refusal_status(outcome))
    flash(f"{outcome.label} is verified: sessions with them can be approved and paid.", "success")
    return redirect(url_for("finance.provider", provider_id=found.id))


@bp.route("/providers/<int:provider_id>/suspend", methods=["POST"])
@roles_required(Role.FINANCE)
def provider_suspend(provider_id: int) -> ResponseReturnValue:
    """Suspend a provider, with the reason: no new session with them is requested, approved
    or paid."""
    found = _found(provider_id)
    form = SuspendForm()
    outcome = submit(
        form,
        lambda: suspend_provider(
            db.session(),
            actor=current_user,
            provider_id=found.id,
            reason=form.reason.data or "",
            now=clock.now(),
        ),
    )
    if not outcome.done:
        return _show(found, suspend_form=form, status=outcome.status)
    flash(f"{found.label} is suspended.", "success")
    return redirect(url_for("finance.provider", provider_id=found.id))


@bp.route("/providers/<int:provider_id>/bank", methods=["GET", "POST"])
@roles_required(Role.FINANCE)
def provider_bank(provider_id: int) -> ResponseReturnValue:
    """Give or change the account a provider is paid into. A change of details they already
    had holds their payouts until another member of finance confirms it."""
    found = _found(provider_id)
    if request.method == "POST":
        form = BankDetailsForm()
    else:
        form = BankDetailsForm(
            version=found.version, scheme=USUAL_SCHEME.get(found.country, "iban")
        )
    outcome = submit(
        form,
        lambda: set_bank_details(
            db.session(),
            actor=current_user,
            provider_id=found.id,
            details=_checked(form),
            keys=current_data_keys(),
            version=form.version.data,
            now=clock.now(),
        ),
        fields=form.refusal_fields(),
    )
    if outcome.done:
        assert outcome.result is not None
        if outcome.result.payouts_held:
            flash(
                "The bank details were changed. Payouts to this provider are held until "
                "another member of finance confirms the change.",
                "success",
            )
        else:
            flash("The bank details were saved.", "success")
        return redirect(url_for("finance.provider", provider_id=found.id))
    return _private(
        render_template("finance/bank_form.html", form=form, provider=found), outcome.status
    )


@bp.route("/providers/<int:provider_id>/bank/reveal", methods=["POST"])
@roles_required(Role.FINANCE)
def provider_reveal(provider_id: int) -> ResponseReturnValue:
    """The provider's bank details in full, on a page no browser keeps; the look is written
    to the audit trail first."""
    found = _found(provider_id)
    details = confirm(
        lambda _key: reveal_bank_details(
            db.session(), actor=current_user, provider_id=found.id, keys=current_data_keys()
        ),
        ConfirmForm(),
    )
    if isinstance(details, DomainError):
        return _show(found, refusal=details.message, status=refusal_status(details))
    return _private(render_template("finance/bank_details.html", provider=found, details=details))


@bp.route("/providers/<int:provider_id>/bank/confirm", methods=["POST"])
@roles_required(Role.FINANCE)
def provider_confirm_bank(provider_id: int) -> ResponseReturnValue:
    """Confirm a change of bank details another member of finance made, releasing the
    provider's payouts."""
    found = _found(provider_id)
    form = VersionedForm()
    outcome = confirm(
        lambda _key: confirm_bank_details(
            db.session(),
            actor=current_user,
            provider_id=found.id,
            version=form.version.data,
            now=clock.now(),
        ),
        form,
    )
    if isinstance(outcome, DomainError):
        return _show(found, refusal=outcome.message, status=refusal_status(outcome))
    flash(f"The new bank details are confirmed; {outcome.label} can be paid again.", "success")
    return redirect(url_for("finance.provider", provider_id=found.id))


def _checked(form: BankDetailsForm) -> BankDetails:
    """The bank details typed in the form's scheme, checked; :class:`InvalidInput` names
    the first field that is wrong."""
    return check_scheme(
        form.scheme.data or "",
        account_holder=form.account_holder.data or "",
        routing_number=form.routing_number.data or "",
        us_account_number=form.account_number.data or "",
        account_type=form.account_type.data or "",
        sort_code=form.sort_code.data or "",
        gb_account_number=form.gb_account_number.data or "",
        iban=form.iban.data or "",
        bic=form.bic.data or "",
    )


def _found(provider_id: int) -> Provider:
    found = db.session.get(Provider, provider_id)
    if found is None:
        abort(404)
    return found


def _show(
    found: Provider,
    *,
    refusal: str | None = None,
    status: int = 200,
    suspend_form: SuspendForm | None = None,
) -> Response:
    """The provider's page, with a refusal or the suspend form's errors when there are."""
    people = _names([found.proposed_by_id, found.verified_by_id, found.bank_changed_by_id])
    sessions = dict(
        db.session.execute(
            select(Redemption.state, func.count())
            .where(Redemption.provider_id == found.id, Redemption.state.in_(SESSION_STATES))
            .group_by(Redemption.state)
        ).all()
    )
    buttons: dict[str, Any] = {"formdata": None, "version": found.version}
    return _private(
        render_template(
            "finance/provider.html",
            provider=found,
            country=country_label(found.country),
            people=people,
            sessions={state.value: sessions.get(state, 0) for state in SESSION_STATES},
            refusal=refusal,
            verify_form=VersionedForm(**buttons),
            confirm_form=VersionedForm(**buttons),
            reveal_form=ConfirmForm(formdata=None),
            suspend_form=suspend_form or SuspendForm(formdata=None),
        ),
        status,
    )


def country_label(code: str) -> str:
    """A country as the provider page names it: ``United States (US)``."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return f"{getattr(country, 'common_name', None) or country.name} ({code})"


def _names(user_ids: list[int | None]) -> dict[int, str]:
    """The display name of each of these people, in one query."""
    ids = {user_id for user_id in user_ids if user_id is not None}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    return {user_id: name for user_id, name in rows}  # noqa: C416  (rows, not pairs, for mypy)


def _private(body: str, status: int = 200) -> Response:
    """``body`` answered with ``status``, kept by no browser or proxy: it shows bank
    details."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response
