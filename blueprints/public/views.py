"""Public ranking pages: only the latest public (公示) or final version of a publication is
shown; drafts, superseded versions and unknown ids are all the same 404."""
from __future__ import annotations

from flask import abort, render_template

from blueprints.public import bp
from extensions import db
from models import Publication
from services import publication as svc


@bp.get("/results")
def results():
    """Programmes and stages with something published, newest programme first."""
    pubs = svc.public_publications(db.session)
    programmes: dict[int, dict] = {}
    for p in pubs:
        prog = p.stage.programme
        entry = programmes.setdefault(prog.id, {"programme": prog, "stages": {}})
        entry["stages"].setdefault(p.stage.id, {"stage": p.stage, "pubs": []})["pubs"].append(p)
    ordered = sorted(programmes.values(), key=lambda e: (-e["programme"].year, e["programme"].id))
    for e in ordered:
        e["stages"] = sorted(e["stages"].values(), key=lambda s: s["stage"].seq)
        for s in e["stages"]:
            s["pubs"].sort(key=lambda p: (p.scope != "stage", p.scope))
    return render_template("public/results.html", programmes=ordered, today=svc.china_today())


@bp.get("/results/<int:publication_id>")
def result(publication_id: int):
    pub = db.session.get(Publication, publication_id)
    if not svc.is_public(db.session, pub):
        abort(404)
    return render_template("public/result.html", pub=pub, snap=public_view(pub.snapshot), prog=pub.stage.programme,
                           today=svc.china_today())


def public_view(snap: dict) -> dict:
    """What the public sees of a snapshot: ranked rows only. An entry that is not ranked
    (incomplete, disqualified, vetoed) is the organisers' business until it is resolved, and a
    division or category with nothing ranked is left out rather than shown as a list of dashes."""
    categories = []
    for cat in snap.get("categories", []):
        groups = [{**g, "rows": [r for r in g.get("rows", []) if r.get("rank") is not None]}
                  for g in cat.get("groups", [])]
        groups = [g for g in groups if g["rows"]]
        if groups:
            categories.append({**cat, "groups": groups})
    return {**snap, "categories": categories}
