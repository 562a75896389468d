"""入选名单 of a resource call as Excel, in the layout of documents/result_lists_excel.py: a sheet
per resource type, selected resources first in rank order, then the rest with the reason
(一票否决 shown as such), so the organiser's file says why each resource is or is not in."""
from __future__ import annotations

from openpyxl import Workbook

from documents.result_lists_excel import _frame, _row, _save, _sheet_title

HEADER = ["序号", "结果", "名次", "编号", "资源名称", "推荐单位", "省份", "终评得分", "说明"]
WIDTHS = [6, 8, 6, 12, 36, 30, 10, 10, 40]


def selection_xlsx(snap: dict) -> bytes:
    """`snap` is services.resources.selection_snapshot (rows carry `selected`)."""
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    st = snap.get("stage", {})
    for cat in snap.get("categories", []) or [{"name": "入选名单", "groups": []}]:
        ws = wb.create_sheet(_sheet_title(cat.get("name", "名单"), used))
        r = _frame(ws, f"{st.get('programme', '')}入选名单", f"{cat.get('name', '')} · {cat.get('rule', '')}",
                   HEADER, WIDTHS)
        rows = [row for g in cat.get("groups", []) for row in g.get("rows", [])]
        rows.sort(key=lambda x: (not x.get("selected"), x.get("rank") is None, x.get("rank") or 0))
        for i, row in enumerate(rows, start=1):
            why = "；".join(row.get("reasons") or []) or "；".join(row.get("notes") or [])
            _row(ws, r, [i, "入选" if row.get("selected") else "未入选", row.get("rank") or "—",
                         row.get("external_id"), row.get("title"), row.get("unit"), row.get("province"),
                         row.get("score") or "—", why], centred=(1, 2, 3, 4, 7, 8))
            ws.cell(row=r, column=4).number_format = "@"
            r += 1
        if not rows:
            ws.cell(row=r, column=1, value="暂无终评资源")
    return _save(wb)
