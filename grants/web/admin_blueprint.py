"""The admin's blueprint: the views of :mod:`grants.web.admin` and of the modules it imports
(people, programmes, the audit log) register on it."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
