"""Attendance: the tablet register per half-day, the room's QR check-in and leave requests.
(Placeholder routes; the attendance work replaces this file.)"""
from flask import abort

from blueprints.training import bp
from blueprints.training.common import organiser_only


@bp.get("/training/<int:pid>/attendance")
@organiser_only
def attendance(pid: int):
    abort(501)


@bp.get("/training/<int:pid>/leave")
@organiser_only
def leave(pid: int):
    abort(501)
