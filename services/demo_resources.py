"""Demo submissions for the resource call: each demo unit contact's museum has a resource
submitted (waiting for the format check), one returned with the checklist's reasons and a
draft, each with a small PDF generated here. They go through services.resources (the same
checks as the form), dated inside the call's submission period."""
from __future__ import annotations

import random
import shutil
from datetime import timedelta

from sqlalchemy import select

from models import Programme, ProgrammeKind, Role, User
from services import demo_names as names
from services import resources as svc

DEMO_ACTOR = "组织方 organiser2"


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (ASCII) in Helvetica, with a correct cross-reference table."""
    safe = text.encode("ascii", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    stream = b"BT /F1 18 Tf 72 720 Td (" + safe + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
               b" /Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def add_submissions(session, year: int, seed: int) -> str:
    """Three submissions per demo unit contact; answers a summary line (Chinese)."""
    prog = session.scalar(select(Programme).where(Programme.kind == ProgrammeKind.resource_selection,
                                                  Programme.year == year).limit(1))
    if prog is None:
        return ""
    rng = random.Random(f"demo-resources-{seed}")
    shutil.rmtree(svc.upload_root() / str(prog.id), ignore_errors=True)     # files of an earlier build
    when = svc.deadline(prog) - timedelta(days=3)
    contacts = list(session.scalars(select(User).where(User.role == Role.unit_contact).order_by(User.username)))
    items = {i.id: i for i in svc.checklist(prog)}
    cats = list(prog.categories)
    counts = {"submitted": 0, "returned": 0, "draft": 0}
    for k, user in enumerate(contacts):
        for j, state in enumerate(counts):
            cat = cats[(k * 3 + j) % len(cats)]
            title = names.resource_title(rng, cat.code)
            data = svc.SubmissionInput(
                title=title, category_id=cat.id, authors="、".join(names.person_name(rng, rng.choice("男女")) for _ in range(2)),
                description=f"面向中小学生和公众的{cat.name}，可在科技馆、流动科技馆和学校使用。",
                files=[svc.FileIn(f"{title}.pdf", tiny_pdf(f"Demo resource {k + 1}-{j + 1} ({cat.code})"))])
            sub = svc.save(session, prog, user, data, submit=state != "draft", now=when)
            sub.created_at = when
            if state == "returned":
                failed = rng.choice(["anonymous", "originality", "file_format"])
                svc.decide(session, prog, sub, outcome="return", failed=[failed],
                           note=f"请按“{items[failed].title.zh}”的要求修改后重新提交。", actor=DEMO_ACTOR)
            counts[state] += 1
    return (f"· 资源申报演示：{len(contacts)} 个单位联系人，待形式审查 {counts['submitted']} 件、"
            f"退回修改 {counts['returned']} 件、草稿 {counts['draft']} 件（附 PDF）")
