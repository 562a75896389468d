"""Organiser downloads of the result documents: 获奖名单 and 评分汇总表 (PDF and Excel) per stage,
optionally one category, from the live results or from a publication's frozen snapshot
(`?publication=<id>`, so a printed list is exactly what was published); 评委打分表 (PDF, every
judge of the stage, one section each). GET only: oversight (监审) may download too (the
blueprint guard lets its GETs through and refuses everything else)."""
from __future__ import annotations

import io

from flask import abort, request, send_file

from blueprints.admin import bp
from blueprints.admin.views import _programme, _stage
from documents import result_lists_excel as xl
from documents import result_pdfs as pdfs
from extensions import db
from models import Publication
from services import results as svc

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KINDS = {"awards": ("获奖名单", pdfs.award_list_pdf, xl.award_list_xlsx),
         "score-summary": ("评分汇总表", pdfs.score_summary_pdf, xl.score_summary_xlsx)}


def _category(stage) -> int | None:
    cid = request.args.get("category", type=int)
    if cid is not None and cid not in [sc.category_id for sc in stage.stage_categories]:
        abort(404)
    return cid


def _snapshot(stage, cid: int | None) -> tuple[dict, str | None]:
    """(snapshot, date) from `?publication=` (this stage's) or computed now."""
    pub_id = request.args.get("publication", type=int)
    if pub_id is None:
        return svc.snapshot(db.session, stage, category_id=cid), None
    pub = db.session.get(Publication, pub_id)
    if pub is None or pub.stage_id != stage.id:
        abort(404)
    snap = pub.snapshot
    if cid is not None:
        snap = {**snap, "categories": [c for c in snap["categories"] if c["id"] == cid]}
    when = pub.finalised_at or pub.published_at or pub.created_at
    return snap, when.date().isoformat() if when else None


def _send(data: bytes, name: str, mimetype: str):
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=name)


@bp.get("/programmes/<int:pid>/stages/<int:sid>/documents/<kind>.<ext>")
def result_document(pid: int, sid: int, kind: str, ext: str):
    if kind not in KINDS or ext not in ("pdf", "xlsx"):
        abort(404)
    stage = _stage(_programme(pid), sid)
    cid = _category(stage)
    snap, date = _snapshot(stage, cid)
    label, to_pdf, to_xlsx = KINDS[kind]
    scope = next((c["name"] for c in snap["categories"] if c["id"] == cid), None) if cid is not None else None
    name = pdfs.filename(snap, label, ext, scope)
    if ext == "pdf":
        return _send(to_pdf(snap, date=date), name, "application/pdf")
    return _send(to_xlsx(snap, date=date), name, XLSX)


@bp.get("/programmes/<int:pid>/stages/<int:sid>/documents/ranking.pdf")
def ranking_document(pid: int, sid: int):
    """成绩排名 as a print-ready PDF (the fast paginated layout of documents/result_pdfs.py)."""
    stage = _stage(_programme(pid), sid)
    cid = _category(stage)
    snap, date = _snapshot(stage, cid)
    scope = next((c["name"] for c in snap["categories"] if c["id"] == cid), None) if cid is not None else None
    return _send(pdfs.ranking_pdf(snap, date=date), pdfs.filename(snap, "成绩排名", "pdf", scope), "application/pdf")


@bp.get("/programmes/<int:pid>/stages/<int:sid>/documents/judge-sheets.pdf")
def judge_sheets_document(pid: int, sid: int):
    stage = _stage(_programme(pid), sid)
    data = pdfs.judge_sheets_data(db.session, stage, category_id=_category(stage))
    return _send(pdfs.judge_sheets_pdf(data), pdfs.filename(data, "评委打分表", "pdf"), "application/pdf")
