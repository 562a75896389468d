"""Certificates (获奖证书, 入选证书, 结业证书, 荣誉证书): A4 landscape, one page each.

The organiser's template wording is filled in here into paragraphs of plain segments (the
holder's name and the award marked so the stylesheet can set them larger); the date is
written the Chinese way (二〇二四年十月二十五日); the uploaded seal is inlined as a `data:`
URL (documents fetch nothing); the QR code of the public verification URL is the judge cards'
code (`qr_code`, same modules and quiet zone) as a tiny PNG, one pixel per module, scaled up by
the stylesheet without interpolation: drawing it costs a fraction of an inline SVG path of
a few hundred segments.

The batch path (`render_chunk`) lays out a chunk of certificates as ONE WeasyPrint document
and writes it ONCE (one layout pass, one font subset for the chunk), then cuts the one-page
PDFs for the ZIP out of that PDF with pypdf (`split_pdf`): each member keeps the chunk's font
subset, so it costs a copy, not a second layout or a second CJK subset. The chunks' PDFs are
joined into the combined PDF as they come (`PdfJoiner`). `render_chunk` takes HTML rendered by the caller
(the request's translations apply) and touches nothing else, so it can run in a worker process.
"""
from __future__ import annotations

import base64
import re
from datetime import date

from documents.judge_cards import QR_BORDER, qr_code

_DIGITS = "〇一二三四五六七八九"
_MARK_RE = re.compile(r"(\{name\}|\{award\})")


def chinese_number(n: int) -> str:
    """1..31 as written in dates: 十, 十五, 二十, 二十五, 三十一."""
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


def chinese_date(d: date) -> str:
    """2024-10-25 → 二〇二四年十月二十五日."""
    return "".join(_DIGITS[int(c)] for c in str(d.year)) + f"年{chinese_number(d.month)}月{chinese_number(d.day)}日"


def paragraphs(wording: str, values: dict) -> list[list[dict]]:
    """The wording as paragraphs of segments `{"text", "cls"}`; {name} and {award} get their
    own class, every other placeholder is filled in plainly."""
    from services.certificates import fill
    out = []
    for line in wording.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        segs = []
        for part in _MARK_RE.split(line):
            if part == "{name}":
                segs.append({"text": str(values["name"]), "cls": "holder"})
            elif part == "{award}":
                segs.append({"text": str(values["award"]), "cls": "award"})
            elif part:
                segs.append({"text": fill(part, values), "cls": ""})
        out.append(segs)
    return out


def _seal_data_url(data: bytes | None) -> str | None:
    if not data:
        return None
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def qr_png_data_url(url: str) -> str:
    """The QR code for `url` as a `data:` URL of a 1-pixel-per-module PNG with the quiet zone."""
    import io
    buf = io.BytesIO()
    qr_code(url).save(buf, kind="png", scale=1, border=QR_BORDER)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def certificate_page(cert, tpl, *, seal: bytes | None, verify: str) -> dict:
    """Plain values for one certificate page."""
    d = cert.detail or {}
    values = {"name": cert.holder_name, "award": cert.award_name, "programme": cert.programme_name,
              "category": d.get("category", ""), "title": d.get("title", ""), "unit": d.get("unit", ""),
              "stage": d.get("stage", ""), "year": cert.issued_on.year, "hours": d.get("hours", ""),
              "honour": "".join(f"被评为{h}。" for h in d.get("honours", []))}
    return {"title": tpl.title, "spaced": len(tpl.title) <= 5,
            "paragraphs": paragraphs(tpl.wording, values), "issuer": tpl.issuer,
            "date": chinese_date(tpl.issued_on or cert.issued_on), "seal": _seal_data_url(seal),
            "serial": cert.serial, "qr": qr_png_data_url(verify), "verify": verify, "kind": str(cert.kind),
            "team": cert.person_id is None and len(d.get("members", [])) > 1}


def certificate_html(pages: list[dict]) -> str:
    """The HTML of a document with one page per certificate (plain values checked)."""
    from documents.pdf import render_html
    return render_html("certificate.html", {"pages": pages})


def _document(html: str):
    from weasyprint import CSS, HTML

    from documents.pdf import FONT_DIR, TEMPLATE_DIR, url_fetcher
    fetcher = url_fetcher()
    css = CSS(string=(TEMPLATE_DIR / "certificate.css").read_text(encoding="utf-8"), url_fetcher=fetcher)
    return HTML(string=html, base_url=FONT_DIR.as_uri() + "/", url_fetcher=fetcher).render(stylesheets=[css])


def certificate_documents(pages: list[dict]):
    """A laid-out WeasyPrint document with one page per certificate."""
    return _document(certificate_html(pages))


def certificates_pdf(pages: list[dict]) -> bytes:
    return certificate_documents(pages).write_pdf()


_DO_RE = re.compile(rb"/([^\s/<>\[\]()]+)\s+Do\b")


def _used_xobjects(page) -> set[str]:
    """Names of the XObjects `page` draws, following form XObjects that draw others."""
    xobjects = page["/Resources"].get_object().get("/XObject")
    xobjects = xobjects.get_object() if xobjects is not None else {}
    contents = page.get_contents()
    todo, used = [contents.get_data() if contents is not None else b""], set()
    while todo:
        for name in _DO_RE.findall(todo.pop()):
            name = "/" + name.decode("latin-1")
            if name in used or name not in xobjects:
                continue
            used.add(name)
            obj = xobjects[name].get_object()
            if obj.get("/Subtype") == "/Form" and "/Resources" not in obj:   # draws with the page's resources
                todo.append(obj.get_data())
    return used


def split_pdf(pdf: bytes) -> list[bytes]:
    """One PDF per page of `pdf`, each carrying only what its page uses: the fonts as subset
    in `pdf` (nothing is laid out or subset again) and its own images — WeasyPrint gives all
    pages one resource dictionary, so the others' images are left out here."""
    import io

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject
    out = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = DictionaryObject(page["/Resources"].get_object())
        if "/XObject" in resources:
            used = _used_xobjects(page)
            resources[NameObject("/XObject")] = DictionaryObject(
                {k: v for k, v in resources["/XObject"].get_object().items() if k in used})
        page[NameObject("/Resources")] = resources
        writer = PdfWriter()
        writer.add_page(page)
        buf = io.BytesIO()
        writer.write(buf)
        out.append(buf.getvalue())
    return out


class PdfJoiner:
    """Pages of PDFs appended as they come (e.g. while workers render the next chunks), written
    out as one PDF at the end."""

    def __init__(self):
        from pypdf import PdfWriter
        self.writer, self.count = PdfWriter(), 0

    def append(self, pdf: bytes) -> None:
        import io

        from pypdf import PdfReader
        self.writer.append(PdfReader(io.BytesIO(pdf)))
        self.count += 1

    def write(self) -> bytes:
        import io
        buf = io.BytesIO()
        self.writer.write(buf)
        return buf.getvalue()


def join_pdfs(pdfs: list[bytes]) -> bytes:
    """The pages of `pdfs` in order, as one PDF."""
    if len(pdfs) == 1:
        return pdfs[0]
    joiner = PdfJoiner()
    for pdf in pdfs:
        joiner.append(pdf)
    return joiner.write()


def render_chunk(html: str) -> tuple[bytes, list[bytes]]:
    """Lay out and write `html` (from `certificate_html`) once; returns the chunk's PDF and
    one one-page PDF per certificate, in order. Picklable in and out (worker processes)."""
    pdf = _document(html).write_pdf()
    return pdf, split_pdf(pdf)
