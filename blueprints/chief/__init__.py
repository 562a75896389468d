"""The chief judge's console (/chief/...), the big screen (/screen/...) and the stage's audit
log: thin views over `services.console` and `services.sheets`."""
from flask import Blueprint

bp = Blueprint("chief", __name__)

from blueprints.chief import views  # noqa: E402,F401
