"""Certificates (获奖证书, 入选证书, 结业证书, 荣誉证书): A4 landscape, one page each.

The organiser's template wording is filled in here into paragraphs of plain segments (the
holder's name and the award marked so the stylesheet can set them larger); the date is
written the Chinese way (二〇二四年十月二十五日); the uploaded seal is inlined as a `data:`
URL (documents fetch nothing); the QR code is the judge cards' inline SVG of the public
verification URL. Many certificates are laid out as one WeasyPrint document (fast), and a
single page can be written out of it on its own for the ZIP.
"""
from __future__ import annotations

import base64
import re
from datetime import date

from documents.judge_cards import qr_svg

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


def certificate_page(cert, tpl, *, seal: bytes | None, verify: str) -> dict:
    """Plain values for one certificate page."""
    d = cert.detail or {}
    values = {"name": cert.holder_name, "award": cert.award_name, "programme": cert.programme_name,
              "category": d.get("category", ""), "title": d.get("title", ""), "unit": d.get("unit", ""),
              "stage": d.get("stage", ""), "year": cert.issued_on.year}
    return {"title": tpl.title, "spaced": len(tpl.title) <= 5,
            "paragraphs": paragraphs(tpl.wording, values), "issuer": tpl.issuer,
            "date": chinese_date(tpl.issued_on or cert.issued_on), "seal": _seal_data_url(seal),
            "serial": cert.serial, "qr": qr_svg(verify), "verify": verify, "kind": str(cert.kind),
            "team": cert.person_id is None and len(d.get("members", [])) > 1}


def certificate_documents(pages: list[dict]):
    """A laid-out WeasyPrint document with one page per certificate."""
    from weasyprint import CSS, HTML

    from documents.pdf import FONT_DIR, TEMPLATE_DIR, render_html, url_fetcher
    html = render_html("certificate.html", {"pages": pages})
    fetcher = url_fetcher()
    css = CSS(string=(TEMPLATE_DIR / "certificate.css").read_text(encoding="utf-8"), url_fetcher=fetcher)
    return HTML(string=html, base_url=FONT_DIR.as_uri() + "/", url_fetcher=fetcher).render(stylesheets=[css])


def write_pages(doc, pages) -> bytes:
    """PDF bytes of `pages` (from `doc` or documents like it) without laying them out again."""
    return doc.copy(pages).write_pdf()


def certificates_pdf(pages: list[dict]) -> bytes:
    return certificate_documents(pages).write_pdf()
