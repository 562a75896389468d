"""Judges on tablets: token login from the judge card, the 回避声明, their entries."""
from flask import Blueprint

bp = Blueprint("judge", __name__)

from blueprints.judge import views  # noqa: E402,F401
from blueprints.judge import pin  # noqa: E402,F401
