"""Organiser screens: programmes, stages, categories, panels, imports, counts.
Oversight (监审) may read every page here and change nothing."""
from flask import Blueprint

from blueprints.access import require_roles
from models import Role

bp = Blueprint("admin", __name__)
_guard = require_roles(Role.organiser, read_roles=(Role.oversight,))
bp.before_request(_guard.check)

from blueprints.admin import assignment, views  # noqa: E402,F401
from blueprints.admin import tokens  # noqa: E402,F401
from blueprints.admin import publication, results  # noqa: E402,F401
from blueprints.admin import result_documents  # noqa: E402,F401
