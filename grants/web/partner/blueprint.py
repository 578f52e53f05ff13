"""The partner portal's blueprint; its views register on it when the package is imported."""

from datetime import datetime

from flask import Blueprint, Response

from grants.domain.dates import format_moment
from grants.web.hooks import user_locale

bp = Blueprint("partner", __name__, url_prefix="/partner")


@bp.after_request
def kept_by_nobody(response: Response) -> Response:
    """An organisation's applications and reports are kept by no shared cache."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.app_template_filter("zoned_moment")
def zoned_moment(value: datetime, time_zone: str) -> str:
    """A moment as clocks in ``time_zone`` show it (a round's closing, in its fund's zone),
    in the viewer's locale, with the zone named."""
    return format_moment(value, time_zone, user_locale())
