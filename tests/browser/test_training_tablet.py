"""A training session on a tablet (1024×768, touch): the organiser takes the register of a
half-day by tapping, sees the counts change without a reload and the marks persist; an
instructor scores a trainee's course design through the ordinary judge flow.

Screenshots go to $SCREENSHOT_DIR (default /tmp/training-shots), never into the repo."""
from __future__ import annotations

import os

from playwright.sync_api import expect
from sqlalchemy import select

from extensions import db
from models import AttendanceMark, ScoreSheet
from tests.conftest import make_user
from tests.training_world import build_training, entry_of

SHOTS = os.environ.get("SCREENSHOT_DIR", "/tmp/training-shots")
VIEWPORTS = {"landscape": {"width": 1024, "height": 768}, "portrait": {"width": 768, "height": 1024}}
# training-course-design: six criteria in steps of 0.5
DESIGN_MAX = {"jiaoxue_mubiao": 15, "kebiao_gainian": 15, "zhanpin_liyong": 20, "jiaoxue_guocheng": 25,
              "xuesheng_tanjiu": 15, "pingjia_sheji": 10}


def _shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=False)


def _no_horizontal_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _small_targets(page, scope="body"):
    """Visible, enabled-or-not buttons, links and inputs under `scope` less than 44 px high or wide."""
    return page.evaluate("""(scope) => {
      const out = [];
      for (const el of document.querySelector(scope).querySelectorAll('button, a, select, textarea, input:not([type=hidden])')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        if (r.height < 44 || r.width < 44) out.push(el.outerHTML.slice(0, 90) + ' ' + r.width + 'x' + r.height);
      }
      return out;
    }""", scope)


def _context(browser, viewport="landscape"):
    return browser.new_context(viewport=VIEWPORTS[viewport], has_touch=True, is_mobile=False,
                               locale="zh-CN", device_scale_factor=1)


def _login(page, live_server):
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "organiser")
    page.fill("input[name=password]", "pass-1234")
    page.click("button.primary")
    page.wait_for_url("**/admin/")


def _marks():
    db.session.rollback()          # read what the live server committed
    return {(m.trainee_id, m.slot_id): m.status.value for m in db.session.scalars(select(AttendanceMark))}


def test_organiser_takes_the_register_by_tapping(app, live_server, browser):
    w = build_training(2025)
    make_user("organiser", "organiser", display_name="王组织")
    slot = w.slots[2]                       # 7月14日上午
    ctx = _context(browser)
    page = ctx.new_page()
    try:
        _login(page, live_server)
        page.goto(f"{live_server}/training/{w.prog.id}/attendance?slot={slot.id}")
        expect(page.locator("#count-present")).to_have_text("0")
        expect(page.locator("#count-expected")).to_have_text("6")
        page.evaluate("window.__sameDocument = true")         # gone if the page reloads

        def row(t):
            return page.locator(f"li.reg-row[data-trainee='{t.id}']")

        row(w.trainees[0]).locator("button.st-present").tap()
        expect(row(w.trainees[0])).to_have_attribute("data-status", "present")
        expect(page.locator("#count-present")).to_have_text("1")
        row(w.trainees[1]).locator("button.st-present").tap()
        expect(page.locator("#count-present")).to_have_text("2")
        row(w.trainees[2]).locator("button.st-absent").tap()
        expect(page.locator("#count-absent")).to_have_text("1")
        expect(page.locator("#count-unmarked")).to_have_text("3")
        expect(row(w.trainees[2]).locator("button.st-absent")).to_have_attribute("aria-pressed", "true")
        expect(row(w.trainees[2]).locator("button.st-absent")).to_have_class("st st-absent on")
        expect(page.locator(f".slot-link[data-slot='{slot.id}'] .slot-count")).to_have_text("2/6")
        expect(row(w.trainees[0]).locator(".reg-rate")).to_have_text("10%")
        # 请假 is refused without an approved leave: disabled, and the server would say why
        expect(row(w.trainees[3]).locator("button.st-excused")).to_be_disabled()
        assert page.evaluate("window.__sameDocument") is True         # no reload happened
        assert _marks() == {(w.trainees[0].id, slot.id): "present", (w.trainees[1].id, slot.id): "present",
                            (w.trainees[2].id, slot.id): "absent"}

        assert _no_horizontal_scroll(page)
        assert _small_targets(page) == []
        _shot(page, "register-landscape")

        page.reload()
        expect(row(w.trainees[0])).to_have_attribute("data-status", "present")
        expect(row(w.trainees[1])).to_have_attribute("data-status", "present")
        expect(row(w.trainees[2])).to_have_attribute("data-status", "absent")
        expect(row(w.trainees[3])).to_have_attribute("data-status", "")
        expect(page.locator("#count-present")).to_have_text("2")
        expect(row(w.trainees[1]).locator("button.st-present")).to_have_attribute("aria-pressed", "true")

        # a refusal shows next to the row, in Chinese, and changes nothing
        page.evaluate("""() => { const b = document.querySelector("li.reg-row[data-trainee='%d'] button.st-excused");
                                 b.disabled = false; }""" % w.trainees[3].id)
        row(w.trainees[3]).locator("button.st-excused").tap()
        expect(row(w.trainees[3]).locator(".row-error")).to_contain_text("没有已批准的请假")
        expect(row(w.trainees[3])).to_have_attribute("data-status", "")
        # 清除 undoes a mark
        row(w.trainees[2]).locator("button.st-clear").tap()
        expect(row(w.trainees[2])).to_have_attribute("data-status", "")
        expect(page.locator("#count-absent")).to_have_text("0")
        assert len(_marks()) == 2

        # portrait too
        page.set_viewport_size(VIEWPORTS["portrait"])
        page.reload()
        expect(page.locator("#count-present")).to_have_text("2")
        assert _no_horizontal_scroll(page)
        assert _small_targets(page) == []
        _shot(page, "register-portrait")

        # the projector's QR page
        page.set_viewport_size(VIEWPORTS["landscape"])
        page.locator("form.code-form button.primary").tap()
        expect(page.locator("figure.cs-qr svg")).to_be_visible()
        expect(page.locator(".cs-expiry")).to_contain_text("有效至 北京时间")
        assert _no_horizontal_scroll(page)
        _shot(page, "checkin-screen")
    finally:
        ctx.close()


def test_trainee_checks_in_on_a_phone(app, live_server, browser):
    w = build_training(2025)
    make_user("organiser", "organiser")
    ctx = _context(browser)
    page = ctx.new_page()
    phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                locale="zh-CN", device_scale_factor=1)
    try:
        _login(page, live_server)
        page.goto(f"{live_server}/training/{w.prog.id}/attendance?slot={w.slots[0].id}")
        page.locator("form.code-form button.primary").tap()
        url = page.locator(".cs-url").inner_text().strip()
        assert url.startswith(f"{live_server}/t/")
        p = phone.new_page()
        p.goto(url)
        expect(p.locator(".ck-slot")).to_have_text("7月13日上午")
        p.fill("input[name=name]", "陈静")
        p.fill("input[name=phone_tail]", "0005")
        p.locator("button.primary").tap()
        expect(p.locator("h1")).to_have_text("签到成功：陈静，7月13日上午")
        assert _no_horizontal_scroll(p)
        _shot(p, "checkin-phone")
        assert _marks() == {(w.trainees[4].id, w.slots[0].id): "present"}
    finally:
        phone.close()
        ctx.close()


def test_instructor_scores_a_course_design_through_the_judge_flow(app, live_server, browser):
    w = build_training(2025)
    qian, plain = w.tokens[4]                       # 钱老师 (TJ05) teaches at 李红's and 王芳's school
    assert qian.external_id == "TJ05"
    ctx = _context(browser)
    page = ctx.new_page()
    try:
        page.goto(f"{live_server}/j/{plain}")
        page.wait_for_url("**/judge/declaration")
        page.locator("button[value=none]").tap()
        page.wait_for_url("**/judge/?declared=none")
        expect(page.locator("#judge-app")).to_have_attribute("data-ready", "1")
        groups = page.locator("#entry-list .jgroup h2")
        expect(groups).to_have_count(2)
        expect(groups.nth(0)).to_contain_text("课程/活动设计")
        expect(groups.nth(1)).to_contain_text("成果汇报")
        # 李红 and 王芳 are of 钱老师's school: greyed, with the reason, in both categories
        for t in w.trainees[:2]:
            for comp in ("course_design", "presentation"):
                li = page.locator(f"li.jentry[data-entry='{entry_of(w, t, comp).id}']")
                expect(li).to_have_class(__import__("re").compile(r"\brecused\b"))
                expect(li.locator(".badge.recuse")).to_have_text("回避")
        target = entry_of(w, w.trainees[2], "course_design")     # 张伟
        li = page.locator(f"li.jentry[data-entry='{target.id}']")
        expect(li.locator(".badge")).to_have_text("待评")
        expect(page.locator("#judge-app")).to_have_attribute("data-ready", "1")   # start-up done
        li.locator(".jpick").tap()
        sheet = page.locator(f"article.jsheet[data-entry='{target.id}']")
        expect(sheet).to_be_visible()
        # a blank mark starts at the top of the scale: one tap of − gives the maximum, a second 0.5 less
        for cid in DESIGN_MAX:
            page.locator(f".jcrit[data-criterion='{cid}'] .jstep.minus").tap()
        page.locator(".jcrit[data-criterion='jiaoxue_guocheng'] .jstep.minus").tap()
        page.locator(".jcrit[data-criterion='jiaoxue_guocheng'] .jstep.minus").tap()
        expect(page.locator(".jcrit[data-criterion='jiaoxue_guocheng'] input.jscore")).to_have_value("24")
        expect(page.locator("#total")).to_have_text("99")
        li.locator(".jpick").tap()            # tapping the open entry again keeps the unsaved marks
        expect(page.locator("#total")).to_have_text("99")
        expect(page.locator(".jcrit[data-criterion='jiaoxue_guocheng'] input.jscore")).to_have_value("24")
        assert _no_horizontal_scroll(page)
        _shot(page, "instructor-course-design")
        page.locator("#submit-sheet").tap()
        dialog = page.locator("#confirm-dialog")
        expect(dialog).to_be_visible()
        dialog.locator("#confirm-ok").tap()
        expect(dialog).to_be_hidden()
        expect(li.locator(".badge")).to_have_text("已提交")
        expect(page.locator("#sheet-state")).to_have_text("已发送")
        expect(page.locator("#net-unsent")).to_have_text("全部已发送")

        db.session.rollback()
        stored = db.session.scalar(select(ScoreSheet).where(ScoreSheet.judge_id == qian.id,
                                                            ScoreSheet.entry_id == target.id))
        assert stored is not None and stored.status.value == "submitted"
        assert stored.total == "99"
        assert stored.scores == {**{k: str(v) for k, v in DESIGN_MAX.items()}, "jiaoxue_guocheng": "24"}
    finally:
        ctx.close()
