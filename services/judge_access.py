"""Judge access by the token printed on the judge card (`/j/<token>`), apart from Flask-Login.

The contract
------------
A `JudgeToken` gives one judge access to one stage. The plain token is shown once (judge card,
QR code, `judges.csv`); the database holds only its SHA-256 (`hash_token`). `check_token`
finds a token by the hash of the plain text and says why it cannot be used: ``unknown`` (no
such token, or one that is malformed), ``expired`` (`expires_at` has passed) or ``revoked``
(`revoked_at` is set). `token_from` is the short form that answers the token or None.

The browser session of a judge holds nothing but ``session["judge_token_id"]`` (a signed cookie:
no state in worker memory, so any gunicorn worker or machine can answer). Every judge request
calls `check_token_id` again, so an organiser's revocation or an expiry takes effect on the
judge's very next request, not when a cached login lapses.

Judges are deliberately not Flask-Login users: an organiser's login (``_user_id`` in the same
cookie) never opens a judge page, and a judge's token never opens an organiser page, because
each side reads only its own key. The PIN fallback and rate limiting arrive with later issues.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone

from models import Judge, JudgeToken, Stage, hash_token
from models.base import utcnow

#: The only judge state kept in the (signed cookie) session.
SESSION_KEY = "judge_token_id"

#: `secrets.token_urlsafe(24)` gives 32 characters; anything much longer is not one of ours
#: and is not worth hashing.
MAX_TOKEN_LENGTH = 128


class TokenProblem(enum.StrEnum):
    unknown = "unknown"    # no such token (or the session names a token that is gone)
    expired = "expired"
    revoked = "revoked"


@dataclass(frozen=True)
class TokenCheck:
    """The result of a token look-up: the token, or the reason it cannot be used (the token
    row is still given for expired and revoked tokens so a message can say when)."""

    token: JudgeToken | None
    problem: TokenProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def judge(self) -> Judge:
        return self.token.judge

    @property
    def stage(self) -> Stage:
        return self.token.stage


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _judge(token: JudgeToken | None, now: datetime | None = None) -> TokenCheck:
    if token is None:
        return TokenCheck(None, TokenProblem.unknown)
    # A token whose judge and stage belong to different programmes cannot be honoured.
    if token.judge is None or token.stage is None or token.judge.programme_id != token.stage.programme_id:
        return TokenCheck(None, TokenProblem.unknown)
    if token.revoked_at is not None:
        return TokenCheck(token, TokenProblem.revoked)
    if _aware(token.expires_at) <= (now or utcnow()):
        return TokenCheck(token, TokenProblem.expired)
    return TokenCheck(token)


def check_token(session, plain: str | None, *, now: datetime | None = None) -> TokenCheck:
    """Look a plain token up by its hash and judge it (see the module doc)."""
    if not plain or len(plain) > MAX_TOKEN_LENGTH:
        return TokenCheck(None, TokenProblem.unknown)
    token = session.query(JudgeToken).filter_by(token_hash=hash_token(plain)).one_or_none()
    return _judge(token, now)


def check_token_id(session, token_id, *, now: datetime | None = None) -> TokenCheck:
    """Re-validate the token a judge session names (every judge request does this)."""
    if not isinstance(token_id, int) or isinstance(token_id, bool):
        return TokenCheck(None, TokenProblem.unknown)
    return _judge(session.get(JudgeToken, token_id), now)


def token_from(plain: str | None, session=None) -> JudgeToken | None:
    """The usable token for `plain`, or None when it is unknown, expired or revoked.
    Use `check_token` to tell the three apart."""
    if session is None:
        from extensions import db
        session = db.session
    check = check_token(session, plain)
    return check.token if check.ok else None
