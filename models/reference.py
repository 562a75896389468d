"""Reference data shared by every programme: provinces (GB/T 2260 codes)."""
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db

# The 31 provincial-level divisions of mainland China, one regional division (分赛区) each.
PROVINCES: list[tuple[str, str, str]] = [
    ("11", "北京市", "北京"), ("12", "天津市", "天津"), ("13", "河北省", "河北"),
    ("14", "山西省", "山西"), ("15", "内蒙古自治区", "内蒙古"), ("21", "辽宁省", "辽宁"),
    ("22", "吉林省", "吉林"), ("23", "黑龙江省", "黑龙江"), ("31", "上海市", "上海"),
    ("32", "江苏省", "江苏"), ("33", "浙江省", "浙江"), ("34", "安徽省", "安徽"),
    ("35", "福建省", "福建"), ("36", "江西省", "江西"), ("37", "山东省", "山东"),
    ("41", "河南省", "河南"), ("42", "湖北省", "湖北"), ("43", "湖南省", "湖南"),
    ("44", "广东省", "广东"), ("45", "广西壮族自治区", "广西"), ("46", "海南省", "海南"),
    ("50", "重庆市", "重庆"), ("51", "四川省", "四川"), ("52", "贵州省", "贵州"),
    ("53", "云南省", "云南"), ("54", "西藏自治区", "西藏"), ("61", "陕西省", "陕西"),
    ("62", "甘肃省", "甘肃"), ("63", "青海省", "青海"), ("64", "宁夏回族自治区", "宁夏"),
    ("65", "新疆维吾尔自治区", "新疆"),
]


class Province(db.Model):
    __tablename__ = "province"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    short_name: Mapped[str] = mapped_column(String(16), unique=True)

    def __repr__(self) -> str:
        return f"<Province {self.code} {self.short_name}>"


def ensure_provinces(session) -> dict[str, Province]:
    """Insert the 31 provinces if missing; return them by code. Idempotent."""
    existing = {p.code: p for p in session.query(Province).all()}
    for code, name, short in PROVINCES:
        if code not in existing:
            p = Province(code=code, name=name, short_name=short)
            session.add(p)
            existing[code] = p
    session.flush()
    return existing


def province_lookup(session) -> dict[str, Province]:
    """Provinces keyed by every spelling an Excel sheet may use: code, full and short name."""
    out: dict[str, Province] = {}
    for p in session.query(Province).all():
        out[p.code] = p
        out[p.name] = p
        out[p.short_name] = p
    return out
