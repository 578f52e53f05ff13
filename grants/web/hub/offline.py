"""The hub's service worker, served from the hub's own address so that it may keep the hub's
pages for offline use.

A service worker controls only the pages under the folder its script is served from, so
``static/hub-sw.js`` is served as ``/help/sw.js``: its scope is ``/help/``, the whole public
hub and nothing else. Browsers check it for updates on each visit; it is never cached.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, send_from_directory

bp = Blueprint("hub_offline", __name__)

WORKER = "hub-sw.js"


@bp.route("/help/sw.js")
def worker() -> Response:
    """The hub's service worker script."""
    assert current_app.static_folder is not None
    response = send_from_directory(
        current_app.static_folder, WORKER, mimetype="text/javascript", max_age=0
    )
    response.headers["Cache-Control"] = "no-cache"
    return response
