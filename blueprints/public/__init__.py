"""Public pages: published rankings (公示 and final). Nothing unpublished is ever shown here."""
from flask import Blueprint

bp = Blueprint("public", __name__)

from blueprints.public import views  # noqa: E402,F401
