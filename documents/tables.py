"""Read an uploaded sheet (.xlsx or .csv) into a header and rows of plain strings.

Row numbers are the ones the organiser sees in Excel (the header is usually row 1, the first
data row row 2), even when empty rows are skipped or a title row sits above the header.
Cells come back as stripped text: an Excel number that is an integer (1.0) reads "1", a date
reads 2024-07-01, TRUE reads 是. Anything wrong with the file itself raises TableError with a
Chinese message the organiser can act on; nothing here knows about the database.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Iterable, Iterator, Optional, Sequence

from documents.columns import HELP_SHEET, LISTS_SHEET, normalise_header

EXCEL_EXTENSIONS = (".xlsx", ".xlsm")
HEADER_SEARCH_ROWS = 10   # a title row or two may sit above the header
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # .xls, or an encrypted .xlsx


class TableError(Exception):
    """The file cannot be read as a table; ``message`` is shown to the organiser."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Table:
    header_row: int                        # the Excel row number of the header
    header: list[str]
    rows: list[tuple[int, list[str]]]      # (Excel row number, cells), empty rows skipped
    sheet: Optional[str] = None
    data_columns: set[int] = field(default_factory=set)  # column indexes holding any data


def read_table(filename: str, data: bytes, *, max_rows: Optional[int] = None,
               known_headers: Iterable[str] = (), sheet_names: Sequence[str] = ()) -> Table:
    """Parse an upload. ``known_headers`` (normalised) locate the header row below any title
    rows; ``sheet_names`` are preferred sheets (else the first list sheet); ``max_rows``
    caps the data rows (an error beyond it)."""
    name = (filename or "").strip()
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if not data:
        raise TableError(f"文件“{name}”是空的（0 字节），请检查后重新上传。")
    if ext == ".xls":
        raise TableError("不支持旧版 Excel 97-2003 工作簿（.xls）。请在 Excel 或 WPS 中打开，"
                         "“另存为”Excel 工作簿（.xlsx）后再上传。")
    known = {normalise_header(h) for h in known_headers}
    if ext in EXCEL_EXTENSIONS:
        wb = _open_workbook(name, data)
        try:
            ws = _pick_sheet(wb, sheet_names)
            if ws is None:
                raise TableError(f"文件“{name}”中没有可读取的工作表。")
            ws.reset_dimensions()   # some tools write a wrong sheet size; read every cell present
            return _build(_sheet_rows(ws, name, data), ws.title, max_rows, known)
        finally:
            wb.close()
    if ext == ".csv":
        return _build(_csv_rows(data), None, max_rows, known)
    shown = ext or "（无扩展名）"
    raise TableError(f"不支持的文件类型“{shown}”，请上传 Excel 工作簿（.xlsx）或 CSV 文件（.csv）。")


def _build(rows: Iterator[list[str]], sheet: Optional[str], max_rows: Optional[int],
           known: set[str]) -> Table:
    where = f"工作表“{sheet}”" if sheet else "文件"
    leading: list[tuple[int, list[str]]] = []   # the first non-empty rows, to find the header
    body: list[tuple[int, list[str]]] = []
    header_at: Optional[int] = None
    for number, cells in enumerate(rows, start=1):
        if not any(cells):
            continue
        if header_at is None:
            leading.append((number, cells))
            if known and any(normalise_header(c) in known for c in cells):
                header_at = len(leading) - 1
                continue
            if len(leading) < HEADER_SEARCH_ROWS:
                continue
            header_at = 0   # no recognisable header: the first row is the header
            body.extend(leading[1:])
            continue
        body.append((number, cells))
        if max_rows is not None and len(body) > max_rows:
            raise TableError(f"{where}的数据超过 {max_rows} 行，单次导入上限为 {max_rows} 行，请拆分后分批导入。")
    if not leading:
        raise TableError(f"{where}是空的：没有表头，也没有数据。请使用下载的模板填写后再上传。")
    if header_at is None:   # fewer than HEADER_SEARCH_ROWS rows and no known header
        header_at = 0
        body = leading[1:]
    header_row, header = leading[header_at]
    if not body:
        raise TableError(f"{where}只有表头，没有数据行。请从表头下一行开始填写数据。")
    if max_rows is not None and len(body) > max_rows:
        raise TableError(f"{where}的数据超过 {max_rows} 行，单次导入上限为 {max_rows} 行，请拆分后分批导入。")
    width = max(len(header), *(len(c) for _, c in body))
    header = _pad(header, width)
    data_columns: set[int] = set()
    padded = []
    for number, cells in body:
        cells = _pad(cells, width)
        data_columns.update(i for i, c in enumerate(cells) if c)
        padded.append((number, cells))
    return Table(header_row, header, padded, sheet, data_columns)


def _pad(cells: list[str], width: int) -> list[str]:
    return cells + [""] * (width - len(cells)) if len(cells) < width else cells


# --- xlsx --------------------------------------------------------------------------------

def _open_workbook(name: str, data: bytes):
    if data.startswith(OLE2_MAGIC):
        raise TableError(f"文件“{name}”实际上是旧版 .xls 格式或已加密的工作簿。请在 Excel 或 WPS 中打开，"
                         "取消密码后“另存为”Excel 工作簿（.xlsx）再上传。")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise TableError(_not_excel(name, data))
    from openpyxl import load_workbook
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # zipfile, KeyError, InvalidFileException, XML errors: all mean "not a workbook"
        raise TableError(_not_excel(name, data)) from None


def _sheet_rows(ws, name: str, data: bytes) -> Iterator[list[str]]:
    try:
        for row in ws.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    except Exception:   # a damaged sheet part
        raise TableError(_not_excel(name, data)) from None


def _pick_sheet(wb, sheet_names: Sequence[str]):
    wanted = {normalise_header(s) for s in sheet_names}
    sheets = [ws for ws in wb.worksheets if getattr(ws, "sheet_state", "visible") == "visible"] or wb.worksheets
    for ws in sheets:
        if normalise_header(ws.title) in wanted:
            return ws
    for ws in sheets:
        if ws.title not in (HELP_SHEET, LISTS_SHEET):
            return ws
    return sheets[0] if sheets else None


def _not_excel(name: str, data: bytes) -> str:
    head = data[:8]
    if head.startswith(b"%PDF"):
        found = "它实际上是一个 PDF 文件"
    elif head.startswith(b"PK"):
        found = "它是一个压缩包或 Word/PowerPoint 文件，而不是 Excel 工作簿"
    else:
        found = "它可能已损坏，或是其他类型的文件改了扩展名"
    return (f"文件“{name}”不是有效的 Excel 工作簿（.xlsx）：{found}。"
            "请在 Excel 或 WPS 中打开数据表，“另存为”Excel 工作簿（.xlsx）后再上传。")


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, timedelta):
        return str(value)
    return _clean(str(value))


def _clean(text: str) -> str:
    text = text.replace("\ufeff", "").replace("\u200b", "").strip()
    # an exported text cell that begins with a formula character carries a protective quote
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        text = text[1:]
    return text


# --- csv ---------------------------------------------------------------------------------

def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")   # what Chinese Excel and WPS write as "CSV"
    except UnicodeDecodeError:
        raise TableError("无法识别 CSV 文件的编码。请在 Excel 中“另存为”CSV UTF-8（逗号分隔）或 Excel 工作簿（.xlsx）。") from None


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    text = _decode(data)
    if "\x00" in text:
        raise TableError("CSV 文件中含有无法识别的二进制内容，它可能不是文本格式的 CSV 文件。")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first and "，" not in first else ","
    try:
        rows = [[_clean(c) for c in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise TableError(f"CSV 文件格式有误：{exc}") from None
    return iter(rows)
