"""A judge on a tablet: open the link from the judge card, make the 回避声明 (a former student),
see which entry needs a new judge, and find it marked 回避 at home — at 1024×768 landscape and
768×1024 portrait, with touch targets of at least 44 px and no horizontal scrolling."""
import os

import pytest

from tests.web.test_judge_access import build_world

SHOTS = os.environ.get("SCREENSHOT_DIR")

VIEWPORTS = {"landscape": {"width": 1024, "height": 768}, "portrait": {"width": 768, "height": 1024}}


def _shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def _no_horizontal_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _small_targets(page):
    """Visible buttons, links, chips and inputs smaller than 44 px in height (or width)."""
    return page.evaluate("""() => {
      const out = [];
      for (const el of document.querySelectorAll('button, a, select, input:not([type=radio]), .chip span')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;       // hidden
        if (r.height < 44 || r.width < 44) out.push(el.outerHTML.slice(0, 80) + ' ' + r.width + 'x' + r.height);
      }
      return out;
    }""")


@pytest.fixture
def judge_page(browser, request):
    ctx = browser.new_context(viewport=VIEWPORTS[request.param], has_touch=True, is_mobile=False,
                              locale="zh-CN", device_scale_factor=1)
    page = ctx.new_page()
    page.orientation = request.param
    yield page
    ctx.close()


@pytest.mark.parametrize("judge_page", list(VIEWPORTS), indirect=True)
def test_judge_declares_a_student_on_a_tablet(app, competition, live_server, judge_page):
    world = build_world(competition)
    page, name = judge_page, judge_page.orientation
    page.goto(f"{live_server}/j/{world.plain}")
    page.wait_for_url("**/judge/declaration")
    assert world.plain not in page.url
    assert page.locator("h1").inner_text() == "回避声明"
    assert page.locator(".jname").inner_text() == "张评委"
    assert _no_horizontal_scroll(page)
    assert _small_targets(page) == []
    _shot(page, f"judge-declaration-{name}")

    row = page.locator(f"li[data-entry='{world.e_student.id}']")
    assert "陈学生" in row.inner_text()
    row.locator("label.chip", has_text="师生").tap()
    note = row.locator("input.jnote")
    assert note.is_visible()                   # the note appears once a relation is chosen
    note.fill("指导教师")
    assert _no_horizontal_scroll(page)
    _shot(page, f"judge-declaration-filled-{name}")
    page.locator("button[value=declare]").tap()

    page.wait_for_url("**/judge/declaration/saved*")
    assert "已记录，以下作品将由组织方另行安排评委" in page.content()
    flagged = page.locator("ul.flagged li")
    assert flagged.count() == 1 and "磁悬浮的秘密" in flagged.inner_text()
    assert _no_horizontal_scroll(page)
    assert _small_targets(page) == []
    _shot(page, f"judge-saved-{name}")

    page.locator("a", has_text="查看我的作品").tap()
    page.wait_for_url("**/judge/")
    assert "共 4 件，回避 2 件" in page.locator("#count").inner_text()
    home_row = page.locator(f"li[data-entry='{world.e_student.id}']")
    assert home_row.locator(".badge.recuse").inner_text() == "回避"
    assert "师生关系" in home_row.inner_text()
    assert page.locator(f"li[data-entry='{world.e_plain.id}'] .badge.recuse").count() == 0
    assert "已完成 0 / 2" in page.locator("#done-count").inner_text()   # 回避 are not counted
    assert _no_horizontal_scroll(page)
    assert _small_targets(page) == []
    _shot(page, f"judge-home-{name}")
