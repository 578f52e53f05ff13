"""The hub's open data: published services as Open Referral HSDS 3.0 JSON under
``/help/hsds``, public like every page of the hub (no sign-in, ever).

The paths and shapes follow the HSDS API's OpenAPI description: ``/services`` is a page of
services (the HSDS ``Page``: ``total_items``, ``total_pages``, ``page_number``, ``size``,
``first_page``, ``last_page``, ``empty`` and ``contents``), each with its one-to-one fields
and its organisation, or fully nested with ``full=true``; ``/services/<id>`` is one service
fully nested. ``/data-package.json`` downloads every published service as one file, the same
as ``flask grants hub export`` writes. Only published versions are ever shown; a service not
(or no longer) published is not found. Errors are JSON too: ``{"message": …}``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from grants.domain.hub_hsds import (
    HSDS_VERSION,
    Filters,
    count_published,
    export_package,
    package_json,
    published_service,
    published_services,
    taxonomy,
    to_hsds,
    to_hsds_summary,
)
from grants.extensions import db

bp = Blueprint("hsds", __name__, url_prefix="/help/hsds")

PER_PAGE = 50
"""Services on a page unless ``per_page`` says otherwise."""
PER_PAGE_MAX = 200
PAGE_MAX = 1_000_000
DOWNLOAD_NAME = "heart-and-soul-hub-hsds.json"


class BadParameter(Exception):
    """A query parameter the API cannot read; answered 400 with its message."""


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"message": message}), status


@bp.after_request
def open_to_every_site(response: Response) -> Response:
    """Any site may read the open data from a browser: it is public, and no request to it
    carries or needs credentials."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.errorhandler(BadParameter)
def bad_parameter(error: BadParameter) -> ResponseReturnValue:
    return _error(400, str(error))


@bp.route("/")
def about() -> ResponseReturnValue:
    """What this API is: the HSDS version it speaks."""
    return jsonify(
        {
            "version": HSDS_VERSION,
            "services_url": url_for(".services", _external=True),
            "data_package_url": url_for(".data_package", _external=True),
        }
    )


@bp.route("/services")
def services() -> ResponseReturnValue:
    """A page of published services, by id, narrowed to an organisation's
    (``organization_id``) or to those linked to a term of the hub's taxonomy
    (``taxonomy_term_id``: a topic, an audience, free, crisis line, in person)."""
    page = _whole_number("page", default=1, most=PAGE_MAX)
    per_page = _whole_number("per_page", default=PER_PAGE, most=PER_PAGE_MAX)
    full = _flag("full")
    filters = Filters(
        organization_id=_text("organization_id"), taxonomy_term_id=_text("taxonomy_term_id")
    )
    session = db.session()
    total = count_published(session, filters)
    rows = published_services(
        session, offset=(page - 1) * per_page, limit=per_page, filters=filters
    )
    write = to_hsds if full else to_hsds_summary
    contents = [write(service, version) for service, version in rows]
    total_pages = max(1, -(-total // per_page))
    return jsonify(
        {
            "total_items": total,
            "total_pages": total_pages,
            "page_number": page,
            "size": len(contents),
            "first_page": page == 1,
            "last_page": page >= total_pages,
            "empty": not contents,
            "contents": contents,
        }
    )


@bp.route("/services/<service_id>")
def service(service_id: str) -> ResponseReturnValue:
    """One published service, fully nested."""
    found = published_service(db.session(), service_id[:64])
    if found is None:
        return _error(404, "There is no published service with this id.")
    return jsonify(to_hsds(*found))


@bp.route("/taxonomies/<taxonomy_id>")
def taxonomy_detail(taxonomy_id: str) -> ResponseReturnValue:
    """The hub's own taxonomy (its terms are in the data package)."""
    written = taxonomy()
    if taxonomy_id != written["id"]:
        return _error(404, "There is no such taxonomy.")
    return jsonify(written)


@bp.route("/data-package.json")
def data_package() -> ResponseReturnValue:
    """Every published service as one HSDS data package, to download."""
    text = package_json(export_package(db.session()))
    response = Response(text, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{DOWNLOAD_NAME}"'
    return response


def _whole_number(name: str, *, default: int, most: int) -> int:
    written = request.args.get(name)
    if written is None:
        return default
    readable = written.isascii() and written.isdigit() and len(written) <= len(str(most))
    if not readable or not 1 <= int(written) <= most:
        raise BadParameter(f"{name} is a whole number from 1 to {most}.")
    return int(written)


def _text(name: str) -> str | None:
    """A parameter naming an id, if given (longer than any id: it matches none)."""
    written = request.args.get(name)
    return None if written is None else written[:64]


def _flag(name: str) -> bool:
    written = request.args.get(name, "false").lower()
    if written not in {"true", "false"}:
        raise BadParameter(f"{name} is true or false.")
    return written == "true"
