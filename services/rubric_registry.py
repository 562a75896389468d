"""Rubrics as the app sees them: loaded from rubrics/, re-read when a file changes.

The cache is keyed by every file's (path, mtime, size), so all gunicorn workers and all
machines serving the same checkout agree; nothing mutable lives in worker memory beyond
a parse cache that the files themselves invalidate."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, has_app_context

from scoring.rubric import Rubric, RubricError, check_rubric_dir


@dataclass(frozen=True)
class RubricSet:
    rubrics: dict[str, Rubric]
    errors: dict[str, RubricError]   # ref -> error, for refs whose file is broken

    def status(self, ref: str) -> tuple[bool, str]:
        """(usable, message) for a stage's rubric ref."""
        if ref in self.rubrics:
            r = self.rubrics[ref]
            return True, f"{r.id} v{r.version}"
        if ref in self.errors:
            return False, str(self.errors[ref])
        return False, f"rubrics/{ref}.yaml not found"


_cache: dict[str, tuple[tuple, RubricSet, float]] = {}

#: How long a worker trusts its parse of rubrics/ before it looks at the files again. Every
#: score write needs the rubric; statting every file on every request costs more than the
#: rest of the lookup. An edited rubric is seen within this many seconds (tests: at once).
RECHECK_SECONDS = 2.0


def _signature(root: Path) -> tuple:
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*.yaml")))


def _ref_of(root: Path, file: str) -> str:
    p = Path(file)
    try:
        p = p.resolve().relative_to(root.resolve())
    except ValueError:
        pass
    return str(p.with_suffix("")).replace("\\", "/")


def rubric_set(root: str | Path | None = None) -> RubricSet:
    root = Path(root or current_app.config["RUBRIC_DIR"])
    hit = _cache.get(str(root))
    now = time.monotonic()
    recheck = 0.0
    if has_app_context() and not current_app.testing:
        recheck = current_app.config.get("RUBRIC_RECHECK_SECONDS", RECHECK_SECONDS)
    if hit and now - hit[2] < recheck:
        return hit[1]
    sig = _signature(root)
    if hit and hit[0] == sig:
        _cache[str(root)] = (sig, hit[1], now)
        return hit[1]
    rubrics, errors = check_rubric_dir(root)
    rs = RubricSet(rubrics=rubrics, errors={_ref_of(root, e.file): e for e in errors})
    _cache[str(root)] = (sig, rs, now)
    return rs


def stage_rubric_problems(stage) -> list[str]:
    """Messages for every category of the stage whose rubric cannot be used.
    A stage with problems is not served to judges."""
    rs = rubric_set()
    problems = []
    for sc in stage.stage_categories:
        ok, msg = rs.status(sc.rubric_ref)
        if not ok:
            problems.append(f"{sc.category.name}: {msg}")
    return problems
