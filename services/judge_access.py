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
each side reads only its own key.

The PIN fallback
----------------
A judge whose camera cannot read the QR code types the card's PIN at ``/j/pin`` instead. Every
token is issued with an 8-digit PIN (printed "1234 5678"), unique among all tokens, stored only
as ``sha256("judge-pin:" + digits)`` in `JudgeToken.pin_hash`. `check_pin` finds the token by
that hash and judges it exactly as `check_token` does, so a PIN expires and is revoked with its
token. A PIN is a much smaller secret than a token (10^8 values): rate limiting of ``/j/pin``
arrives with a later issue.

`issue_card` is how organisers issue access (the demo, after wiping, calls `new_pin` itself):
it revokes the judge's live tokens for the stage and answers the new row with its plain token
and PIN, which exist only in that return value (printed on the card in the same request).
"""
from __future__ import annotations

import enum
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models import Judge, JudgeToken, Stage, hash_token
from models.base import BEIJING, as_utc, utcnow

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


def _judge(token: JudgeToken | None, now: datetime | None = None) -> TokenCheck:
    if token is None:
        return TokenCheck(None, TokenProblem.unknown)
    # A token whose judge and stage belong to different programmes cannot be honoured.
    if token.judge is None or token.stage is None or token.judge.programme_id != token.stage.programme_id:
        return TokenCheck(None, TokenProblem.unknown)
    if token.revoked_at is not None:
        return TokenCheck(token, TokenProblem.revoked)
    if as_utc(token.expires_at) <= (now or utcnow()):
        return TokenCheck(token, TokenProblem.expired)
    return TokenCheck(token)


def check_token(session, plain: str | None, *, now: datetime | None = None) -> TokenCheck:
    """Look a plain token up by its hash and judge it (see the module doc)."""
    if not plain or len(plain) > MAX_TOKEN_LENGTH:
        return TokenCheck(None, TokenProblem.unknown)
    # One statement for the token, its judge (and person, for the audit label) and its stage
    # (and the stage's rubric refs, one more): every API request needs all of them.
    token = session.scalars(
        select(JudgeToken).where(JudgeToken.token_hash == hash_token(plain))
        .options(joinedload(JudgeToken.judge).joinedload(Judge.person),
                 joinedload(JudgeToken.stage).selectinload(Stage.stage_categories))).one_or_none()
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


# -- the PIN fallback ------------------------------------------------------------------------

PIN_DIGITS = 8
#: Domain separation: a PIN hash can never equal a token hash (`hash_token` hashes the bare token).
PIN_PREFIX = "judge-pin:"
#: Spaces, dashes and dots a judge may type (or a phone may insert) between the digits.
_PIN_NOISE = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc\u00b7.]+")
_PIN_FORM = re.compile(rf"[0-9]{{{PIN_DIGITS}}}")


def normalise_pin(raw: str | None) -> str | None:
    """The 8 ASCII digits of a typed PIN, or None. Full-width digits (１２３４) and full-width
    spaces or dashes, as a Chinese input method produces them, count like ASCII ones."""
    if not raw or len(raw) > 40:
        return None
    digits = _PIN_NOISE.sub("", unicodedata.normalize("NFKC", raw))
    return digits if _PIN_FORM.fullmatch(digits) else None


def hash_pin(digits: str) -> str:
    return hashlib.sha256((PIN_PREFIX + digits).encode()).hexdigest()


def format_pin(digits: str) -> str:
    """How a PIN is printed and shown: two groups of four ("1234 5678")."""
    return f"{digits[:4]} {digits[4:]}"


def new_pin(session, taken: set[str] | None = None) -> tuple[str, str]:
    """A fresh random PIN and its hash, unique among all tokens (revoked ones included: the
    column is unique) and among `taken`, the hashes of PINs issued but not yet flushed, which
    this adds to. `session=None` skips the database (the demo, right after wiping the tables)."""
    taken = taken if taken is not None else set()
    while True:
        digits = f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"
        digest = hash_pin(digits)
        if digest in taken:
            continue
        if session is None or session.scalar(select(JudgeToken.id).where(JudgeToken.pin_hash == digest)) is None:
            taken.add(digest)
            return digits, digest


def check_pin(session, pin: str | None, *, now: datetime | None = None) -> TokenCheck:
    """Look a typed PIN up by its hash and judge its token like `check_token` does."""
    digits = normalise_pin(pin)
    if digits is None:
        return TokenCheck(None, TokenProblem.unknown)
    token = session.query(JudgeToken).filter_by(pin_hash=hash_pin(digits)).one_or_none()
    return _judge(token, now)


# -- issuing and revoking (organiser screens, the demo) ------------------------------------

@dataclass(frozen=True)
class IssuedCard:
    """A freshly issued token with the secrets that exist only now (for the card)."""

    token: JudgeToken
    plain: str        # the token of the login URL
    pin: str          # 8 digits

    @property
    def pin_display(self) -> str:
        return format_pin(self.pin)


def default_days(stage: Stage, now: datetime | None = None) -> int:
    """How long a new card lasts: to the day after the stage ends (so a judge can finish late
    sheets), at least a week; 30 days when the stage has no end date."""
    if stage.ends_on is None:
        return 30
    today = (now or utcnow()).astimezone(BEIJING).date()
    return max(7, (stage.ends_on - today).days + 2)


def token_state(token: JudgeToken, now: datetime | None = None) -> str:
    """"revoked", "expired" or "active", in the order `check_token` tests them."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if as_utc(token.expires_at) <= (now or utcnow()) else "active"


def revoke(token: JudgeToken, now: datetime | None = None) -> bool:
    """Revoke a token (and with it its PIN); False when it already was."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now or utcnow()
    return True


def issue_card(session, judge_id: int, stage_id: int, *, days: int = 30, taken: set[str] | None = None,
               revoke_old: bool = True, now: datetime | None = None) -> IssuedCard:
    """Issue a token and PIN for the judge and stage, revoking the judge's earlier unrevoked
    tokens for that stage first (a re-issued card replaces the old one; one live card each).
    Adds the row to the session; the caller commits."""
    now = now or utcnow()
    if revoke_old:
        for old in session.scalars(select(JudgeToken).where(JudgeToken.judge_id == judge_id,
                                                            JudgeToken.stage_id == stage_id,
                                                            JudgeToken.revoked_at.is_(None))):
            revoke(old, now)
    row, plain = JudgeToken.issue(judge_id, stage_id, days)
    pin, row.pin_hash = new_pin(session, taken)
    session.add(row)
    return IssuedCard(row, plain, pin)
