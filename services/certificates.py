"""Certificates: issuing them from a published result list, finding them again, and the
background batch that renders all of a programme's certificates as one PDF and one ZIP.

A certificate is issued for every row of a final (or, if the organiser chooses, public)
publication that carries an award — or, for a selection programme, every promoted row — one per
person (team entries: one per member when the programme's template says `per_member`, else one
per team naming all members). Issuing is idempotent: the same publication issues nothing twice,
and a new version of the same stage and scope keeps certificates whose award is unchanged,
revokes those whose award changed or vanished, and issues the new ones.

Serial numbers are `{PREFIX}{year}-{seq:05d}` (FDY2024-00001) and public; the verification
code (`secrets.token_urlsafe(18)`) is not guessable and is what the QR code and personal
download link carry.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

from sqlalchemy import func, select

from models import (BatchJob, Certificate, CertificateKind, CertificateTemplate, JobStatus, Programme,
                    ProgrammeKind, Publication, PublicationStatus)

DEFAULT_ISSUER = "中国科学技术馆"
PREFIX = {ProgrammeKind.competition: "FDY", ProgrammeKind.training: "PX",
          ProgrammeKind.resource_selection: "ZY", ProgrammeKind.unit_awards: "YX"}
KIND_FOR_PROGRAMME = {ProgrammeKind.competition: CertificateKind.award,
                      ProgrammeKind.training: CertificateKind.completion,
                      ProgrammeKind.resource_selection: CertificateKind.selection,
                      ProgrammeKind.unit_awards: CertificateKind.unit}
DEFAULTS = {
    CertificateKind.award: ("获奖证书", "{name} 同志：\n在{programme}{category}比赛中荣获{award}。\n特发此证，以资鼓励。"),
    CertificateKind.selection: ("入选证书", "{name}：\n《{title}》经专家评审，入选{programme}{award}。\n特发此证。"),
    CertificateKind.completion: ("结业证书", "{name} 同志：\n参加{programme}，完成培训{hours}学时，考核合格，准予结业。{honour}\n特发此证。"),
    CertificateKind.unit: ("荣誉证书", "{name}：\n在{programme}中表现突出，被评为“{award}”。\n特发此证，以资鼓励。"),
}
PLACEHOLDERS = ("name", "award", "programme", "category", "title", "unit", "stage", "year", "hours", "honour")
_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


class CertificateError(ValueError):
    """A request the service refuses, with a Chinese message for the organiser."""


# -- templates ------------------------------------------------------------------------------------

def default_template(prog: Programme, kind: CertificateKind) -> CertificateTemplate:
    """An unsaved template with the default wording for `kind`."""
    title, wording = DEFAULTS[kind]
    return CertificateTemplate(programme_id=prog.id, kind=kind, title=title, wording=wording,
                               issuer=prog.host or DEFAULT_ISSUER, issued_on=None, per_member=True, seal_path=None)


def template_for(session, prog: Programme, kind: CertificateKind) -> CertificateTemplate:
    """The organiser's template for `kind`, or the default one (unsaved)."""
    tpl = session.scalar(select(CertificateTemplate).where(CertificateTemplate.programme_id == prog.id,
                                                           CertificateTemplate.kind == kind))
    return tpl or default_template(prog, kind)


def fill(wording: str, values: dict) -> str:
    """Replace `{placeholder}`s by plain substitution (no format-string attribute access);
    unknown placeholders stay as written."""
    return _PLACEHOLDER_RE.sub(lambda m: str(values.get(m.group(1), m.group(0))), wording)


# -- issuing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Holder:
    """One certificate a publication row calls for."""
    entry_id: int
    person_id: Optional[int]
    unit_id: Optional[int]
    name: str
    award: str
    detail: dict


def _rows(snapshot: dict) -> Iterable[tuple[dict, dict, dict]]:
    for cat in snapshot.get("categories", []):
        for group in cat.get("groups", []):
            for row in group.get("rows", []):
                yield cat, group, row


def award_of(row: dict, kind: CertificateKind) -> Optional[str]:
    """The award a row's certificate names, or None when the row earns none."""
    if row.get("status", "ok") != "ok":
        return None
    if row.get("award"):
        return row["award"]["name"]
    if kind == CertificateKind.selection and row.get("promotion") == "promoted":
        return "入选"
    return None


def holders(snapshot: dict, kind: CertificateKind, per_member: bool) -> list[Holder]:
    """The certificates a snapshot calls for, in list order."""
    out: list[Holder] = []
    stage = snapshot.get("stage", {})
    for cat, group, row in _rows(snapshot):
        award = award_of(row, kind)
        if award is None:
            continue
        members = row.get("members") or []
        division = (group.get("division") or {}).get("name")
        detail = {"category": cat.get("name", ""), "title": row.get("title", ""), "external_id": row.get("external_id"),
                  "stage": stage.get("name", ""), "division": division, "unit": row.get("unit", ""),
                  "members": [m["name"] for m in members], "honours": row.get("honours") or []}
        if row.get("hours") is not None:
            detail["hours"] = row["hours"]
        if kind == CertificateKind.unit and not members:   # a nominated unit; an individual is named below
            out.append(Holder(row["entry_id"], None, row.get("unit_id"), row.get("unit") or row.get("contestant", ""),
                              award, detail))
        elif len(members) > 1 and not per_member:
            out.append(Holder(row["entry_id"], None, row.get("unit_id"), row.get("contestant")
                              or "、".join(m["name"] for m in members), award, detail))
        elif members:
            for m in members:
                out.append(Holder(row["entry_id"], m.get("person_id"), row.get("unit_id"), m["name"], award,
                                  dict(detail, unit=m.get("unit") or detail["unit"])))
        else:
            out.append(Holder(row["entry_id"], None, row.get("unit_id"), row.get("contestant", ""), award, detail))
    return out


def serial_prefix(prog: Programme) -> str:
    return f"{PREFIX.get(prog.kind, 'ZS')}{prog.year}-"


def _next_seq(session, prefix: str) -> int:
    last = session.scalar(select(func.max(Certificate.serial)).where(Certificate.serial.like(prefix + "%")))
    return int(last[len(prefix):]) + 1 if last else 1


def _lineage(session, pub: Publication) -> list[int]:
    """Ids of every version of `pub`'s stage and scope (certificates follow the lineage)."""
    return list(session.scalars(select(Publication.id).where(Publication.stage_id == pub.stage_id,
                                                             Publication.scope == pub.scope)))


@dataclass
class IssueOutcome:
    issued: list[Certificate]
    kept: int
    revoked: int


def issue(session, pub: Publication, actor: str, *, allow_public: bool = False,
          kind: CertificateKind | None = None) -> IssueOutcome:
    """Issue the certificates `pub` calls for (see the module docstring). Flushes, never commits."""
    if pub.status != PublicationStatus.final and not (allow_public and pub.status == PublicationStatus.public):
        raise CertificateError("只有最终结果（或经确认的公示结果）才能颁发证书")
    prog = pub.stage.programme
    kind = kind or KIND_FOR_PROGRAMME.get(prog.kind, CertificateKind.award)
    tpl = template_for(session, prog, kind)
    wanted = holders(pub.snapshot, kind, tpl.per_member)
    existing = list(session.scalars(
        select(Certificate).where(Certificate.publication_id.in_(_lineage(session, pub)), Certificate.kind == kind,
                                  Certificate.revoked_at.is_(None)).order_by(Certificate.id)))
    by_key = {(c.entry_id, c.person_id, c.holder_name): c for c in existing}
    now = datetime.now(timezone.utc)
    issued_on = tpl.issued_on or (pub.finalised_at or pub.published_at or now).date()
    prefix = serial_prefix(prog)
    seq = _next_seq(session, prefix)
    issued, kept, seen = [], 0, {}
    for h in wanted:
        key = (h.entry_id, h.person_id, h.name)
        if key in seen:
            continue
        seen[key] = h.award
        old = by_key.get(key)
        if old is not None and old.award_name == h.award:
            kept += 1
            continue
        cert = Certificate(programme_id=prog.id, publication_id=pub.id, kind=kind, serial=f"{prefix}{seq:05d}",
                           verify_code=secrets.token_urlsafe(18), entry_id=h.entry_id, person_id=h.person_id,
                           unit_id=h.unit_id, holder_name=h.name, award_name=h.award, programme_name=prog.name,
                           detail=dict(h.detail, issued_by=actor), issued_on=issued_on)
        seq += 1
        session.add(cert)
        issued.append(cert)
    revoked = 0
    for key, c in by_key.items():
        if seen.get(key) != c.award_name:
            c.revoked_at = now
            revoked += 1
    session.flush()
    return IssueOutcome(issued, kept, revoked)


def issue_for_publication(session, pub: Publication, actor: str, *, allow_public: bool = False) -> list[Certificate]:
    """The contract's entry point: the certificates newly issued for `pub`."""
    return issue(session, pub, actor, allow_public=allow_public).issued


# -- finding and addressing -------------------------------------------------------------------------

def _norm(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s or ""))


def find_by_name_serial(session, name: str, serial: str) -> Optional[Certificate]:
    """The certificate with `serial` held by `name` (a team certificate: any member's name),
    or None — callers must not tell the two failures apart."""
    serial, name = _norm(serial).upper(), _norm(name)
    if not serial or not name:
        return None
    cert = session.scalar(select(Certificate).where(Certificate.serial == serial))
    if cert is None:
        return None
    names = {_norm(cert.holder_name), *(_norm(n) for n in (cert.detail or {}).get("members", [])
                                         if cert.person_id is None)}
    return cert if name in names else None


def by_code(session, code: str) -> Optional[Certificate]:
    if not code or len(code) > 64:
        return None
    return session.scalar(select(Certificate).where(Certificate.verify_code == code))


def _base(base_url: str | None) -> str:
    if base_url is None:
        from flask import current_app
        base_url = current_app.config.get("PUBLIC_BASE_URL", "")
    return base_url.rstrip("/")


def verify_url(cert: Certificate, base_url: str | None = None) -> str:
    return f"{_base(base_url)}/verify/{cert.verify_code}"


def download_url(cert: Certificate, base_url: str | None = None) -> str:
    return f"{_base(base_url)}/certificates/{cert.serial}.pdf?code={cert.verify_code}"


# -- rendering ---------------------------------------------------------------------------------------

def seal_dir() -> Path:
    from flask import current_app
    return Path(current_app.config.get("CERTIFICATE_SEAL_DIR") or Path(current_app.instance_path) / "uploads" / "seals")


def seal_file(tpl: CertificateTemplate) -> Optional[Path]:
    if not tpl.seal_path:
        return None
    path = seal_dir() / Path(tpl.seal_path).name
    return path if path.is_file() else None


def render_context(session, certs: list[Certificate], base_url: str | None = None) -> list[dict]:
    """Plain values for each certificate's page (template wording filled in)."""
    from documents.certificates import certificate_page
    templates: dict[tuple[int, str], CertificateTemplate] = {}
    seals: dict[tuple[int, str], Optional[bytes]] = {}
    pages = []
    for cert in certs:
        key = (cert.programme_id, cert.kind)
        if key not in templates:
            prog = session.get(Programme, cert.programme_id)
            templates[key] = template_for(session, prog, cert.kind)
            path = seal_file(templates[key])
            seals[key] = path.read_bytes() if path else None
        pages.append(certificate_page(cert, templates[key], seal=seals[key], verify=verify_url(cert, base_url)))
    return pages


def render_certificate_pdf(cert: Certificate, session=None) -> bytes:
    """One certificate as a PDF (one A4 landscape page)."""
    from documents.certificates import certificates_pdf
    from extensions import db
    return certificates_pdf(render_context(session or db.session, [cert]))


# -- batch: every certificate of a programme as one PDF and one ZIP ------------------------------------

BATCH_KIND = "certificates"
CHUNK = 25                 # certificates laid out and written as one PDF (one font subset) at a time
CHUNK_CALLBACK = None      # the CLI prints progress through this


def batch_workers(n_chunks: int) -> int:
    """Worker processes for a batch: `CERTIFICATE_BATCH_WORKERS` (default: the CPUs this
    process may use), never more than there are chunks; 1 renders in this process."""
    import os

    from flask import current_app
    workers = current_app.config.get("CERTIFICATE_BATCH_WORKERS")
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(int(workers), n_chunks))


def _rendered_chunks(htmls: Iterable[str], workers: int) -> Iterable[tuple[bytes, list[bytes]]]:
    """`documents.certificates.render_chunk` of each HTML, in order: here, or in `workers`
    processes with at most two chunks per worker in flight. The workers are forked from
    multiprocessing's fork server (a fresh single-threaded process, so safe beside this one's
    threads and database connections; they only lay out and write PDFs), which imports
    WeasyPrint once per application process instead of once per worker and batch."""
    from collections import deque

    from documents.certificates import render_chunk
    if workers <= 1:
        for html in htmls:
            yield render_chunk(html)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["weasyprint", "pypdf", "documents.certificates"])
    pool = ProcessPoolExecutor(workers, mp_context=ctx)
    try:
        pending: deque = deque()
        for html in htmls:
            pending.append(pool.submit(render_chunk, html))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def programme_certificates(session, programme_id: int) -> list[Certificate]:
    return list(session.scalars(select(Certificate).where(Certificate.programme_id == programme_id,
                                                          Certificate.revoked_at.is_(None))
                                .order_by(Certificate.serial)))


def fingerprint(session, programme_id: int) -> str:
    """A hash of everything a programme's batch output depends on."""
    h = hashlib.sha256()
    for c in programme_certificates(session, programme_id):
        h.update(json.dumps([c.serial, c.verify_code, c.holder_name, c.award_name, c.programme_name, c.detail,
                             c.issued_on.isoformat(), c.kind], ensure_ascii=False, sort_keys=True,
                            default=str).encode())
    for t in session.scalars(select(CertificateTemplate).where(CertificateTemplate.programme_id == programme_id)
                             .order_by(CertificateTemplate.kind)):
        h.update(json.dumps([t.kind, t.title, t.wording, t.issuer, str(t.issued_on), t.per_member, t.seal_path,
                             str(t.updated_at)], ensure_ascii=False).encode())
    from flask import current_app
    h.update(current_app.config.get("PUBLIC_BASE_URL", "").encode())
    return h.hexdigest()


def batch_dir() -> Path:
    from flask import current_app
    return Path(current_app.config.get("CERTIFICATE_BATCH_DIR") or Path(current_app.instance_path) / "batches")


def _outputs_exist(job: BatchJob) -> bool:
    return bool(job.output) and all(Path(p).is_file() for p in (job.output.get("pdf"), job.output.get("zip")) if p)


def start_batch(session, programme_id: int, actor: str) -> tuple[BatchJob, bool]:
    """The batch job for the programme's current inputs: a finished one with the same
    fingerprint (cached, its files still there), one already running, or a new queued job.
    Returns (job, created)."""
    fp = fingerprint(session, programme_id)
    jobs = session.scalars(select(BatchJob).where(BatchJob.kind == BATCH_KIND, BatchJob.programme_id == programme_id,
                                                  BatchJob.fingerprint == fp).order_by(BatchJob.id.desc()))
    for job in jobs:
        if job.status == JobStatus.done and _outputs_exist(job):
            return job, False
        if job.status in (JobStatus.queued, JobStatus.running):
            return job, False
    job = BatchJob(kind=BATCH_KIND, programme_id=programme_id, status=JobStatus.queued, fingerprint=fp,
                   total=len(programme_certificates(session, programme_id)), done=0, created_by=actor)
    session.add(job)
    session.flush()
    return job, True


def run_batch(session, job_id: int, base_url: str | None = None) -> BatchJob:
    """Render the job's certificates chunk by chunk (each chunk laid out and written once, its
    one-page PDFs for the ZIP cut out of that PDF; chunks spread over worker processes),
    committing progress after each chunk; writes `<fingerprint>.pdf` and `.zip` under the batch
    directory."""
    import zipfile
    from contextlib import closing

    from documents.certificates import PdfJoiner, certificate_html
    job = session.get(BatchJob, job_id)
    job.status, job.started_at, job.done, job.error = JobStatus.running, datetime.now(timezone.utc), 0, None
    job.heartbeat_at = job.started_at
    session.commit()
    try:
        certs = programme_certificates(session, job.programme_id)
        job.total = len(certs)
        out = batch_dir()
        out.mkdir(parents=True, exist_ok=True)
        stem = f"certificates-{job.programme_id}-{job.fingerprint[:16]}"
        pdf_path, zip_path = out / f"{stem}.pdf", out / f"{stem}.zip"
        chunks = [certs[i:i + CHUNK] for i in range(0, len(certs), CHUNK)]
        # HTML is rendered here (database, request translations); workers only lay out and write
        htmls = (certificate_html(render_context(session, chunk, base_url)) for chunk in chunks)
        combined = PdfJoiner()            # pages appended while the workers render the next chunks
        # members are PDFs (compressed streams): stored, deflating them again gains ~nothing
        rendered = _rendered_chunks(htmls, batch_workers(len(chunks)))
        with closing(rendered), zipfile.ZipFile(zip_path.with_suffix(".zip.part"), "w", zipfile.ZIP_STORED) as zf:
            for chunk, (pdf, members) in zip(chunks, rendered, strict=True):
                if len(members) != len(chunk):
                    raise RuntimeError(f"{len(chunk)} certificates laid out as {len(members)} pages")
                for cert, member in zip(chunk, members):
                    zf.writestr(f"{cert.serial}-{cert.holder_name}.pdf", member)
                combined.append(pdf)
                job.done += len(chunk)
                job.heartbeat_at = datetime.now(timezone.utc)
                session.commit()
                if CHUNK_CALLBACK:
                    CHUNK_CALLBACK(job)
        pdf_path.with_suffix(".pdf.part").write_bytes(combined.write() if combined.count else b"")
        pdf_path.with_suffix(".pdf.part").replace(pdf_path)
        zip_path.with_suffix(".zip.part").replace(zip_path)
        job.output = {"pdf": str(pdf_path), "zip": str(zip_path), "count": len(certs)}
        job.status, job.finished_at = JobStatus.done, datetime.now(timezone.utc)
    except Exception as exc:  # recorded for the progress page; the CLI re-raises
        session.rollback()
        job = session.get(BatchJob, job_id)
        job.status, job.error, job.finished_at = JobStatus.failed, f"{type(exc).__name__}: {exc}", datetime.now(timezone.utc)
        session.commit()
        raise
    session.commit()
    return job


def run_batch_in_thread(app, job_id: int) -> threading.Thread:
    """Run a job in a background thread with its own app context and session; progress lives
    in the database only."""
    def work():
        with app.app_context():
            from extensions import db
            try:
                run_batch(db.session, job_id)
            except Exception:  # noqa: BLE001 - recorded on the job
                pass
            finally:
                db.session.remove()

    t = threading.Thread(target=work, name=f"certificate-batch-{job_id}", daemon=True)
    t.start()
    return t


def job_status(job: BatchJob) -> dict:
    return {"id": job.id, "status": str(job.status), "done": job.done, "total": job.total,
            "percent": int(100 * job.done / job.total) if job.total else (100 if job.status == JobStatus.done else 0),
            "error": job.error, "ready": job.status == JobStatus.done}


def today() -> date:
    return datetime.now(timezone.utc).date()
