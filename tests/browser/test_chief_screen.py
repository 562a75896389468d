"""The chief judge confirms an entry on a tablet, and the hall's big screen (a second page,
opened from the console's signed link, no login) shows the final score with the highest and
lowest marks crossed out and the ranking — without a reload."""
import os

from tests.web.test_chief_console import build_hall, submit_all

SHOTS = os.environ.get("SCREENSHOT_DIR")


def _shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def test_chief_confirms_and_the_big_screen_lights_up(app, competition, live_server, browser):
    hall = build_hall(competition)
    e1, e2 = hall.entries[:2]
    submit_all(hall, e1, [80, 82, 81, 79, 90, 70])
    submit_all(hall, e2, [75, 74, 76])                 # still coming in

    tablet = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True, locale="zh-CN")
    chief = tablet.new_page()
    chief.goto(f"{live_server}/j/{hall.chief_plain}")  # the chief's judge card: no password
    chief.goto(f"{live_server}/chief/")
    chief.wait_for_url(f"**{hall.base}")
    row = chief.locator(f"tr[data-entry='{e1.id}']")
    row.locator(".state-btn").wait_for()
    assert "可确认" in row.locator(".state-btn").inner_text()
    assert row.locator("td.cell.s-warn").count() == 0
    assert chief.locator(f"tr[data-entry='{e2.id}'] .state-btn").inner_text().startswith("待交 3 份")
    assert chief.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _shot(chief, "chief-console-1024")

    hall_screen = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    screen = hall_screen.new_page()
    screen.goto(live_server + chief.locator("#screen-link").get_attribute("href"))
    screen.locator(".s-waiting").wait_for()
    assert "80.50" not in screen.content()

    row.locator(".state-btn").tap()
    dialog = chief.locator("#entry-dialog")
    dialog.locator(".final-score").wait_for()
    assert dialog.locator(".final-score").inner_text() == "80.50"
    assert dialog.locator("tr.dropped").count() == 2
    assert dialog.locator("#confirm-submit").is_visible() and not dialog.locator("#unconfirm-submit").is_visible()
    _shot(chief, "chief-confirm-dialog-1024")
    dialog.locator("#confirm-submit").tap()
    dialog.locator("text=确认人").wait_for()
    chief.locator("#entry-dialog .js-close").first.tap()
    chief.locator(f"tr[data-entry='{e1.id}'] .st-confirmed .final").wait_for()
    assert chief.locator(f"tr[data-entry='{e1.id}'] .final").inner_text() == "80.50"

    # the screen was never reloaded: its poll brings the result
    screen.locator(".s-final-score").wait_for(timeout=10000)
    assert screen.locator(".s-final-score").inner_text() == "80.50"
    dropped = screen.locator(".s-mark.dropped .s-value")
    assert dropped.count() == 2
    assert sorted(dropped.all_inner_texts()) == ["70", "90"]
    assert "line-through" in dropped.first.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert screen.locator(".s-rank-row").count() == 1
    assert "会呼吸的岩石" in screen.locator(".s-rank-row").inner_text()
    assert "磁悬浮的秘密" not in screen.content()       # unconfirmed: nothing leaks
    big = screen.locator(".s-final-score").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert big >= 120                                   # readable across a hall at 1080p
    _shot(screen, "big-screen-1920")
    tablet.close()
    hall_screen.close()
