"""Resource selection (优质科学教育资源遴选): submission, file rules, access, the format check, the
preliminary review, the shortlist and the selection.

The flow
--------
A unit contact drafts a `ResourceSubmission` and submits it before the deadline: the end of the
形式审查 stage's `ends_on` day, Beijing time (no date: open). Submitting gives it an `Entry` in the
形式审查 stage. The organiser passes it or returns it with the checklist's reasons
(rubrics/resources/format-check.yaml); a returned resource is fixed and resubmitted until the
deadline and goes back to the queue. `start_preliminary` copies the entries of passed resources
into 初评 (the promotion copy of services.results), where services.assignment gives each r
reviewers avoiding their unit and province and reviewers score on the judge screen. `shortlist`
carries the top N per type (or those above a threshold) into 终评; `selection_snapshot` applies the
organiser's quota per type or threshold to the final results. A vetoed resource (一票否决 on 科学性)
is never ranked, so never shortlisted or selected, whatever its other marks.

Files
-----
PDF, JPEG and PNG only, recognised by their first bytes (the extension must agree), each at most
`RESOURCE_MAX_FILE_MB`; videos as https links. Files live under
``<RESOURCE_UPLOAD_DIR>/<programme>/<submission>/`` (default ``instance/uploads``, never static/)
under random names; the name shown and downloaded is a sanitised copy of the uploaded one.
`can_view` decides who may read them: the owning unit's contacts, organisers and oversight,
and the judges expected on the resource's entry in their token's stage. Everyone else gets 404.

Every function validates before it writes, flushes and never commits (the view commits once).
"""
from __future__ import annotations

import os
import re
import secrets
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, update

from models import (Category, Entry, FormatCheckDecision, Programme, ProgrammeKind, ResourceAttachment,
                    ResourceCallSettings, ResourceStatus, ResourceSubmission, Stage, StageKind, Unit, User)
from models.base import BEIJING, utcnow

MAX_FILES = 10
MAX_LINKS = 5
DEFAULT_MAX_FILE_MB = 20
TITLE_MAX, AUTHORS_MAX, DESCRIPTION_MAX = 200, 400, 5000

#: type -> (extensions, mime)
FILE_TYPES = {"pdf": ((".pdf",), "application/pdf"),
              "png": ((".png",), "image/png"),
              "jpeg": ((".jpg", ".jpeg"), "image/jpeg")}

STATUS_ZH = {"draft": "草稿", "submitted": "已提交", "returned": "退回修改", "passed": "通过形式审查",
             "withdrawn": "已撤回", "preliminary": "初评中", "final": "入围终评", "selected": "入选",
             "not_selected": "未入选"}


class ResourceError(Exception):
    """A refused action: `message` (Chinese) for the page, `fields` per form field; `status` HTTP."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status


# -- the call ----------------------------------------------------------------------------------

def stage_of(prog: Programme, kind: StageKind) -> Stage | None:
    return next((s for s in prog.stages if s.kind == kind), None)


def calls(session) -> list[Programme]:
    return list(session.scalars(select(Programme).where(Programme.kind == ProgrammeKind.resource_selection)
                                .order_by(Programme.year.desc(), Programme.id.desc())))


def deadline(prog: Programme) -> datetime | None:
    """The last moment to submit: the end of the 形式审查 stage's last day in Beijing time."""
    st = stage_of(prog, StageKind.format_check)
    day: date | None = st.ends_on if st is not None else None
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1), time(0), BEIJING)


def last_day(prog: Programme) -> date | None:
    st = stage_of(prog, StageKind.format_check)
    return st.ends_on if st is not None else None


def is_open(prog: Programme, now: datetime | None = None) -> bool:
    end = deadline(prog)
    return end is None or (now or utcnow()) < end


def _require_open(prog: Programme, now: datetime | None) -> None:
    if not is_open(prog, now):
        end = deadline(prog) - timedelta(seconds=1)
        raise ResourceError(f"申报已于 {end.astimezone(BEIJING):%Y-%m-%d %H:%M}（北京时间）截止，不能再提交、修改或撤回。",
                            status=409)


def max_file_bytes() -> int:
    return int(current_app.config.get("RESOURCE_MAX_FILE_MB", DEFAULT_MAX_FILE_MB)) * 1024 * 1024


def upload_root() -> Path:
    return Path(current_app.config.get("RESOURCE_UPLOAD_DIR") or os.path.join(current_app.instance_path, "uploads"))


def file_path(att: ResourceAttachment) -> Path:
    sub = att.submission
    return upload_root() / str(sub.programme_id) / str(sub.id) / att.stored_name


# -- file checks (pure) ------------------------------------------------------------------------

def sniff(data: bytes) -> str | None:
    """The file type from its first bytes: 'pdf', 'png', 'jpeg' or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    return None


_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*;]')


def safe_name(name: str, fallback_ext: str = "") -> str:
    """A display and download name: no path, no control or shell-special characters, no leading
    dots, at most 100 characters keeping the extension. Chinese is kept (werkzeug's
    secure_filename would drop it)."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    name = re.sub(r"\s+", " ", name)
    stem, ext = os.path.splitext(name)
    if not stem:
        stem, ext = "附件", ext or fallback_ext
    if len(stem) + len(ext) > 100:
        stem = stem[:100 - len(ext)]
    return stem + ext.lower()


def check_file(name: str, data: bytes, limit: int) -> tuple[str, str] | str:
    """(safe name, mime) for an acceptable file, else the Chinese reason it is refused."""
    shown = safe_name(name)
    if not data:
        return f"文件“{shown}”是空文件"
    if len(data) > limit:
        return f"文件“{shown}”超过 {limit // (1024 * 1024)} MB 的上限"
    kind = sniff(data)
    ext = os.path.splitext(shown)[1].lower()
    if kind is None:
        return f"文件“{shown}”不是 PDF、JPG 或 PNG 文件（按文件内容判断）"
    exts, mime = FILE_TYPES[kind]
    if ext not in exts:
        return f"文件“{shown}”的扩展名与内容不符（内容为 {kind.upper()}，应以 {exts[0]} 结尾）"
    return shown, mime


def check_video_url(url: str) -> str | None:
    """None when `url` is an acceptable video link (https, a host, no spaces), else the reason."""
    if len(url) > 500:
        return "视频链接不能超过 500 个字符"
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or re.search(r"\s", url):
        return f"视频链接“{url[:60]}”无效：须为以 https:// 开头的完整网址"
    return None


# -- submission --------------------------------------------------------------------------------

@dataclass
class FileIn:
    name: str
    data: bytes


@dataclass
class SubmissionInput:
    title: str = ""
    category_id: Any = None
    description: str = ""
    authors: str = ""
    links: list[str] = field(default_factory=list)
    files: list[FileIn] = field(default_factory=list)
    remove: set[int] = field(default_factory=set)


EDITABLE = (ResourceStatus.draft, ResourceStatus.submitted, ResourceStatus.returned, ResourceStatus.withdrawn)


def submissions_of_unit(session, prog: Programme, unit_id: int) -> list[ResourceSubmission]:
    return list(session.scalars(select(ResourceSubmission).where(
        ResourceSubmission.programme_id == prog.id, ResourceSubmission.unit_id == unit_id)
        .order_by(ResourceSubmission.id)))


def _validate(session, prog: Programme, data: SubmissionInput, sub: ResourceSubmission | None,
              submit: bool) -> tuple[dict[str, str], Category | None, list[tuple[str, str, bytes]], list[str]]:
    errors: dict[str, str] = {}
    title = data.title.strip()
    if not title:
        errors["title"] = "请填写资源名称"
    elif len(title) > TITLE_MAX:
        errors["title"] = f"资源名称不能超过 {TITLE_MAX} 个字"
    cat = None
    try:
        cid = int(data.category_id)
        cat = next((c for c in prog.categories if c.id == cid), None)
    except (TypeError, ValueError):
        pass
    if cat is None:
        errors["category_id"] = "请选择本次征集的资源类型"
    if len(data.description) > DESCRIPTION_MAX:
        errors["description"] = f"资源说明不能超过 {DESCRIPTION_MAX} 个字"
    elif submit and not data.description.strip():
        errors["description"] = "提交前请填写资源说明"
    if len(data.authors) > AUTHORS_MAX:
        errors["authors"] = f"作者不能超过 {AUTHORS_MAX} 个字"
    elif submit and not data.authors.strip():
        errors["authors"] = "提交前请填写作者"
    limit = max_file_bytes()
    files, problems = [], []
    for f in data.files:
        if not f.name and not f.data:
            continue
        checked = check_file(f.name, f.data, limit)
        if isinstance(checked, str):
            problems.append(checked)
        else:
            files.append((checked[0], checked[1], f.data))
    if problems:
        errors["files"] = "；".join(problems)
    links = [u.strip() for u in data.links if u and u.strip()]
    bad = [m for m in (check_video_url(u) for u in links) if m]
    if bad:
        errors["links"] = "；".join(bad)
    kept = [a for a in (sub.attachments if sub is not None else []) if a.id not in data.remove]
    n_files = sum(1 for a in kept if a.kind == "file") + len(files)
    n_links = sum(1 for a in kept if a.kind == "link") + len(links)
    if n_files > MAX_FILES:
        errors.setdefault("files", f"附件文件最多 {MAX_FILES} 个")
    if n_links > MAX_LINKS:
        errors.setdefault("links", f"视频链接最多 {MAX_LINKS} 个")
    if submit and n_files + n_links == 0 and "files" not in errors and "links" not in errors:
        errors["files"] = "提交前请至少上传一个作品文件或填写一个视频链接"
    return errors, cat, files, links


def save(session, prog: Programme, user: User, data: SubmissionInput, *, sub: ResourceSubmission | None = None,
         submit: bool = False, now: datetime | None = None, removed: list[Path] | None = None) -> ResourceSubmission:
    """Create or edit the unit's resource (and submit it with `submit`). Everything is checked
    before anything is written; refused with ResourceError and field messages. The files of
    removed attachments are appended to `removed`, for the caller to delete after commit."""
    _require_open(prog, now)
    if sub is not None and sub.status not in EDITABLE:
        raise ResourceError("该资源已通过形式审查，不能再修改。", status=409)
    errors, cat, files, links = _validate(session, prog, data, sub, submit)
    if errors:
        raise ResourceError("提交的内容有误，未保存，请按提示修改：" + "；".join(errors.values()), errors)
    if submit:
        _format_stage(prog)               # refuse before any file is written
    if sub is None:
        sub = ResourceSubmission(programme_id=prog.id, unit_id=user.unit_id, created_by=user.id,
                                 status=ResourceStatus.draft)
        session.add(sub)
    sub.title, sub.category_id = data.title.strip(), cat.id
    sub.description, sub.authors = data.description.strip(), data.authors.strip()
    for a in list(sub.attachments):
        if a.id in data.remove:
            if a.kind == "file" and removed is not None:
                removed.append(file_path(a))
            sub.attachments.remove(a)
    session.flush()
    folder = upload_root() / str(prog.id) / str(sub.id)
    for name, mime, blob in files:
        folder.mkdir(parents=True, exist_ok=True)
        stored = secrets.token_hex(16) + os.path.splitext(name)[1]
        (folder / stored).write_bytes(blob)
        sub.attachments.append(ResourceAttachment(kind="file", name=name, stored_name=stored, mime=mime,
                                                  size=len(blob)))
    for url in links:
        sub.attachments.append(ResourceAttachment(kind="link", name=url[:200], url=url))
    if submit:
        _submit(session, prog, sub, now)
    elif sub.entry is not None:
        sub.entry.title, sub.entry.category_id = sub.title, sub.category_id
    session.flush()
    return sub


def _format_stage(prog: Programme) -> Stage:
    stage = stage_of(prog, StageKind.format_check)
    if stage is None:
        raise ResourceError("本次征集没有形式审查阶段，请联系组织方。", status=409)
    return stage


def _submit(session, prog: Programme, sub: ResourceSubmission, now: datetime | None) -> None:
    stage = _format_stage(prog)
    unit = session.get(Unit, sub.unit_id)
    if sub.entry is None:
        sub.entry = Entry(stage_id=stage.id, category_id=sub.category_id, external_id=f"RS{sub.id:06d}",
                          title=sub.title, kind="resource", unit_id=sub.unit_id, province_id=unit.province_id,
                          status="active")
        session.add(sub.entry)
    else:
        sub.entry.title, sub.entry.category_id, sub.entry.status = sub.title, sub.category_id, "active"
    sub.status = ResourceStatus.submitted
    sub.submitted_at = now or utcnow()


def submit(session, prog: Programme, sub: ResourceSubmission, *, now: datetime | None = None) -> None:
    """Submit (or resubmit after a return or a withdrawal) as saved, with the same checks."""
    _require_open(prog, now)
    if sub.status not in EDITABLE:
        raise ResourceError("该资源已通过形式审查，无需再次提交。", status=409)
    data = SubmissionInput(sub.title, sub.category_id, sub.description, sub.authors)
    errors, *_ = _validate(session, prog, data, sub, True)
    if errors:
        raise ResourceError("不能提交：" + "；".join(errors.values()), errors)
    _submit(session, prog, sub, now)
    session.flush()


def withdraw(session, prog: Programme, sub: ResourceSubmission, *, now: datetime | None = None) -> None:
    """The unit takes a submission back (it may resubmit before the deadline)."""
    _require_open(prog, now)
    if sub.status not in (ResourceStatus.submitted, ResourceStatus.returned):
        raise ResourceError("只有已提交或退回修改的资源可以撤回。", status=409)
    sub.status = ResourceStatus.withdrawn
    if sub.entry is not None:
        sub.entry.status = "withdrawn"
    session.flush()


def delete_draft(session, prog: Programme, sub: ResourceSubmission, *, now: datetime | None = None) -> list[Path]:
    """Delete a never-submitted draft; answers the files to remove once the transaction commits."""
    _require_open(prog, now)
    if sub.status != ResourceStatus.draft or sub.entry_id is not None:
        raise ResourceError("只能删除从未提交过的草稿。", status=409)
    paths = [file_path(a) for a in sub.attachments if a.kind == "file"]
    session.delete(sub)
    session.flush()
    return paths


# -- access ------------------------------------------------------------------------------------

def lineage_root(session, entry: Entry) -> Entry:
    """The first-stage entry an entry was promoted from (itself when it was not)."""
    seen = set()
    while entry.source_entry_id is not None and entry.id not in seen:
        seen.add(entry.id)
        entry = session.get(Entry, entry.source_entry_id)
    return entry


def submission_for_entry(session, entry: Entry) -> ResourceSubmission | None:
    root = lineage_root(session, entry)
    return session.scalar(select(ResourceSubmission).where(ResourceSubmission.entry_id == root.id))


def descendants(session, root_ids: Iterable[int]) -> dict[int, list[Entry]]:
    """root entry id -> the entries promoted from it, stage by stage (one query per stage)."""
    out: dict[int, list[Entry]] = {r: [] for r in root_ids}
    frontier = {r: r for r in out}          # entry id -> root id
    while frontier:
        rows = list(session.scalars(select(Entry).where(Entry.source_entry_id.in_(list(frontier)))))
        nxt = {}
        for e in rows:
            root = frontier[e.source_entry_id]
            out[root].append(e)
            nxt[e.id] = root
        frontier = nxt
    return out


def judge_can_view(session, sub: ResourceSubmission, judge_id: int, stage: Stage) -> bool:
    """A judge sees a resource's files only while expected on its entry in that stage."""
    from services.sheets import expected_judges
    if sub.entry_id is None or stage.programme_id != sub.programme_id:
        return False
    candidates = [sub.entry] + descendants(session, [sub.entry_id])[sub.entry_id]
    entry = next((e for e in candidates if e.stage_id == stage.id and e.status == "active"), None)
    if entry is None:
        return False
    return any(j.id == judge_id for j in expected_judges(session, entry, stage))


def can_view(session, sub: ResourceSubmission, user: User | None, judge_token=None) -> bool:
    """Who may see a resource and its files (module doc)."""
    from models import Role
    if user is not None and getattr(user, "is_authenticated", False):
        if user.role in (Role.organiser, Role.oversight):
            return True
        if user.role == Role.unit_contact and user.unit_id == sub.unit_id:
            return True
        if user.judge_id is not None:
            for stage in sub.programme.stages:
                if judge_can_view(session, sub, user.judge_id, stage):
                    return True
    if judge_token is not None:
        return judge_can_view(session, sub, judge_token.judge_id, judge_token.stage)
    return False


def attachments_for_entries(session, entries: Iterable[Entry]) -> dict[int, list[ResourceAttachment]]:
    """entry id -> the attachments of the resource behind it (resource entries only). One query
    per stage of ancestry and one for the submissions, however many entries (a judge's list)."""
    from sqlalchemy.orm import selectinload
    root_of = {e.id: e for e in entries if e.kind == "resource"}
    for _ in range(10):                       # a programme has a handful of stages
        up = {eid: e.source_entry_id for eid, e in root_of.items() if e.source_entry_id is not None}
        if not up:
            break
        parents = {p.id: p for p in session.scalars(select(Entry).where(Entry.id.in_(set(up.values()))))}
        for eid, pid in up.items():
            root_of[eid] = parents[pid]
    if not root_of:
        return {}
    subs = {s.entry_id: s for s in session.scalars(
        select(ResourceSubmission).where(ResourceSubmission.entry_id.in_({r.id for r in root_of.values()}))
        .options(selectinload(ResourceSubmission.attachments)))}
    return {eid: list(subs[r.id].attachments) for eid, r in root_of.items() if r.id in subs}


def materials_for(session, entry_ids: list[int]) -> dict[str, list[dict]]:
    """For the judge screen: entry id -> its resource's files (viewer URLs) and links."""
    from flask import url_for
    if not entry_ids:
        return {}
    entries = list(session.scalars(select(Entry).where(Entry.id.in_(entry_ids), Entry.kind == "resource")))
    out = {}
    for eid, atts in attachments_for_entries(session, entries).items():
        out[str(eid)] = [{"id": a.id, "kind": a.kind, "name": a.name,
                          "url": url_for("resources.attachment", aid=a.id) if a.kind == "file" else a.url}
                         for a in atts]
    return out


# -- status ------------------------------------------------------------------------------------

def status_key(sub: ResourceSubmission, later: list[Entry], stages: dict[int, Stage],
               selected: set[int] | None, shortlist_made: bool = False) -> str:
    """The status a unit sees (STATUS_ZH): the submission's own until it passes, then where its
    entry has got to. `selected` is the root entry ids of the final published list (None: not yet)."""
    if sub.status != ResourceStatus.passed:
        return sub.status.value
    kinds = {stages[e.stage_id].kind for e in later if e.stage_id in stages and e.status == "active"}
    if selected is not None:
        return "selected" if sub.entry_id in selected else "not_selected"
    if StageKind.final_review in kinds:
        return "final"
    if shortlist_made:
        return "not_selected"
    if StageKind.preliminary_review in kinds:
        return "preliminary"
    return "passed"


def statuses(session, prog: Programme, subs: list[ResourceSubmission]) -> dict[int, str]:
    roots = [s.entry_id for s in subs if s.entry_id is not None]
    later = descendants(session, roots) if roots else {}
    stages = {s.id: s for s in prog.stages}
    selected = published_selection(session, prog)
    final = stage_of(prog, StageKind.final_review)
    made = final is not None and session.scalar(select(Entry.id).where(Entry.stage_id == final.id).limit(1)) is not None
    return {s.id: status_key(s, later.get(s.entry_id, []), stages, selected, made) for s in subs}


def published_selection(session, prog: Programme) -> set[int] | None:
    """Root entry ids of the selected resources once the final list is final (公示 over)."""
    from services.publication import latest_final, snapshot_rows
    final = stage_of(prog, StageKind.final_review)
    if final is None:
        return None
    pub = latest_final(session, final)
    if pub is None:
        return None
    ids = [r["entry_id"] for r in snapshot_rows(pub.snapshot) if r.get("selected")]
    roots = set()
    for eid in ids:
        e = session.get(Entry, eid)
        if e is not None:
            roots.add(lineage_root(session, e).id)
    return roots


# -- format check ------------------------------------------------------------------------------

def checklist(prog: Programme):
    """The checklist items of the call's 形式审查 rubric."""
    from services.sheets import SheetError, stage_rubric
    st = stage_of(prog, StageKind.format_check)
    if st is None or not prog.categories:
        raise ResourceError("本次征集没有形式审查阶段。", status=409)
    try:
        rubric = stage_rubric(st, prog.categories[0].id)
    except SheetError as err:
        raise ResourceError(err.message, status=409) from None
    return list(rubric.items or ())


def queue(session, prog: Programme) -> list[ResourceSubmission]:
    return list(session.scalars(select(ResourceSubmission).where(
        ResourceSubmission.programme_id == prog.id, ResourceSubmission.status == ResourceStatus.submitted)
        .order_by(ResourceSubmission.submitted_at, ResourceSubmission.id)))


def decide(session, prog: Programme, sub: ResourceSubmission, *, outcome: str, failed: Iterable[str],
           note: str, actor: str) -> FormatCheckDecision:
    """Pass or return a submitted resource. A return names at least one failed item (or a note);
    a pass may carry only non-blocking remarks. The unit sees the reasons."""
    items = {i.id: i for i in checklist(prog)}
    failed = [f for f in dict.fromkeys(failed) if f]
    unknown = [f for f in failed if f not in items]
    note = (note or "").strip()
    if sub.status != ResourceStatus.submitted:
        raise ResourceError("该资源不在形式审查队列中（可能已被处理或已撤回）。", status=409)
    if unknown:
        raise ResourceError(f"未知的审查项：{'、'.join(unknown)}")
    if len(note) > 1000:
        raise ResourceError("说明不能超过 1000 个字")
    blocking = [f for f in failed if items[f].blocking]
    if outcome == "pass":
        if blocking:
            raise ResourceError("存在未通过的必查项，不能判定通过；请选择“退回修改”。")
    elif outcome == "return":
        if not failed and not note:
            raise ResourceError("退回修改须至少勾选一项未通过的审查项或填写说明。")
    else:
        raise ResourceError("请选择通过或退回修改。")
    reasons = [items[f].fail_reason.zh for f in failed] + ([note] if note else [])
    # Conditional on the status read above: of two organisers deciding at once, one wins.
    done = session.execute(update(ResourceSubmission).where(
        ResourceSubmission.id == sub.id, ResourceSubmission.status == ResourceStatus.submitted).values(
        status=ResourceStatus.passed if outcome == "pass" else ResourceStatus.returned,
        return_reasons=reasons or None, updated_at=utcnow()).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise ResourceError("该资源刚刚已被其他审查人处理或被单位撤回，请刷新页面。", status=409)
    session.refresh(sub)
    d = FormatCheckDecision(submission_id=sub.id, outcome=outcome, failed_items=failed, reasons=reasons,
                            note=note, decided_by=actor)
    session.add(d)
    session.flush()
    return d


def decisions_of(session, sub: ResourceSubmission) -> list[FormatCheckDecision]:
    return list(session.scalars(select(FormatCheckDecision).where(FormatCheckDecision.submission_id == sub.id)
                                .order_by(FormatCheckDecision.id)))


# -- preliminary, shortlist, selection ----------------------------------------------------------

def _carry(session, entries: list[Entry], to_stage: Stage) -> list[Entry]:
    from services.results import _carried, _copy
    carried = _carried(session, to_stage, [e.id for e in entries])
    created = [_copy(session, e, to_stage) for e in entries if e.id not in carried]
    session.flush()
    return created


def start_preliminary(session, prog: Programme) -> list[Entry]:
    """Copy the entries of every passed resource into 初评 (idempotent)."""
    st = stage_of(prog, StageKind.preliminary_review)
    if st is None:
        raise ResourceError("本次征集没有初评阶段。", status=409)
    passed = list(session.scalars(select(Entry).join(ResourceSubmission, ResourceSubmission.entry_id == Entry.id)
                                  .where(ResourceSubmission.programme_id == prog.id,
                                         ResourceSubmission.status == ResourceStatus.passed)
                                  .order_by(Entry.id)))
    if not passed:
        raise ResourceError("还没有通过形式审查的资源。", status=409)
    return _carry(session, passed, st)


def settings_of(session, prog: Programme, *, create: bool = False) -> ResourceCallSettings:
    """The call's rule; without `create` a missing row is an unsaved empty one (a GET writes nothing)."""
    s = session.get(ResourceCallSettings, prog.id)
    if s is None:
        s = ResourceCallSettings(programme_id=prog.id)
        if create:
            session.add(s)
    return s


def _number(raw: Any, name: str, errors: dict, *, integer: bool) -> Any:
    raw = ("" if raw is None else str(raw)).strip()
    if not raw:
        return None
    try:
        v = int(raw) if integer else Decimal(raw)
    except (ValueError, InvalidOperation):
        errors[name] = "请输入正整数" if integer else "请输入 0～100 之间的分数"
        return None
    if integer and v < 1 or not integer and not (0 <= v <= 100):
        errors[name] = "请输入正整数" if integer else "请输入 0～100 之间的分数"
        return None
    return v


def set_rule(session, prog: Programme, *, shortlist_per_type=None, shortlist_min_score=None,
             select_per_type=None, select_min_score=None) -> ResourceCallSettings:
    """The organiser's shortlist and selection rule; an empty field falls back to the rubric."""
    errors: dict[str, str] = {}
    vals = {"shortlist_per_type": _number(shortlist_per_type, "shortlist_per_type", errors, integer=True),
            "shortlist_min_score": _number(shortlist_min_score, "shortlist_min_score", errors, integer=False),
            "select_per_type": _number(select_per_type, "select_per_type", errors, integer=True),
            "select_min_score": _number(select_min_score, "select_min_score", errors, integer=False)}
    if errors:
        raise ResourceError("规则有误，未保存：" + "；".join(errors.values()), errors)
    s = settings_of(session, prog, create=True)
    for k, v in vals.items():
        setattr(s, k, None if v is None else (v if isinstance(v, int) else str(v)))
    session.flush()
    return s


def _rule(rubric, per_type: int | None, min_score: str | None):
    """The rubric's promotion rule with the organiser's quota / threshold, grouped by type."""
    from scoring.rubric import Promotion
    base = rubric.promotion.model_dump() if rubric.promotion is not None else {}
    if per_type is None and min_score is None and base:
        return rubric.promotion
    spec = {"title": base.get("title"), "group_by": ("category",), "quota": per_type,
            "min_score": None if min_score is None else Decimal(min_score),
            "ties_at_cutoff": base.get("ties_at_cutoff", "higher")}
    if per_type is None and min_score is None:
        raise ResourceError("评分标准没有入选规则，请设置每类名额或分数线。", status=409)
    return Promotion.model_validate(spec)


@dataclass
class PickRow:
    row: Any                       # services.results.ResultRow
    picked: bool
    note: str


@dataclass
class PickGroup:
    category: Category
    rule: str
    rows: list[PickRow]


def picks(session, stage: Stage, per_type: int | None, min_score: str | None) -> tuple[list[PickGroup], list[str]]:
    """The stage's results with who the rule picks (the shortlist for 初评, the selection for
    终评): the top `per_type` of each type with at least `min_score`. Vetoed and incomplete
    resources are never ranked, so never picked."""
    from scoring.ranking import _promotion_rule, promote
    from services.results import stage_results
    out = stage_results(session, stage)
    groups = []
    for g in out.groups:
        rule = _rule(g.rubric, per_type, min_score)
        rubric = g.rubric.model_copy(update={"promotion": rule})
        plist = promote(g.outcome.ranked, rubric, {r.entry.id: {"category": g.category.code} for r in g.rows})
        rows = []
        for r in g.rows:
            p = plist.outcome(r.entry.id)
            note = p.note if p is not None else ""
            if r.status != "ok" and r.reasons:
                note = "；".join(r.reasons)
            rows.append(PickRow(r, p is not None and p.outcome == "promoted", note))
        groups.append(PickGroup(g.category, _promotion_rule(rule), rows))
    return groups, out.warnings


def shortlist(session, prog: Programme, *, force_reason: str | None = None) -> list[Entry]:
    """Carry the picked 初评 entries into 终评. Refused while a resource still lacks scores,
    unless the organiser gives a reason."""
    pre, fin = stage_of(prog, StageKind.preliminary_review), stage_of(prog, StageKind.final_review)
    if pre is None or fin is None:
        raise ResourceError("本次征集缺少初评或终评阶段。", status=409)
    s = settings_of(session, prog)
    groups, warnings = picks(session, pre, s.shortlist_per_type, s.shortlist_min_score)
    if warnings:
        raise ResourceError("初评成绩有问题：" + "；".join(warnings), status=409)
    pending = [p.row.entry.external_id for g in groups for p in g.rows if p.row.status == "incomplete"]
    if pending and not (force_reason or "").strip():
        raise ResourceError(f"尚有 {len(pending)} 件资源评审未完成（{'、'.join(pending[:10])}），"
                            "不能确定入围名单；如确需继续，请填写原因。", status=409)
    chosen = [p.row.entry for g in groups for p in g.rows if p.picked]
    if not chosen:
        raise ResourceError("按当前规则没有资源入围终评。", status=409)
    return _carry(session, chosen, fin)


def selection_snapshot(session, prog: Programme, *, only_selected: bool = True) -> dict[str, Any]:
    """The final results as a publication snapshot (services.results.snapshot's shape): the
    selected rows carry the award 入选 (what the public page shows and the 入选证书 name) and
    `selected`; the unit is the holder. The published 入选名单 lists the selected rows only;
    `only_selected=False` keeps every row with its reasons (the organiser's Excel)."""
    from services.results import snapshot
    fin = stage_of(prog, StageKind.final_review)
    s = settings_of(session, prog)
    groups, warnings = picks(session, fin, s.select_per_type, s.select_min_score)
    if warnings:
        raise ResourceError("终评成绩有问题：" + "；".join(warnings), status=409)
    chosen = {p.row.entry.id for g in groups for p in g.rows if p.picked}
    rules = {g.category.id: g.rule for g in groups}
    snap = snapshot(session, fin)
    for cat in snap["categories"]:
        cat["rule"] = rules.get(cat["id"], "")
        for group in cat["groups"]:
            for row in group["rows"]:
                row["selected"] = row["entry_id"] in chosen
                row["promotion"] = None
                row["award"] = {"id": "selected", "name": "入选"} if row["selected"] else None
                row["contestant"] = row["unit"]
            if only_selected:
                group["rows"] = [r for r in group["rows"] if r["selected"]]
    snap["kind"] = "resource_selection"
    return snap


def overview(session, prog: Programme) -> dict[str, Any]:
    """Counts per type and status for the organiser's call page."""
    subs = list(session.scalars(select(ResourceSubmission).where(ResourceSubmission.programme_id == prog.id)))
    st = statuses(session, prog, subs)
    table: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in subs:
        table[s.category_id][st[s.id]] += 1
    return {"subs": subs, "statuses": st, "table": table}
