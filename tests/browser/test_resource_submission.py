"""A museum's contact submits a resource on a 1024×768 tablet (title, type, description,
authors, a PDF) and sees it listed as 已提交; once it passed the format check and a reviewer was
assigned in 初评, the reviewer's scoring screen shows the PDF beside the rubric."""
from __future__ import annotations

import os

from playwright.sync_api import expect
from sqlalchemy import select

from extensions import db
from models import ResourceSubmission
from services import resources as svc
from tests.resources_world import PDF, assign, build_call, pass_all, token


def test_contact_submits_a_pdf_and_the_assigned_reviewer_sees_it_beside_the_rubric(app, tmp_path, live_server,
                                                                                   tablet):
    w = build_call(app, tmp_path)
    pdf = tmp_path / "光的折射.pdf"
    pdf.write_bytes(PDF)
    page = tablet
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "unit-U11-A")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit]")
    page.wait_for_url("**/resources/")
    page.click("text=新建申报")
    page.fill("#title", "光的折射互动海报")
    page.select_option("#category_id", label="科普海报")
    page.fill("#authors", "张三、李四")
    page.fill("#description", "面向小学高年级的光学海报。")
    page.set_input_files("#files", str(pdf))
    page.click("#submit-resource")
    expect(page.locator("#resource-status")).to_have_text("已提交")
    page.goto(f"{live_server}/resources/")
    row = page.locator(f"#my-resources-{w.prog.id} tr", has_text="光的折射互动海报")
    expect(row.locator(".status")).to_contain_text("已提交")

    sub = db.session.scalar(select(ResourceSubmission))
    assert [a.name for a in sub.attachments] == ["光的折射.pdf"]
    pass_all(w, [sub])
    [entry] = svc.start_preliminary(db.session, w.prog)
    db.session.commit()
    reviewer = w.reviewers[2]
    assign(w, w.pre, [reviewer], [entry])
    judge = page.context.browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True,
                                            locale="zh-CN")
    jp = judge.new_page()
    try:
        jp.goto(f"{live_server}/j/{token(reviewer, w.pre)}")
        jp.wait_for_url("**/judge/")
        expect(jp.locator("#judge-app")).to_have_attribute("data-ready", "1")
        panel = jp.locator("#materials-panel")
        expect(panel).to_be_visible()
        link = panel.locator("a.jmaterial", has_text="光的折射.pdf")
        expect(link).to_be_visible()
        link.click()
        viewer = jp.locator("#material-viewer")
        expect(viewer).to_be_visible()
        assert viewer.get_attribute("src").endswith(f"/resources/files/{sub.attachments[0].id}")
        expect(jp.locator("#entry-list")).to_be_hidden()           # the file takes the list's place
        criteria = jp.locator(".jcriteria")
        expect(criteria).to_be_visible()
        box_v, box_r = viewer.bounding_box(), criteria.bounding_box()
        assert box_v["x"] + box_v["width"] <= box_r["x"] + 1          # side by side: file left, rubric right
        assert box_v["width"] > 400 and box_r["width"] > 400 and box_v["y"] < 768 and box_r["y"] < 768
        if os.environ.get("SHOT_DIR"):          # for a look by eye: SHOT_DIR=/tmp/shots pytest ...
            jp.screenshot(path=os.path.join(os.environ["SHOT_DIR"], "resource-materials.png"))
        jp.click("#material-close")
        expect(jp.locator("#entry-list")).to_be_visible()
        expect(viewer).to_have_count(0)
        resp = jp.request.get(f"{live_server}/resources/files/{sub.attachments[0].id}")
        assert resp.status == 200 and resp.body() == PDF
    finally:
        judge.close()
