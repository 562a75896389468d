"""Publication of results: draft → 公示 (public, with an objection period in working days) →
final. Every publication is a frozen snapshot (services.results.snapshot); a change after
publication is a new version with a stated reason, and the version it replaces is kept as
`superseded` for organisers. Nothing but `public` / `final` is ever meant for public pages.

Every function flushes and never commits; every refusal raises `PublicationError` with a
Chinese message before anything is changed.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from models import Objection, Publication, PublicationStatus, Stage
from models.base import beijing_today
from scoring.workdays import PRC_HOLIDAYS, PRC_WORKDAYS_EXTRA, add_working_days

S = PublicationStatus
VISIBLE = (S.public, S.final)
MAX_DAYS = 30


def _(msg: str, **kw) -> str:
    """The message in the user's language inside a request, else the Chinese msgid."""
    return gettext(msg, **kw) if has_request_context() else (msg % kw if kw else msg)


class PublicationError(Exception):
    """A refused action; `status` is the HTTP code a view should answer with."""
    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


def scope_for(category_id: int | None) -> str:
    return "stage" if category_id is None else f"category:{int(category_id)}"


def category_of(scope: str) -> int | None:
    return int(scope.split(":", 1)[1]) if scope.startswith("category:") else None


def china_today() -> date:
    return beijing_today()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def versions(session, stage_id: int, scope: str | None = None) -> list[Publication]:
    """All versions of a stage (optionally one scope), newest first."""
    q = select(Publication).where(Publication.stage_id == stage_id)
    if scope is not None:
        q = q.where(Publication.scope == scope)
    return list(session.scalars(q.order_by(Publication.scope, Publication.version.desc())))


def latest(session, stage_id: int, scope: str) -> Publication | None:
    return session.scalars(select(Publication).where(Publication.stage_id == stage_id, Publication.scope == scope)
                           .order_by(Publication.version.desc()).limit(1)).first()


def _snapshot(session, stage: Stage, category_id: int | None) -> dict:
    """The stage's current results as the contract's snapshot (services.results)."""
    try:
        from services.results import snapshot
    except ImportError:
        raise PublicationError(_("结果计算模块尚未就绪，暂时无法生成快照。"), 503) from None
    return snapshot(session, stage, category_id=category_id)


def _default_title(snap: dict, stage: Stage, category_id: int | None) -> str:
    st = snap.get("stage") or {}
    title = f"{st.get('programme') or stage.programme.name} · {st.get('name') or stage.name}"
    if category_id is not None:
        cat = next((c for c in snap.get("categories", []) if c.get("id") == category_id), None)
        if cat:
            title += f" · {cat.get('name')}"
    return title + " 评审结果"


def create_draft(session, stage: Stage, *, category_id: int | None = None, actor: str,
                 reason: str | None = None, snapshot: dict | None = None, title: str | None = None,
                 expected_version: int | None = None) -> Publication:
    """Freeze the stage's current results as a draft: version 1, or the next version after a
    published one (then `reason` is required). `expected_version` is the latest version the
    organiser saw; if another organiser got there first the call is refused."""
    scope = scope_for(category_id)
    reason = (reason or "").strip() or None
    prev = latest(session, stage.id, scope)
    prev_version = prev.version if prev else 0
    if expected_version is not None and expected_version != prev_version:
        raise PublicationError(_("其他组织方刚刚修改了此结果的版本（现为第 %(v)s 版），请刷新页面后再试。",
                                 v=prev_version), 409)
    if prev is not None and prev.status == S.draft:
        raise PublicationError(_("已有未发布的草稿（第 %(v)s 版），请先发布或删除该草稿。", v=prev.version))
    if prev is not None and reason is None:
        raise PublicationError(_("结果已发布过，生成新版本必须填写变更原因。"))
    if title is not None and len(title.strip()) > 200:
        raise PublicationError(_("标题不能超过 200 个字。"))
    if snapshot is None:
        snapshot = _snapshot(session, stage, category_id)
    if not snapshot or not snapshot.get("categories"):
        raise PublicationError(_("没有可发布的结果。"))
    pub = Publication(stage_id=stage.id, scope=scope, version=prev_version + 1, status=S.draft,
                      title=(title or "").strip() or _default_title(snapshot, stage, category_id),
                      snapshot=snapshot, reason=reason, created_by=actor)
    # No SAVEPOINT (unreliable on SQLite here): the unique key (stage, scope, version) decides a
    # race; the loser's session must be rolled back by the caller, as every refusal is.
    session.add(pub)
    try:
        session.flush()
    except IntegrityError:
        raise PublicationError(_("其他组织方同时生成了第 %(v)s 版，本次操作未保存，请刷新页面查看。",
                                 v=prev_version + 1), 409) from None
    return pub


def discard_draft(session, pub: Publication, actor: str) -> None:
    """Delete a draft (never a published version)."""
    if pub.status != S.draft:
        raise PublicationError(_("只能删除草稿；已发布的版本会一直保留。"))
    session.delete(pub)
    session.flush()


def _transition(session, pub: Publication, frm: PublicationStatus, to: PublicationStatus, **values) -> None:
    """Change status only if nobody else changed it first (a conditional UPDATE)."""
    res = session.execute(update(Publication).where(Publication.id == pub.id, Publication.status == frm)
                          .values(status=to, **values).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        session.expire(pub)
        raise PublicationError(_("此结果的状态刚刚被其他组织方修改，请刷新页面后再试。"), 409)
    session.expire(pub)


def publish(session, pub: Publication, actor: str, *, days: int = 5, today: date | None = None,
            holidays=PRC_HOLIDAYS, workdays_extra=PRC_WORKDAYS_EXTRA) -> Publication:
    """Draft → 公示: public until `days` working days after `today`; the version it replaces
    becomes superseded (kept for organisers)."""
    if pub.status != S.draft:
        raise PublicationError(_("只有草稿可以发布公示。"))
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise PublicationError(_("公示期应为 1 到 %(n)s 个工作日。", n=MAX_DAYS))
    today = today or china_today()
    until = add_working_days(today, days, holidays, workdays_extra)
    _transition(session, pub, S.draft, S.public, objection_days=days, objection_until=until,
                published_at=_now())
    session.execute(update(Publication)
                    .where(Publication.stage_id == pub.stage_id, Publication.scope == pub.scope,
                           Publication.version < pub.version, Publication.status.in_(VISIBLE))
                    .values(status=S.superseded).execution_options(synchronize_session=False))
    session.flush()
    session.expire_all()
    return pub


def record_objection(session, pub: Publication, *, submitted_by: str, text: str,
                     entry_id: int | None = None, actor: str | None = None) -> Objection:
    """Record an objection received during 公示 (who, what, about which entry)."""
    if pub.status != S.public:
        raise PublicationError(_("只能在公示期间登记异议。"))
    submitted_by, text = (submitted_by or "").strip(), (text or "").strip()
    if not submitted_by:
        raise PublicationError(_("请填写异议提出人（姓名与联系方式）。"))
    if len(submitted_by) > 120:
        raise PublicationError(_("异议提出人不能超过 120 个字。"))
    if not text:
        raise PublicationError(_("请填写异议内容。"))
    if entry_id is not None and entry_id not in snapshot_entry_ids(pub.snapshot):
        raise PublicationError(_("所选作品不在本次公示的名单中。"))
    obj = Objection(publication_id=pub.id, entry_id=entry_id, submitted_by=submitted_by, text=text)
    session.add(obj)
    session.flush()
    return obj


def answer_objection(session, obj: Objection, *, outcome: str, upheld: bool, actor: str) -> Objection:
    """Answer an objection once: the outcome and whether it was upheld."""
    if obj.answered_at is not None:
        raise PublicationError(_("该异议已经答复，不能重复答复。"))
    outcome = (outcome or "").strip()
    if not outcome:
        raise PublicationError(_("请填写处理结果。"))
    if not isinstance(upheld, bool):
        raise PublicationError(_("请选择异议是否成立。"))
    obj.outcome, obj.upheld, obj.answered_by, obj.answered_at = outcome, upheld, actor, _now()
    session.flush()
    return obj


def unanswered(pub: Publication) -> list[Objection]:
    return [o for o in pub.objections if o.answered_at is None]


def finalise(session, pub: Publication, actor: str, *, force_reason: str | None = None,
             today: date | None = None) -> Publication:
    """公示 → final, once the objection period is over (the day after `objection_until`) and
    every objection is answered; `force_reason` overrides both and is kept in `reason`."""
    if pub.status != S.public:
        raise PublicationError(_("只有公示中的结果可以确认为最终结果。"))
    force_reason = (force_reason or "").strip() or None
    today = today or china_today()
    if force_reason is None:
        if pub.objection_until is not None and today <= pub.objection_until:
            raise PublicationError(_("公示期至 %(d)s 结束，之前不能确认最终结果（如确需提前，请填写原因）。",
                                     d=pub.objection_until.isoformat()))
        n = len(unanswered(pub))
        if n:
            raise PublicationError(_("还有 %(n)s 条异议未答复，不能确认最终结果（如确需确认，请填写原因）。", n=n))
    reason = pub.reason
    if force_reason:
        note = f"[{today.isoformat()} {actor} 提前确认] {force_reason}"
        reason = f"{reason}\n{note}" if reason else note
    _transition(session, pub, S.public, S.final, finalised_at=_now(), reason=reason)
    session.flush()
    return pub


def snapshot_entry_ids(snap: dict | None) -> set[int]:
    return {row.get("entry_id") for row in snapshot_rows(snap)}


def snapshot_rows(snap: dict | None):
    """Every row of a snapshot, across categories and division groups."""
    for cat in (snap or {}).get("categories", []):
        for group in cat.get("groups", []):
            yield from group.get("rows", [])


def is_public(session, pub: Publication | None) -> bool:
    """True only for the latest public/final version of its stage and scope."""
    if pub is None or pub.status not in VISIBLE:
        return False
    newest = session.scalar(select(func.max(Publication.version)).where(
        Publication.stage_id == pub.stage_id, Publication.scope == pub.scope, Publication.status.in_(VISIBLE)))
    return newest == pub.version


def public_publications(session) -> list[Publication]:
    """What the public may see: public/final only, the latest such version per stage+scope."""
    pubs = session.scalars(select(Publication).where(Publication.status.in_(VISIBLE))
                           .order_by(Publication.stage_id, Publication.scope, Publication.version.desc()))
    seen, out = set(), []
    for p in pubs:
        if (p.stage_id, p.scope) not in seen:
            seen.add((p.stage_id, p.scope))
            out.append(p)
    return out


def latest_final(session, stage: Stage, scope: str = "stage") -> Publication | None:
    return session.scalars(select(Publication).where(
        Publication.stage_id == stage.id, Publication.scope == scope, Publication.status == S.final)
        .order_by(Publication.version.desc()).limit(1)).first()
