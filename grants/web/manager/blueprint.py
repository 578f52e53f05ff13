"""The programme managers' blueprint; its views register on it when the package is imported."""

from flask import Blueprint

bp = Blueprint("manager", __name__, url_prefix="/manager")
