"""Unit contact pages (my unit's resources, the submission form) and the attachment view that
units, organisers and assigned reviewers share."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, send_file, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.resources import bp
from blueprints.resources.common import call_or_404, contact_only, own_submission_or_404
from extensions import db
from models import ResourceAttachment
from services import resources as svc


@bp.url_value_preprocessor
def _upload_limit(endpoint, values):
    """The app-wide 8 MB body limit is for Excel imports; a resource form carries up to
    MAX_FILES files of RESOURCE_MAX_FILE_MB each (each file is checked again in the service).
    Set here, not in before_request: the CSRF check (an app before_request) reads the body first."""
    if endpoint in ("resources.new", "resources.edit"):
        request.max_content_length = svc.MAX_FILES * svc.max_file_bytes() + 1024 * 1024


@bp.errorhandler(413)
def _too_large(e):
    """Over the whole form's limit: say the per-file rule, not the app's import limit."""
    mb = svc.max_file_bytes() // (1024 * 1024)
    return render_template("errors/error.html", code=413, message=_(
        "上传的内容太大：每个文件不超过 %(mb)s MB，一次最多 %(n)s 个文件。您的申报没有保存，请返回后重试。",
        mb=mb, n=svc.MAX_FILES)), 413


@bp.get("/resources/")
@contact_only
def unit_home():
    calls = svc.calls(db.session)
    mine = {}
    for prog in calls:
        subs = svc.submissions_of_unit(db.session, prog, current_user.unit_id)
        mine[prog.id] = (subs, svc.statuses(db.session, prog, subs))
    return render_template("resources/unit_home.html", calls=calls, mine=mine, status_zh=svc.STATUS_ZH,
                           last_day=svc.last_day, is_open=svc.is_open)


def _input() -> svc.SubmissionInput:
    f = request.form
    files = [svc.FileIn(x.filename or "", x.read()) for x in request.files.getlist("files") if x.filename]
    links = [line for line in (f.get("links") or "").splitlines() if line.strip()]
    return svc.SubmissionInput(title=f.get("title", ""), category_id=f.get("category_id"),
                               description=f.get("description", ""), authors=f.get("authors", ""),
                               links=links, files=files, remove=set(f.getlist("remove", type=int)))


def _form(prog, sub=None):
    if request.method == "GET":
        return render_template("resources/form.html", prog=prog, sub=sub, errors={}, values=None,
                               deadline=svc.last_day(prog), open=svc.is_open(prog))
    data = _input()
    submit = request.form.get("action") == "submit"
    removed: list = []
    try:
        sub = svc.save(db.session, prog, current_user, data, sub=sub, submit=submit, removed=removed)
    except svc.ResourceError as err:
        db.session.rollback()
        flash(err.message, "error")
        values = {"title": data.title, "category_id": str(data.category_id or ""), "description": data.description,
                  "authors": data.authors, "links": "\n".join(data.links)}
        return render_template("resources/form.html", prog=prog, sub=sub, errors=err.fields, values=values,
                               deadline=svc.last_day(prog), open=svc.is_open(prog)), err.status
    db.session.commit()
    for path in removed:
        path.unlink(missing_ok=True)
    flash(_("资源已提交，等待形式审查。") if submit else _("草稿已保存，提交前仍可修改。"), "success")
    return redirect(url_for("resources.detail", pid=prog.id, sid=sub.id))


@bp.route("/resources/<int:pid>/new", methods=["GET", "POST"])
@contact_only
def new(pid: int):
    return _form(call_or_404(pid))


@bp.route("/resources/<int:pid>/r/<int:sid>/edit", methods=["GET", "POST"])
@contact_only
def edit(pid: int, sid: int):
    prog = call_or_404(pid)
    return _form(prog, own_submission_or_404(prog, sid))


def _act(pid: int, sid: int, fn, done: str):
    prog = call_or_404(pid)
    sub = own_submission_or_404(prog, sid)
    try:
        paths = fn(db.session, prog, sub)
    except svc.ResourceError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("resources.detail", pid=pid, sid=sid))
    db.session.commit()
    for p in paths or ():
        p.unlink(missing_ok=True)
    flash(done, "success")
    return redirect(url_for("resources.unit_home") if fn is svc.delete_draft
                    else url_for("resources.detail", pid=pid, sid=sid))


@bp.post("/resources/<int:pid>/r/<int:sid>/submit")
@contact_only
def submit(pid: int, sid: int):
    return _act(pid, sid, svc.submit, _("资源已提交，等待形式审查。"))


@bp.post("/resources/<int:pid>/r/<int:sid>/withdraw")
@contact_only
def withdraw(pid: int, sid: int):
    return _act(pid, sid, svc.withdraw, _("资源已撤回；截止前可以重新提交。"))


@bp.post("/resources/<int:pid>/r/<int:sid>/delete")
@contact_only
def delete(pid: int, sid: int):
    return _act(pid, sid, svc.delete_draft, _("草稿已删除。"))


@bp.get("/resources/<int:pid>/r/<int:sid>")
def detail(pid: int, sid: int):
    """The resource page: its unit's contacts and organisers (with the format-check form)."""
    from models import ResourceSubmission, Role
    prog = call_or_404(pid)
    sub = db.session.get(ResourceSubmission, sid)
    if (sub is None or sub.programme_id != prog.id or not current_user.is_authenticated
            or current_user.role not in (Role.organiser, Role.oversight, Role.unit_contact)
            or not svc.can_view(db.session, sub, current_user)):
        abort(404)
    status = svc.statuses(db.session, prog, [sub])[sub.id]
    items, problem = [], None
    if current_user.role == Role.organiser and sub.status.value == "submitted":
        try:
            items = svc.checklist(prog)
        except svc.ResourceError as err:
            problem = err.message
    return render_template("resources/detail.html", prog=prog, sub=sub, status=status, status_zh=svc.STATUS_ZH,
                           items=items, problem=problem, decisions=svc.decisions_of(db.session, sub),
                           open=svc.is_open(prog), deadline=svc.last_day(prog))


def _judge_token():
    from services.judge_access import SESSION_KEY, check_token_id
    tid = session.get(SESSION_KEY)
    if tid is None:
        return None
    check = check_token_id(db.session, tid)
    return check.token if check.ok else None


@bp.get("/resources/files/<int:aid>")
def attachment(aid: int):
    """A file of a resource, inline (PDFs and images show beside the rubric), for the unit's
    contacts, organisers and the judges expected on it; 404 for anyone else."""
    att = db.session.get(ResourceAttachment, aid)
    if att is None or att.kind != "file":
        abort(404)
    sub = att.submission
    if not svc.can_view(db.session, sub, current_user, _judge_token()):
        abort(404)
    path = svc.file_path(att)
    if not path.is_file():
        abort(404)
    resp = send_file(path, mimetype=att.mime, as_attachment=request.args.get("download") == "1",
                     download_name=att.name, conditional=True, max_age=0)
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
