"""The finance team's blueprint; its views register on it when the package is imported."""

from flask import Blueprint

bp = Blueprint("finance", __name__, url_prefix="/finance")
