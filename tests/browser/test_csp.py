"""Every role's pages work under the Content-Security-Policy (no inline script or style allowed):
Chromium reports each violation on the console, and any one fails the test. Organiser and
oversight pages are crawled from /admin/ (one page per route shape), the chief's console and
the hall screen, the judge's declaration and scoring screen, and the public pages are opened;
images (data: QR codes included) must have loaded."""
from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import expect

from tests.conftest import make_user
from tests.training_world import build_training
from tests.web.test_chief_console import build_hall, submit_all

SKIP = re.compile(r"/(logout|lang)/?|/static/|\.(pdf|xlsx|zip|csv|png|svg)$|/(export|download|file)s?\b")
MAX_PAGES = 70


class Violations:
    """Console messages and page errors that show the CSP refused something."""

    def __init__(self, page):
        self.found: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.found.append(f"{page.url}: page error {exc}"))
        self.page = page

    def _console(self, msg):
        if "Content Security Policy" in msg.text or "Refused to" in msg.text:
            self.found.append(f"{self.page.url}: {msg.text}")


def _images_loaded(page) -> list[str]:
    return page.evaluate("""() => Array.from(document.images)
        .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))""")


def _login(page, base, username):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pass-1234")
    page.click("button.primary")
    page.wait_for_url("**/admin/")


def _shape(path: str) -> str:
    return re.sub(r"\d+", "N", path)


def _crawl(page, ctx, base, start) -> list[str]:
    """Breadth-first over same-site GET links, one page per route shape; HTML pages only."""
    seen, visited, queue = set(), [], deque([start])
    while queue and len(visited) < MAX_PAGES:
        url = queue.popleft()
        path = urlsplit(url).path
        if _shape(path) in seen or SKIP.search(path):
            continue
        seen.add(_shape(path))
        head = ctx.request.get(url, max_redirects=0)
        if head.status != 200 or not head.headers.get("content-type", "").startswith("text/html"):
            continue
        page.goto(url)
        page.wait_for_load_state("networkidle")
        missing = _images_loaded(page)
        assert not missing, f"{url}: images not shown {missing}"
        visited.append(path)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            target = urljoin(url, href)
            if target.startswith(base) and "#" not in href:
                queue.append(target.split("?")[0])
    return visited


def test_every_role_s_pages_work_under_the_csp(app, competition, live_server, browser):
    hall = build_hall(competition)
    submit_all(hall, hall.entries[0], [80, 82, 81, 79, 90, 70])
    training = build_training()
    make_user("organiser", "organiser")
    make_user("oversight", "oversight")

    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    page = ctx.new_page()
    v = Violations(page)

    # the detector works: a CSP-forbidden inline handler is reported
    page.goto(f"{live_server}/login")
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
        '<img src="/static/css/app.css" onerror="window.pwned = 1">')""")
    page.wait_for_timeout(300)
    assert v.found and page.evaluate("window.pwned === undefined")
    v.found.clear()

    # public pages
    for path in ("/login", "/certificates", "/j/pin"):
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
    assert v.found == []

    # organiser, then oversight: everything reachable from /admin/
    _login(page, live_server, "organiser")
    organiser_pages = _crawl(page, ctx, live_server, f"{live_server}/admin/")
    assert len(organiser_pages) >= 15, organiser_pages
    # the publication page's script (now static/js/publications.js) fills the expected version
    page.goto(live_server + next(p for p in organiser_pages if p.endswith("/publications")))
    expect(page.locator("#pub-expected")).to_have_value("0")
    assert any("/certificates" in p for p in organiser_pages)
    # the training report (SVG charts sized by CSS) and the room's QR code (inline SVG)
    page.goto(f"{live_server}/training/report")
    page.goto(f"{live_server}/training/{training.prog.id}/attendance")
    page.locator("form.code-form button[type=submit]").first.click()
    qr = page.locator(".cs-qr svg")
    qr.wait_for()
    box = qr.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    page.goto(f"{live_server}/admin/")
    page.locator("form[action$='/logout'] button").click()
    page.wait_for_url("**/login")
    _login(page, live_server, "oversight")
    assert len(_crawl(page, ctx, live_server, f"{live_server}/admin/")) >= 5
    assert v.found == [], "\n".join(v.found)
    ctx.close()

    # the chief judge's console and the hall's big screen
    tablet = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True, locale="zh-CN")
    chief = tablet.new_page()
    vc = Violations(chief)
    chief.goto(f"{live_server}/j/{hall.chief_plain}")
    chief.goto(f"{live_server}/chief/")
    chief.wait_for_url(f"**{hall.base}")
    chief.locator(f"tr[data-entry='{hall.entries[0].id}'] .state-btn").wait_for()
    screen = tablet.new_page()
    vs = Violations(screen)
    screen.goto(live_server + chief.locator("#screen-link").get_attribute("href"))
    screen.locator(".s-waiting").wait_for()
    assert vc.found == [] and vs.found == [], "\n".join(vc.found + vs.found)
    tablet.close()

    # a judge: the declaration page (its script now a static file) and the scoring screen
    judge_ctx = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True, locale="zh-CN")
    judge = judge_ctx.new_page()
    vj = Violations(judge)
    judge.goto(f"{live_server}/j/{hall.member_plain}")
    judge.wait_for_url("**/judge/declaration")
    judge.locator("button[value=none]").tap()
    judge.wait_for_url("**/judge/?declared=none")
    expect(judge.locator("#judge-app")).to_have_attribute("data-ready", "1")
    assert vj.found == [], "\n".join(vj.found)
    judge_ctx.close()
