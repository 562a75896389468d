"""评委卡 (judge cards): A4 sheets of eight cut-out cards, each with the judge's QR code
login link, the PIN fallback and the expiry.

The plain token and PIN exist only in the request that issues them (`services.judge_access.
issue_card`), so the organiser screen renders the PDF in that same request from `card` dicts;
nothing here reads the database. The QR code is an inline SVG built by `segno` (vector, so it
prints sharp at any size), error correction level M, with a 3-module quiet zone inside the
SVG on a white card.
"""
from __future__ import annotations

from datetime import datetime

import segno

from models.base import in_beijing

CARDS_PER_PAGE = 8   # 2 columns × 4 rows
QR_BORDER = 3


def login_url(base_url: str, plain: str) -> str:
    return f"{base_url.rstrip('/')}/j/{plain}"


def pin_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/j/pin"


def qr_code(url: str) -> segno.QRCode:
    """The QR code printed for `url` (tests rebuild it to check what the card embeds)."""
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str) -> str:
    """An inline SVG of the QR code for `url`, sized by the stylesheet (no width/height)."""
    svg = qr_code(url).svg_inline(scale=1, border=QR_BORDER, omitsize=True, svgclass="qr", lineclass=None)
    return svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)


def beijing(moment: datetime) -> str:
    return in_beijing(moment).strftime("%Y-%m-%d %H:%M")


def card(*, programme: str, stage: str, name: str, external_id: str, unit: str, plain: str, pin: str,
         expires_at: datetime, base_url: str) -> dict:
    """One card's plain values (the template gets nothing else)."""
    url = login_url(base_url, plain)
    return {"programme": programme, "stage": stage, "name": name, "external_id": external_id, "unit": unit,
            "url": url, "qr": qr_svg(url), "pin": f"{pin[:4]} {pin[4:]}", "pin_url": pin_url(base_url),
            "expires": beijing(expires_at)}


def card_for(issued, base_url: str) -> dict:
    """A card for a `services.judge_access.IssuedCard` (its token's judge and stage loaded)."""
    token = issued.token
    judge, stage = token.judge, token.stage
    return card(programme=stage.programme.name, stage=stage.name, name=judge.person.name,
                external_id=judge.external_id, unit=judge.unit.name if judge.unit else "", plain=issued.plain,
                pin=issued.pin, expires_at=token.expires_at, base_url=base_url)


def pages(cards: list[dict]) -> list[list[dict]]:
    return [cards[i:i + CARDS_PER_PAGE] for i in range(0, len(cards), CARDS_PER_PAGE)]


def judge_cards_pdf(cards: list[dict], *, title: str) -> bytes:
    """The cards, eight to an A4 page, in the given order."""
    from documents.pdf import render_pdf
    return render_pdf("judge_cards.html", {"title": title, "pages": pages(cards)}, stylesheet="judge_cards.css")
