"""What every resource view needs: the call, the role checks, the submission the user may see."""
from __future__ import annotations

from flask import abort
from flask_login import current_user

from blueprints.access import require_roles
from extensions import db
from models import Programme, ProgrammeKind, ResourceSubmission, Role

organiser_only = require_roles(Role.organiser, read_roles=(Role.oversight,))
contact_only = require_roles(Role.unit_contact)


def call_or_404(pid: int) -> Programme:
    prog = db.session.get(Programme, pid)
    if prog is None or prog.kind != ProgrammeKind.resource_selection:
        abort(404)
    return prog


def own_submission_or_404(prog: Programme, sid: int) -> ResourceSubmission:
    """The unit's own resource; another unit's answers 404 so its existence is not revealed."""
    sub = db.session.get(ResourceSubmission, sid)
    if sub is None or sub.programme_id != prog.id or sub.unit_id != current_user.unit_id:
        abort(404)
    return sub


def actor() -> str:
    return f"组织方 {current_user.username}"
