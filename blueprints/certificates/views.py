"""Certificate pages.

Public: `/verify/<code>` (name, award, programme and date, nothing more), `/certificates`
(lookup by name + serial number; a failed lookup says the same thing whatever was wrong) and
`/certificates/<serial>.pdf?code=<verify_code>` (the download; the code is the personal link a
unit hands out). Lookups are not rate-limited yet: that comes with Flask-Limiter (issue 9).

Organisers (oversight reads): `/admin/programmes/<pid>/certificates` — the template per kind
(wording, issuer, date, per member or per team, seal image), issuing for a publication, the
list of certificates with their verification links, and the batch (one PDF and one ZIP of all
certificates) run in a background thread with its progress in the database.
"""
from __future__ import annotations

import hmac
import io
import secrets
from datetime import datetime, timezone
from pathlib import Path

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from blueprints.access import require_roles
from blueprints.certificates import bp
from extensions import db
from models import (BatchJob, Certificate, CertificateKind, JobStatus, Programme, Publication,
                    PublicationStatus, Role, Stage)
from services import certificates as svc

PDF = "application/pdf"
SEAL_MAX_BYTES = 2 * 1024 * 1024
organisers = require_roles(Role.organiser, read_roles=(Role.oversight,))


def kind_labels() -> dict:
    return {CertificateKind.award: _("获奖证书"), CertificateKind.selection: _("入选证书"),
            CertificateKind.completion: _("结业证书"), CertificateKind.unit: _("优秀组织单位证书")}


# -- public ---------------------------------------------------------------------------------------------

class LookupForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(message=_l("请填写姓名")), Length(max=200)])
    serial = StringField(_l("证书编号"), validators=[DataRequired(message=_l("请填写证书编号")), Length(max=40)])


@bp.route("/verify/<code>")
def verify(code: str):
    cert = svc.by_code(db.session, code)
    if cert is None:
        return render_template("public/verify.html", cert=None), 404
    return render_template("public/verify.html", cert=cert)


@bp.route("/certificates", methods=["GET", "POST"])
def lookup():
    form = LookupForm()
    found = failed = None
    if form.validate_on_submit():
        from services import ratelimit
        attempts, seconds = ratelimit.limit_for("cert_lookup")
        if not ratelimit.allow(db.session, f"cert-lookup:{ratelimit.client_key()}", attempts, seconds):
            db.session.commit()
            return render_template("public/certificate_lookup.html", form=form, cert=None, failed=None,
                                   limited=True), 429
        db.session.commit()
        cert = svc.find_by_name_serial(db.session, form.name.data, form.serial.data)
        if cert is not None and cert.revoked_at is None:
            found = cert
        else:
            failed = True
    return render_template("public/certificate_lookup.html", form=form, cert=found, failed=failed)


@bp.route("/certificates/<serial>.pdf")
def download(serial: str):
    code = request.args.get("code", "")
    cert = db.session.scalar(select(Certificate).where(Certificate.serial == serial)) if len(serial) <= 40 else None
    if (cert is None or cert.revoked_at is not None
            or not hmac.compare_digest(cert.verify_code.encode(), code.encode())):
        abort(404)
    body = _cached_pdf(cert)
    return send_file(io.BytesIO(body), mimetype=PDF, as_attachment=True, download_name=f"{cert.serial}.pdf",
                     max_age=0)


def _cached_pdf(cert: Certificate) -> bytes:
    """The certificate's PDF, from the disk cache when its inputs have not changed."""
    tpl = svc.template_for(db.session, db.session.get(Programme, cert.programme_id), cert.kind)
    import hashlib
    import json
    key = hashlib.sha256(json.dumps([cert.serial, cert.verify_code, cert.holder_name, cert.award_name,
                                     cert.programme_name, cert.detail, str(cert.issued_on), tpl.title, tpl.wording,
                                     tpl.issuer, str(tpl.issued_on), tpl.seal_path,
                                     current_app.config.get("PUBLIC_BASE_URL")],
                                    ensure_ascii=False, default=str).encode()).hexdigest()[:24]
    path = svc.batch_dir() / "single" / f"{cert.serial}-{key}.pdf"
    if path.is_file():
        return path.read_bytes()
    body = svc.render_certificate_pdf(cert, db.session)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{secrets.token_hex(4)}.part")
    tmp.write_bytes(body)
    tmp.replace(path)
    return body


# -- organisers --------------------------------------------------------------------------------------------

class TemplateForm(FlaskForm):
    title = StringField(_l("证书标题"), validators=[DataRequired(message=_l("请填写证书标题")), Length(max=60)])
    wording = TextAreaField(_l("证书正文"), validators=[DataRequired(message=_l("请填写证书正文")), Length(max=2000)])
    issuer = StringField(_l("颁发单位"), validators=[DataRequired(message=_l("请填写颁发单位")), Length(max=200)])
    issued_on = DateField(_l("落款日期（留空则为结果发布日期）"), validators=[Optional()])
    per_member = BooleanField(_l("团队作品每位成员一张证书"))
    seal = FileField(_l("印章图片（PNG 或 JPEG，不超过 2 MB）"))
    remove_seal = BooleanField(_l("删除已上传的印章"))


class IssueForm(FlaskForm):
    publication = SelectField(_l("结果发布"), coerce=int)
    allow_public = BooleanField(_l("公示期内也颁发（通常只在结果最终确定后颁发）"))


class PlainForm(FlaskForm):
    pass


def _programme(pid: int) -> Programme:
    prog = db.session.get(Programme, pid)
    if prog is None:
        abort(404)
    return prog


def _kind(kind: str) -> CertificateKind:
    try:
        return CertificateKind(kind)
    except ValueError:
        abort(404)


def _actor() -> str:
    return f"{current_user.display_name} ({current_user.username})"


def _publications(prog: Programme) -> list[Publication]:
    return list(db.session.scalars(
        select(Publication).join(Stage, Stage.id == Publication.stage_id)
        .where(Stage.programme_id == prog.id,
               Publication.status.in_([PublicationStatus.public, PublicationStatus.final]))
        .order_by(Stage.seq, Publication.scope, Publication.version)))


@bp.route("/admin/programmes/<int:pid>/certificates")
@organisers
def admin_index(pid: int):
    prog = _programme(pid)
    pubs = _publications(prog)
    issue_form = IssueForm()
    issue_form.publication.choices = [(p.id, f"{p.title} · v{p.version} · {p.status}") for p in pubs]
    certs = list(db.session.scalars(select(Certificate).where(Certificate.programme_id == prog.id)
                                    .order_by(Certificate.serial)))
    templates = {k: svc.template_for(db.session, prog, k) for k in CertificateKind}
    job = db.session.scalar(select(BatchJob).where(BatchJob.kind == svc.BATCH_KIND, BatchJob.programme_id == prog.id)
                            .order_by(BatchJob.id.desc()))
    return render_template("certificates/index.html", prog=prog, pubs=pubs, issue_form=issue_form, certs=certs,
                           templates=templates, labels=kind_labels(), job=job, batch_form=PlainForm(),
                           verify_url=svc.verify_url, download_url=svc.download_url)


@bp.route("/admin/programmes/<int:pid>/certificates/templates/<kind>", methods=["GET", "POST"])
@organisers
def edit_template(pid: int, kind: str):
    prog, kind = _programme(pid), _kind(kind)
    tpl = svc.template_for(db.session, prog, kind)
    form = TemplateForm(obj=tpl)
    if form.validate_on_submit():
        seal_name = None
        upload = form.seal.data
        if upload and getattr(upload, "filename", ""):
            data = upload.read(SEAL_MAX_BYTES + 1)
            problem = seal_problem(data)
            if problem:
                form.seal.errors = [problem]
                return render_template("certificates/template.html", prog=prog, kind=kind, form=form, tpl=tpl,
                                       labels=kind_labels(), placeholders=svc.PLACEHOLDERS), 422
            seal_name = _store_seal(data)
        if tpl.id is None:
            db.session.add(tpl)
        tpl.title, tpl.wording, tpl.issuer = form.title.data.strip(), form.wording.data.strip(), form.issuer.data.strip()
        tpl.issued_on, tpl.per_member = form.issued_on.data, bool(form.per_member.data)
        if seal_name:
            tpl.seal_path = f"uploads/seals/{seal_name}"
        elif form.remove_seal.data:
            tpl.seal_path = None
        tpl.updated_at = datetime.now(timezone.utc)
        db.session.commit()
        flash(_("证书模板已保存"), "success")
        return redirect(url_for("certificates.admin_index", pid=prog.id))
    return render_template("certificates/template.html", prog=prog, kind=kind, form=form, tpl=tpl,
                           labels=kind_labels(), placeholders=svc.PLACEHOLDERS)


def seal_problem(data: bytes) -> str | None:
    """Why `data` is not an acceptable seal image (PNG or JPEG, ≤ 2 MB, a real image), or None."""
    if len(data) > SEAL_MAX_BYTES:
        return _("印章图片不能超过 2 MB")
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return _("印章图片无法识别：请上传 PNG 或 JPEG 图片")
    if fmt not in ("PNG", "JPEG"):
        return _("印章图片只能是 PNG 或 JPEG 格式")
    return None


def _store_seal(data: bytes) -> str:
    ext = "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "jpg"
    name = f"{secrets.token_hex(16)}.{ext}"
    folder = svc.seal_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return name


@bp.route("/admin/programmes/<int:pid>/certificates/templates/<kind>/preview.pdf")
@organisers
def preview_template(pid: int, kind: str):
    """A sample certificate with the current template (nothing is stored)."""
    prog, kind = _programme(pid), _kind(kind)
    tpl = svc.template_for(db.session, prog, kind)
    sample = Certificate(programme_id=prog.id, kind=kind, serial=f"{svc.serial_prefix(prog)}00000",
                         verify_code="preview", holder_name=_("张三"), award_name=_("一等奖"),
                         programme_name=prog.name, detail={"category": _("展品辅导"), "title": _("作品名称")},
                         issued_on=tpl.issued_on or svc.today(), person_id=1)
    seal = svc.seal_file(tpl)
    from documents.certificates import certificate_page, certificates_pdf
    body = certificates_pdf([certificate_page(sample, tpl, seal=seal.read_bytes() if seal else None,
                                              verify=svc.verify_url(sample))])
    return send_file(io.BytesIO(body), mimetype=PDF, download_name="preview.pdf")


@bp.route("/admin/programmes/<int:pid>/certificates/issue", methods=["POST"])
@organisers
def issue(pid: int):
    prog = _programme(pid)
    form = IssueForm()
    form.publication.choices = [(p.id, p.title) for p in _publications(prog)]
    if not form.validate_on_submit():
        flash(_("请选择要颁发证书的结果发布"), "error")
        return redirect(url_for("certificates.admin_index", pid=prog.id))
    pub = db.session.get(Publication, form.publication.data)
    try:
        out = svc.issue(db.session, pub, _actor(), allow_public=bool(form.allow_public.data))
    except svc.CertificateError:
        db.session.rollback()
        flash(_("只有最终结果（或勾选“公示期内也颁发”时的公示结果）才能颁发证书"), "error")
        return redirect(url_for("certificates.admin_index", pid=prog.id))
    db.session.commit()
    flash(_("新颁发 %(n)s 张证书，保留 %(k)s 张，作废 %(r)s 张", n=len(out.issued), k=out.kept, r=out.revoked),
          "success")
    return redirect(url_for("certificates.admin_index", pid=prog.id))


@bp.route("/admin/programmes/<int:pid>/certificates/batch", methods=["POST"])
@organisers
def start_batch(pid: int):
    prog = _programme(pid)
    if not PlainForm().validate_on_submit():
        abort(400)
    job, created = svc.start_batch(db.session, prog.id, _actor())
    db.session.commit()
    if created:
        svc.run_batch_in_thread(current_app._get_current_object(), job.id)
    return redirect(url_for("certificates.batch_page", pid=prog.id, job_id=job.id))


def _job(pid: int, job_id: int) -> BatchJob:
    job = db.session.get(BatchJob, job_id)
    if job is None or job.programme_id != pid or job.kind != svc.BATCH_KIND:
        abort(404)
    return job


@bp.route("/admin/programmes/<int:pid>/certificates/batch/<int:job_id>")
@organisers
def batch_page(pid: int, job_id: int):
    return render_template("certificates/batch.html", prog=_programme(pid), job=_job(pid, job_id))


@bp.route("/admin/programmes/<int:pid>/certificates/batch/<int:job_id>/status")
@organisers
def batch_status(pid: int, job_id: int):
    return jsonify(svc.job_status(_job(pid, job_id)))


@bp.route("/admin/programmes/<int:pid>/certificates/batch/<int:job_id>/<fmt>")
@organisers
def batch_file(pid: int, job_id: int, fmt: str):
    job = _job(pid, job_id)
    if fmt not in ("pdf", "zip") or job.status != JobStatus.done or not job.output:
        abort(404)
    path = Path(job.output[fmt])
    if not path.is_file():
        abort(404)
    mimetype = PDF if fmt == "pdf" else "application/zip"
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=f"certificates-{pid}.{fmt}")
