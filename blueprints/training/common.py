"""What every training view needs: the organiser check and the session being looked at."""
from __future__ import annotations

from flask import abort

from blueprints.access import require_roles
from extensions import db
from models import Programme, ProgrammeKind, Role

organiser_only = require_roles(Role.organiser, read_roles=(Role.oversight,))


def session_or_404(pid: int) -> Programme:
    prog = db.session.get(Programme, pid)
    if prog is None or prog.kind != ProgrammeKind.training:
        abort(404)
    return prog
