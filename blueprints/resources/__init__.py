"""Resource selection (优质科学教育资源遴选): unit contacts submit resources with their files; the
organiser runs the format check, the reviews (through the admin assignment pages and the judge
screen), the shortlist and the selection, then publishes the list and issues 入选证书."""
from flask import Blueprint

bp = Blueprint("resources", __name__)

from blueprints.resources import views, organiser, panel  # noqa: E402,F401
