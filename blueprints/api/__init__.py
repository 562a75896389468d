"""The judge JSON API under /api/v1 (README "Judge API")."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from blueprints.api import views  # noqa: E402,F401
