"""`flask --app app export-scores --out DIR`: every raw score, in the long format that
`python -m scoring rank` reads (DESIGN.md contract 3), so anyone can recompute a published
ranking offline and check it to the cent.

One directory per ranking the web app computes (`services.results.stage_results`): a stage ×
category, and × division in a stage ranked per division (`Stage.by_division`), named
`s<stage id>-<category code>[-<division code>]`. Each holds

* `scores.csv` — `entry,judge,criterion,score` (entry and judge numbers), plus `flags` (what
  the judge marked on the sheet), `entry_flags` (flags the chief decided for the entry),
  `input:<id>` (measured figures such as duration_seconds) and `deduction:<id>` (counts) from
  the chief's entry record, repeated on each row of the entry. The rows are exactly the sheets
  the web app ranks: submitted or locked, from the judges expected on the entry, on the
  stage's rubric version.
* `rubric.yaml` — a byte copy of the rubric file the stage uses.
* `published.csv` — `rank,entry,score,status` as the latest public or final publication
  shows them (absent when nothing is published for this ranking).
* `manifest.json` at the top lists every directory with its stage, category, rubric id and
  version, counts, the publication (id, version, status) and whether the ranking computed
  now still equals the published one.

Then `python -m scoring rank DIR/x/scores.csv --rubric DIR/x/rubric.yaml` prints the same rank
and score for every entry as `published.csv` (tests/web/test_score_export.py checks it).
"""
from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from models import Stage
from scoring.sheets import format_number
from services.publication import category_of, public_publications
from services.results import ResultGroup, stage_results

PUBLISHED_HEADER = ["rank", "entry", "score", "status"]


def _safe(code: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(code))


def directory_name(stage: Stage, group: ResultGroup) -> str:
    name = f"s{stage.id}-{_safe(group.category.code)}"
    if group.division is not None:
        name += f"-{_safe(group.division.code)}"
    return name


def _published(session) -> dict[tuple[int, int, int | None], tuple[Any, list[dict]]]:
    """(stage, category, division) → (publication, rows) from the newest visible publication
    covering it (a stage-wide one or a category one, whichever was published last)."""
    out: dict[tuple, tuple[Any, list[dict]]] = {}
    pubs = sorted(public_publications(session), key=lambda p: (p.published_at or p.created_at))
    for pub in pubs:     # later publications overwrite earlier ones
        only = category_of(pub.scope)
        for cat in (pub.snapshot or {}).get("categories", []):
            if only is not None and cat.get("id") != only:
                continue
            for group in cat.get("groups", []):
                div = group.get("division")
                key = (pub.stage_id, cat.get("id"), div.get("id") if div else None)
                out[key] = (pub, group.get("rows", []))
    return out


def _score_rows(group: ResultGroup, external: dict[int, str]) -> tuple[list[str], list[list[str]]]:
    rubric = group.rubric
    inputs = list(rubric.entry_inputs)
    deductions = [d.id for d in rubric.deductions]
    header = ["entry", "judge", "criterion", "score", "flags", "entry_flags",
              *(f"input:{i}" for i in inputs), *(f"deduction:{d}" for d in deductions)]
    rows = []
    for entry_id in sorted(group.sheets, key=lambda k: external[k]):
        ext = external[entry_id]
        rec_inputs = group.inputs.get(entry_id) or {}
        rec_pen = group.penalties.get(entry_id) or {}
        rec_flags = ";".join(sorted(group.flags.get(entry_id) or ()))
        extra = [*(str(rec_inputs.get(i, "")) for i in inputs),
                 *(str(rec_pen.get(d, "")) if rec_pen.get(d) else "" for d in deductions)]
        for judge in sorted(group.sheets[entry_id]):
            sheet = group.sheets[entry_id][judge]
            marks = sheet.scores.items() if sheet.itemised else [("total", sheet.total)]
            judge_flags = ";".join(sorted(sheet.flags))
            for criterion, value in marks:
                rows.append([ext, judge, criterion, format_number(value), judge_flags, rec_flags, *extra])
    return header, rows


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def export_scores(session, out: Path, rubric_dir: Path) -> dict[str, Any]:
    """Write every ranking's raw scores, rubric and published list under `out` (module doc);
    returns the manifest. Reads only."""
    out.mkdir(parents=True, exist_ok=True)
    published = _published(session)
    items = []
    for stage in session.scalars(select(Stage).order_by(Stage.programme_id, Stage.seq, Stage.id)):
        outcome = stage_results(session, stage)
        for group in outcome.groups:
            n_sheets = sum(len(v) for v in group.sheets.values())
            if n_sheets == 0:
                continue
            external = {r.entry.id: r.entry.external_id for r in group.rows}
            name = directory_name(stage, group)
            folder = out / name
            folder.mkdir(parents=True, exist_ok=True)
            header, rows = _score_rows(group, external)
            _write_csv(folder / "scores.csv", header, rows)
            ref = stage.rubric_ref_for(group.category.id)
            shutil.copyfile(Path(rubric_dir) / f"{ref}.yaml", folder / "rubric.yaml")
            now = [[str(r.rank or ""), r.entry.external_id, "" if r.score is None else str(r.score), r.status]
                   for r in group.rows]
            key = (stage.id, group.category.id, group.division.id if group.division is not None else None)
            pub_info = None
            if key in published:
                pub, prow = published[key]
                pub_rows = [[str(r.get("rank") or ""), r.get("external_id", ""), r.get("score") or "",
                             r.get("status", "")] for r in prow]
                _write_csv(folder / "published.csv", PUBLISHED_HEADER, pub_rows)
                pub_info = {"id": pub.id, "version": pub.version, "status": pub.status.value,
                            "scope": pub.scope, "title": pub.title,
                            "published_at": pub.published_at.isoformat() if pub.published_at else None,
                            "matches_current": sorted(pub_rows) == sorted(now)}
            items.append({
                "directory": name,
                "programme": {"id": stage.programme_id, "name": stage.programme.name, "year": stage.programme.year},
                "stage": {"id": stage.id, "name": stage.name, "seq": stage.seq},
                "category": {"id": group.category.id, "code": group.category.code, "name": group.category.name},
                "division": None if group.division is None else {
                    "id": group.division.id, "code": group.division.code, "name": group.division.name},
                "rubric": {"ref": ref, "id": group.rubric.id, "version": group.rubric.version},
                "entries": sum(1 for v in group.sheets.values() if v), "sheets": n_sheets, "rows": len(rows),
                "published": pub_info,
                "command": f"python -m scoring rank {name}/scores.csv --rubric {name}/rubric.yaml",
            })
    manifest = {"generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "format": "entry,judge,criterion,score (+ flags, entry_flags, input:<id>, deduction:<id>)",
                "rankings": items}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest
