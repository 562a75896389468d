"""The joint action's activity reporting (unit contacts and organisers) and the year-end
awards (优秀组织单位和个人): the organiser's dashboard, nominations and the computed criteria.
Committee scoring, results, 公示 and certificates use the shared judge and admin pages."""
from flask import Blueprint

bp = Blueprint("awards", __name__, url_prefix="/awards")

from blueprints.awards import views  # noqa: E402,F401
