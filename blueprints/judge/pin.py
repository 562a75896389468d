"""`/j/pin`: the PIN fallback for a judge whose tablet cannot read the QR code on the card.

The PIN opens exactly the session `/j/<token>` opens (``session["judge_token_id"]``) and is
refused for the same reasons with the same pages (`views._denied`), because `check_pin` judges
the PIN's token like `check_token` does. An unknown PIN gets the form again with a 401.

CSRF: the view is exempt from the global `CSRFProtect` hook only so that a stale form (a tablet
left on this page past the token's lifetime) gets this form back with a fresh token instead of
the generic "page expired" page; `PinForm` checks the same CSRF token itself and nothing is
done without it.
"""
from __future__ import annotations

from flask import redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import StringField

from blueprints.judge import bp
from blueprints.judge.views import _denied
from extensions import csrf, db
from services.judge_access import PIN_DIGITS, SESSION_KEY, TokenProblem, check_pin, normalise_pin


class PinForm(FlaskForm):
    pin = StringField()


def _form_again(form: PinForm, error: str, code: int):
    return render_template("judge/pin.html", form=form, error=error, digits=PIN_DIGITS), code


@bp.route("/j/pin", methods=["GET", "POST"])
@csrf.exempt
def pin_login():
    form = PinForm()
    if not form.is_submitted():
        return render_template("judge/pin.html", form=form, error=None, digits=PIN_DIGITS)
    if not form.validate():       # only the CSRF token can fail here
        form.pin.data = ""
        return _form_again(form, _("页面已过期，请重新输入PIN码。"), 400)
    session.pop(SESSION_KEY, None)  # a wrong PIN never leaves an earlier judge signed in
    from services import ratelimit
    attempts, seconds = ratelimit.limit_for("judge_pin")
    allowed = ratelimit.allow(db.session, f"judge-pin:{ratelimit.client_key()}", attempts, seconds)
    db.session.commit()
    if not allowed:
        form.pin.data = ""
        return _form_again(form, _("尝试次数过多，请 %(m)s 分钟后再试，或扫描评委卡上的二维码。", m=seconds // 60), 429)
    raw = form.pin.data or ""
    if normalise_pin(raw) is None:
        return _form_again(form, _("PIN码应为评委卡上的 %(n)s 位数字，请核对后重新输入。", n=PIN_DIGITS), 401)
    check = check_pin(db.session, raw)
    if check.problem == TokenProblem.unknown:
        form.pin.data = ""
        return _form_again(form, _("PIN码不正确。请核对评委卡上的 %(n)s 位数字；如仍无法进入，请联系组织方。",
                                   n=PIN_DIGITS), 401)
    if not check.ok:
        return _denied(check.problem, check.token)
    session[SESSION_KEY] = check.token.id
    return redirect(url_for("judge.home"))
