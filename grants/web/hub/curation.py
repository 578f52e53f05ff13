"""Where navigators curate the hub: proposals waiting for a second pair of eyes, services
due for checking, every service and its versions, and the forms that propose a change.

Navigators, managers and admins read every screen. Only a navigator proposes (a new
service, a change, a date checked, a retirement) or adds an organisation; a navigator or a
manager publishes or sends back what someone else proposed, and the proposer may withdraw
it. The domain enforces who may do what (:mod:`grants.domain.hub`); a screen hides a button
its viewer may not press and says why.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from grants import clock
from grants.domain import hub, hub_changes
from grants.domain import hub_curation as desk
from grants.domain.errors import DomainError, InvalidInput
from grants.domain.hub import CURATORS, PUBLISHERS
from grants.domain.hub_curation import OrganizationDetails
from grants.domain.idempotency import Receipt
from grants.domain.paging import paginate_rows
from grants.extensions import db
from grants.models import (
    HubOrganization,
    HubService,
    HubServiceVersion,
    Role,
    User,
    VersionState,
)
from grants.web import roles_required
from grants.web.actions import (
    ConfirmForm,
    attempt,
    confirm,
    refusal_status,
    show_refusal,
    submit,
)
from grants.web.hooks import user_locale
from grants.web.hub.curation_forms import (
    FIELDS,
    CheckedForm,
    OrganizationForm,
    RetireForm,
    SendBackForm,
    ServiceForm,
)
from grants.web.listing import requested_page

bp = Blueprint("curation", __name__, url_prefix="/hub")

READERS = (Role.NAVIGATOR, Role.MANAGER, Role.ADMIN)
SERVICES_PER_PAGE = 50


@bp.route("/")
@roles_required(*READERS)
def queue() -> ResponseReturnValue:
    """The proposed versions, oldest first, each with who proposed it; then the services on
    the hub due for checking, oldest check first."""
    proposals = db.session.execute(
        select(
            HubServiceVersion.id,
            HubServiceVersion.service_id,
            HubServiceVersion.number,
            HubServiceVersion.name,
            HubServiceVersion.retires,
            HubServiceVersion.crisis_line,
            HubServiceVersion.proposed_at,
            HubServiceVersion.proposed_by_id,
            User.display_name.label("proposer"),
        )
        .outerjoin(User, User.id == HubServiceVersion.proposed_by_id)
        .where(HubServiceVersion.state == VersionState.PROPOSED)
        .order_by(HubServiceVersion.proposed_at, HubServiceVersion.id)
    ).all()
    today = clock.today()
    return render_template(
        "hub/curation/queue.html",
        proposals=proposals,
        stale=desk.stale_services(db.session(), today=today),
        warn_before=desk.crisis_warning_before(today),
        may_propose=current_user.has_role(*CURATORS),
    )


@bp.route("/services")
@roles_required(*READERS)
def services() -> ResponseReturnValue:
    """Every service with its state and when it was last checked; searched by name."""
    search = request.args.get("q", "")[:100].replace("\x00", "")
    page = paginate_rows(
        db.session(),
        desk.services_query(search=search),
        requested_page(request),
        SERVICES_PER_PAGE,
    ).map(desk.service_row)
    today = clock.today()
    return render_template(
        "hub/curation/services.html",
        services=page,
        search=search,
        stale_before=desk.stale_before(today),
        warn_before=desk.crisis_warning_before(today),
        may_propose=current_user.has_role(*CURATORS),
    )


def _organisations() -> list[tuple[str, str]]:
    return [
        (ident, name)
        for ident, name in db.session.execute(
            select(HubOrganization.id, HubOrganization.name).order_by(HubOrganization.name)
        ).all()
    ]


@bp.route("/services/new", methods=["GET", "POST"])
@roles_required(*CURATORS)
def new_service() -> ResponseReturnValue:
    """Propose a new service."""
    form = ServiceForm().with_choices(_organisations())
    if request.method == "GET":
        form.free.data = True
        form.checked_on.data = clock.today()
        form.languages.data = "en"
        form.change_note.data = request.args.get("note", "")[:200]

    def perform() -> Receipt:
        if not form.organization_id.data:
            raise InvalidInput("Choose the organisation that runs it.", field="organization_id")
        return desk.propose_service(
            db.session(),
            key=form.key.data,
            actor=current_user,
            content=form.content(),
            now=clock.now(),
            organization_id=form.organization_id.data,
            note=form.change_note.data or "",
        )

    outcome = submit(form, perform, fields=FIELDS)
    if outcome.done:
        assert outcome.result is not None
        flash("The service was proposed. Another navigator or a manager publishes it.", "success")
        return redirect(url_for("curation.version", version_id=outcome.result.object_id))
    return render_template(
        "hub/curation/service_form.html", form=form, service=None, organisations=_organisations()
    ), outcome.status


@bp.route("/services/<service_id>/edit", methods=["GET", "POST"])
@roles_required(*CURATORS)
def edit_service(service_id: str) -> ResponseReturnValue:
    """Propose a change to a service, starting from its latest proposal or what the public
    sees."""
    service = db.session.get(HubService, service_id[:36]) or abort(404)
    start = desk.editable_version(db.session(), service.id) or abort(404)
    form = ServiceForm().with_choices(_organisations())
    if request.method == "GET":
        form.fill(hub.content_of(start))
    outcome = submit(
        form,
        lambda: desk.propose_service(
            db.session(),
            key=form.key.data,
            actor=current_user,
            content=form.content(),
            now=clock.now(),
            service_id=service.id,
            note=form.change_note.data or "",
        ),
        fields=FIELDS,
    )
    if outcome.done:
        assert outcome.result is not None
        flash("The change was proposed. Another navigator or a manager publishes it.", "success")
        return redirect(url_for("curation.version", version_id=outcome.result.object_id))
    return render_template(
        "hub/curation/service_form.html", form=form, service=service, start=start
    ), outcome.status


@bp.route("/services/<service_id>")
@roles_required(*READERS)
def service(service_id: str) -> ResponseReturnValue:
    """A service: what the public sees, what waits, and what a navigator can do next."""
    found = db.session.get(HubService, service_id[:36]) or abort(404)
    return _show_service(found)


def _show_service(
    found: HubService, *, checked: CheckedForm | None = None, refusal: str | None = None
) -> str:
    versions = desk.versions_of(db.session(), found.id)
    published = next((v for v, _, _ in versions if v.id == found.published_version_id), None)
    today = clock.today()
    form = checked or CheckedForm()
    if checked is None:
        form.checked_on.data = today
    return render_template(
        "hub/curation/service.html",
        service=found,
        latest=versions[0][0] if versions else None,
        published=published,
        waiting=[v for v, _, _ in versions if v.state is VersionState.PROPOSED],
        checked_form=form,
        refusal=refusal,
        stale_before=desk.stale_before(today),
        warn_before=desk.crisis_warning_before(today),
        may_propose=current_user.has_role(*CURATORS),
    )


@bp.route("/services/<service_id>/checked", methods=["POST"])
@roles_required(*CURATORS)
def mark_checked(service_id: str) -> ResponseReturnValue:
    """Propose the published version again with the day it was checked."""
    found = db.session.get(HubService, service_id[:36]) or abort(404)
    form = CheckedForm()
    if not form.validate_on_submit():
        if "key" in form.errors or "csrf_token" in form.errors:
            abort(400)
        return _show_service(found, checked=form), 422
    outcome = attempt(
        lambda: desk.mark_checked(
            db.session(),
            key=form.key.data,
            actor=current_user,
            service_id=found.id,
            checked_on=form.checked_on.data,
            now=clock.now(),
        )
    )
    if isinstance(outcome, DomainError):
        status = show_refusal(form, outcome)
        return _show_service(found, checked=form), status
    flash("The new date was proposed. Another navigator or a manager publishes it.", "success")
    return redirect(url_for("curation.version", version_id=outcome.object_id))


@bp.route("/services/<service_id>/retire", methods=["GET", "POST"])
@roles_required(*CURATORS)
def retire(service_id: str) -> ResponseReturnValue:
    """Propose taking a service off the hub, with the reason."""
    found = db.session.get(HubService, service_id[:36]) or abort(404)
    form = RetireForm()
    outcome = submit(
        form,
        lambda: desk.retire_service(
            db.session(),
            key=form.key.data,
            actor=current_user,
            service_id=found.id,
            note=form.note.data,
            now=clock.now(),
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        flash("The retirement was proposed. Another navigator or a manager confirms it.", "success")
        return redirect(url_for("curation.version", version_id=outcome.result.object_id))
    published = (
        db.session.get(HubServiceVersion, found.published_version_id)
        if found.published_version_id
        else None
    )
    return render_template(
        "hub/curation/retire.html", form=form, service=found, published=published
    ), outcome.status


@bp.route("/services/<service_id>/history")
@roles_required(*READERS)
def history(service_id: str) -> ResponseReturnValue:
    """Every version of a service, newest first, with who proposed and decided it, when."""
    found = db.session.get(HubService, service_id[:36]) or abort(404)
    return render_template(
        "hub/curation/history.html",
        service=found,
        versions=desk.versions_of(db.session(), found.id),
    )


# --- a proposal and its decision ------------------------------------------------------------


@bp.route("/versions/<int:version_id>")
@roles_required(*READERS)
def version(version_id: int) -> ResponseReturnValue:
    """A version compared field by field with what the public sees, and its decision."""
    found = db.session.get(HubServiceVersion, version_id) or abort(404)
    return _show_version(found)


def _show_version(
    found: HubServiceVersion,
    *,
    send_back_form: SendBackForm | None = None,
    refusal: str | None = None,
) -> str:
    service = db.session.get_one(HubService, found.service_id)
    published = (
        db.session.get(HubServiceVersion, service.published_version_id)
        if service.published_version_id and service.published_version_id != found.id
        else None
    )
    ids = [i for i in (found.proposed_by_id, found.decided_by_id) if i]
    people = dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    )
    proposed = found.state is VersionState.PROPOSED
    own = found.proposed_by_id == current_user.id
    return render_template(
        "hub/curation/version.html",
        version=found,
        service=service,
        published=published,
        changes=hub_changes.changes(found, published, user_locale()) if proposed else [],
        people=people,
        proposed=proposed,
        own=own,
        may_publish=proposed and not own and current_user.has_role(*PUBLISHERS),
        may_withdraw=proposed and own and current_user.has_role(*CURATORS),
        confirm=ConfirmForm(),
        send_back_form=send_back_form or SendBackForm(),
        refusal=refusal,
    )


@bp.route("/versions/<int:version_id>/publish", methods=["POST"])
@roles_required(*PUBLISHERS)
def publish(version_id: int) -> ResponseReturnValue:
    """Publish a proposal someone else made."""
    found = db.session.get(HubServiceVersion, version_id) or abort(404)
    outcome = confirm(
        lambda key: desk.publish_version(
            db.session(), key=key, actor=current_user, version_id=found.id, now=clock.now()
        )
    )
    if isinstance(outcome, DomainError):
        db.session.refresh(found)
        return _show_version(found, refusal=outcome.message), refusal_status(outcome)
    flash(
        f"{found.name} was taken off the hub."
        if found.retires
        else f"{found.name} is published: the public sees it now.",
        "success",
    )
    return redirect(url_for("curation.version", version_id=found.id))


@bp.route("/versions/<int:version_id>/send-back", methods=["POST"])
@roles_required(*PUBLISHERS)
def send_back(version_id: int) -> ResponseReturnValue:
    """Send a proposal back to its proposer, saying what needs mending."""
    found = db.session.get(HubServiceVersion, version_id) or abort(404)
    form = SendBackForm()
    if not form.validate_on_submit():
        if "key" in form.errors or "csrf_token" in form.errors:
            abort(400)
        return _show_version(found, send_back_form=form), 422
    outcome = attempt(
        lambda: desk.send_back(
            db.session(),
            key=form.key.data,
            actor=current_user,
            version_id=found.id,
            note=form.note.data,
            now=clock.now(),
        )
    )
    if isinstance(outcome, DomainError):
        status = show_refusal(form, outcome)
        db.session.refresh(found)
        return _show_version(found, send_back_form=form), status
    flash("The proposal was sent back to its proposer.", "success")
    return redirect(url_for("curation.version", version_id=found.id))


@bp.route("/versions/<int:version_id>/withdraw", methods=["POST"])
@roles_required(*CURATORS)
def withdraw(version_id: int) -> ResponseReturnValue:
    """Its proposer withdraws a proposal."""
    found = db.session.get(HubServiceVersion, version_id) or abort(404)
    outcome = confirm(
        lambda key: desk.withdraw_version(
            db.session(), key=key, actor=current_user, version_id=found.id, now=clock.now()
        )
    )
    if isinstance(outcome, DomainError):
        db.session.refresh(found)
        return _show_version(found, refusal=outcome.message), refusal_status(outcome)
    flash("You withdrew the proposal.", "success")
    return redirect(url_for("curation.version", version_id=found.id))


# --- organisations ------------------------------------------------------------------------


@bp.route("/organisations", methods=["GET", "POST"])
@roles_required(*READERS)
def organisations() -> ResponseReturnValue:
    """Every organisation; a navigator adds one."""
    may_add = current_user.has_role(*CURATORS)
    if request.method == "POST" and not may_add:
        abort(403)
    form = OrganizationForm()
    outcome = submit(
        form,
        lambda: desk.create_organization(
            db.session(),
            key=form.key.data,
            actor=current_user,
            details=OrganizationDetails(
                name=form.name.data or "",
                description=form.description.data or "",
                website=form.website.data or "",
                email=form.email.data or "",
            ),
            now=clock.now(),
        ),
    )
    if outcome.done:
        flash(f"{form.name.data.strip()} was added.", "success")
        return redirect(url_for("curation.organisations"))
    return render_template(
        "hub/curation/organisations.html",
        organisations=desk.organizations(db.session()),
        form=form,
        may_add=may_add,
    ), outcome.status
