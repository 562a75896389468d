"""The organiser's path in a real browser at tablet size: log in, create a programme from the
template, import a bad sheet and read the row-level errors, see counts per division."""
import io
import os

from openpyxl import Workbook

from tests.conftest import make_user

SHOTS = os.environ.get("SCREENSHOT_DIR")


def _shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def _no_horizontal_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_organiser_creates_programme_and_imports(app, live_server, tablet, tmp_path):
    make_user("organiser", "organiser", display_name="王组织")
    page = tablet
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "organiser")
    page.fill("input[name=password]", "pass-1234")
    page.click("button.primary")
    page.wait_for_url("**/admin/")
    assert "还没有项目" in page.content()

    page.select_option("select[name=template]", "docent_competition")
    page.fill("input[name=year]", "2026")
    page.click("button:has-text(\"创建\")")
    page.wait_for_url("**/admin/programmes/*")
    assert page.locator("h1").inner_text() == "2026年全国科技馆辅导员大赛"
    assert page.locator("table.grid").first.locator("tbody tr").count() == 3
    assert _no_horizontal_scroll(page)
    _shot(page, "programme-overview")

    # an organiser uploads a units sheet with a bad province and a duplicate id
    wb = Workbook()
    ws = wb.active
    ws.append(["单位编号", "单位名称", "所在省份"])
    ws.append(["U001", "贵州省科技馆", "贵州"])
    ws.append(["U001", "遵义市科技馆", "贵州"])
    ws.append(["U003", "火星科技馆", "火星"])
    path = tmp_path / "units.xlsx"
    wb.save(path)
    page.click("a[href$='/import/units']")
    page.set_input_files("input[type=file]", str(path))
    page.click("button.primary")
    page.wait_for_url("**/imports/*")
    body = page.content()
    assert "导入未执行" in body and "数据未作任何修改" in body
    rows = page.locator("table.errors tbody tr, table.errors tr").all_inner_texts()
    assert any("火星" in r for r in rows)
    assert any("U001" in r for r in rows)
    assert _no_horizontal_scroll(page)
    _shot(page, "import-errors")

    # fixed file imports; counts table shows the division
    ws.delete_rows(3, 2)
    ws.append(["U002", "遵义市科技馆", "贵州"])
    wb.save(path)
    page.goto(page.url.rsplit("/imports/", 1)[0] + "/import/units")
    page.set_input_files("input[type=file]", str(path))
    page.click("button.primary")
    page.wait_for_url("**/imports/*")
    assert "导入成功" in page.content()
