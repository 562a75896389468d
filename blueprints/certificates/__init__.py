"""Certificates: organiser configuration and batch generation, public lookup, download and
verification pages."""
from flask import Blueprint

bp = Blueprint("certificates", __name__)

from blueprints.certificates import views  # noqa: E402,F401
