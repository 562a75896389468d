"""Teacher-training sessions: the organiser's roster, attendance (tablet and QR check-in),
leave, marks, outcomes, certificates and the cross-session report. Instructors score through
the judge blueprint like any judge."""
from flask import Blueprint

bp = Blueprint("training", __name__)

from blueprints.training import views, attendance  # noqa: E402,F401
