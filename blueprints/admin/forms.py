"""Organiser forms. Labels and messages are Chinese msgids through the catalogue."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from models import HistoryConflict, PanelRole, StageKind


class ProgrammeForm(FlaskForm):
    template = SelectField(_l("模板"), validators=[DataRequired(message=_l("请选择模板"))])
    year = IntegerField(_l("年度"), validators=[
        DataRequired(message=_l("请填写年度")),
        NumberRange(min=2000, max=2100, message=_l("年度应在 2000 到 2100 之间"))])
    name = StringField(_l("名称（留空则按模板命名）"), validators=[Optional(), Length(max=200)])
    host = StringField(_l("承办单位"), validators=[Optional(), Length(max=200)])
    partner = StringField(_l("合作单位（如师范大学）"), validators=[Optional(), Length(max=200)])
    starts_on = DateField(_l("开始日期"), validators=[Optional()])
    ends_on = DateField(_l("结束日期"), validators=[Optional()])

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("结束日期不能早于开始日期"))


STAGE_KIND_LABELS = {
    StageKind.regional: _l("分赛区选拔"), StageKind.national_preliminary: _l("全国初评"),
    StageKind.final: _l("全国决赛"), StageKind.format_check: _l("形式审查"),
    StageKind.preliminary_review: _l("初评"), StageKind.final_review: _l("终评"),
    StageKind.assessment: _l("培训考核"), StageKind.award_review: _l("年度评审"),
}
HISTORY_LABELS = {HistoryConflict.off: _l("不回避"), HistoryConflict.soft: _l("尽量回避"),
                  HistoryConflict.hard: _l("必须回避")}
ROLE_LABELS = {PanelRole.member: _l("评委"), PanelRole.chief: _l("评委组长"),
               PanelRole.teacher_seat: _l("中小学教师席位")}


class StageForm(FlaskForm):
    kind = SelectField(_l("类型"), choices=[(k.value, v) for k, v in STAGE_KIND_LABELS.items()])
    name = StringField(_l("名称"), validators=[DataRequired(message=_l("请填写轮次名称")), Length(max=100)])
    by_division = BooleanField(_l("按分赛区进行"))
    avoid_province = BooleanField(_l("回避同省（区、市）"))
    anonymous = BooleanField(_l("匿名评审（评委不见单位）"))
    history_conflict = SelectField(_l("曾评过同一作品"), choices=[(k.value, v) for k, v in HISTORY_LABELS.items()])
    starts_on = DateField(_l("开始日期"), validators=[Optional()])
    ends_on = DateField(_l("结束日期"), validators=[Optional()])

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("结束日期不能早于开始日期"))


class CategoryForm(FlaskForm):
    code = StringField(_l("代码"), validators=[
        DataRequired(message=_l("请填写代码")), Length(max=32),
        Regexp(r"^[a-z][a-z0-9_-]*$", message=_l("代码只能包含小写字母、数字、- 和 _，并以字母开头"))])
    name = StringField(_l("名称"), validators=[DataRequired(message=_l("请填写名称")), Length(max=64)])
    name_en = StringField(_l("英文名称"), validators=[Optional(), Length(max=100)])
    entry_kind = SelectField(_l("参赛形式"), choices=[
        ("individual", _l("个人")), ("team", _l("团队")), ("resource", _l("资源")), ("unit", _l("单位"))])
    group = StringField(_l("组别"), validators=[Optional(), Length(max=32)])
    time_limit_minutes = IntegerField(_l("时限（分钟）"), validators=[
        Optional(), NumberRange(min=1, max=240, message=_l("时限应在 1 到 240 分钟之间"))])


class RubricBindingForm(FlaskForm):
    category_id = SelectField(_l("赛项"), coerce=int)
    rubric_ref = SelectField(_l("评分标准"))


class PanelForm(FlaskForm):
    name = StringField(_l("评委组名称"), validators=[DataRequired(message=_l("请填写评委组名称")), Length(max=100)])
    category_id = SelectField(_l("赛项"), coerce=int)
    division_id = SelectField(_l("分赛区"), coerce=int)


class PanelMemberForm(FlaskForm):
    judge_ref = StringField(_l("评委编号"), validators=[DataRequired(message=_l("请填写评委编号")), Length(max=32)])
    role = SelectField(_l("席位"), choices=[(k.value, v) for k, v in ROLE_LABELS.items()])


class ImportForm(FlaskForm):
    file = FileField(_l("文件（.xlsx 或 .csv）"), validators=[FileRequired(message=_l("请选择要导入的文件"))])
    stage_id = SelectField(_l("导入到轮次"), coerce=int, validate_choice=False)


class ConfirmForm(FlaskForm):
    """A bare form for POST buttons (delete, remove): CSRF only."""


# --- assignment, placement, draws (blueprints/admin/assignment.py) --------------------------

_SEED = [Optional(), Regexp(r"^\d{1,18}$", message=_l("随机种子应为不超过 18 位的非负整数"))]
GROUPING_LABELS = {"division_category": _l("每个分赛区的每个赛项一组"), "division": _l("每个分赛区一组"),
                   "category": _l("每个赛项一组"), "stage": _l("全轮次一组")}


class PanelRunForm(FlaskForm):
    seed = StringField(_l("随机种子（留空则随机，结果会记录）"), validators=_SEED)
    grouping = SelectField(_l("分组方式"), choices=list(GROUPING_LABELS.items()))
    size = IntegerField(_l("每组人数"), default=7, validators=[
        InputRequired(message=_l("请填写每组人数")), NumberRange(min=1, max=25, message=_l("每组人数应在 1 到 25 之间"))])
    teacher_seats = IntegerField(_l("中小学教师席位"), default=1, validators=[
        InputRequired(message=_l("请填写教师席位数")), NumberRange(min=0, max=5, message=_l("教师席位应在 0 到 5 之间"))])
    max_panels = IntegerField(_l("每位评委最多参加几个组（留空自动）"), validators=[
        Optional(), NumberRange(min=1, max=50, message=_l("应在 1 到 50 之间"))])
    min_scoring = IntegerField(_l("允许组内回避：每件作品至少几名评委评分（留空则不允许）"), validators=[
        Optional(), NumberRange(min=1, max=25, message=_l("应在 1 到 25 之间"))])
    distinct_units = BooleanField(_l("同组评委来自不同单位"), default=True)
    distinct_provinces = BooleanField(_l("同组评委来自不同省份"))
    home_division = BooleanField(_l("只用本赛区（本省）评委"))
    keep_previous = BooleanField(_l("尽量保留现有安排"), default=True)


class ReviewRunForm(FlaskForm):
    seed = StringField(_l("随机种子（留空则随机，结果会记录）"), validators=_SEED)
    per_entry = IntegerField(_l("每件作品评审人数"), default=5, validators=[
        InputRequired(message=_l("请填写每件作品评审人数")), NumberRange(min=1, max=20, message=_l("应在 1 到 20 之间"))])
    min_load = IntegerField(_l("每人最少件数（留空自动）"), validators=[
        Optional(), NumberRange(min=0, max=10000, message=_l("应为非负整数"))])
    max_load = IntegerField(_l("每人最多件数（留空自动）"), validators=[
        Optional(), NumberRange(min=1, max=10000, message=_l("应为正整数"))])
    keep_previous = BooleanField(_l("尽量保留现有安排"), default=True)


class PlaceForm(FlaskForm):
    judge_id = IntegerField(_l("评委"), validators=[DataRequired(message=_l("请选择评委"))])
    role = SelectField(_l("席位"), choices=[(k.value, v) for k, v in ROLE_LABELS.items()], default="member")


class MoveForm(FlaskForm):
    target = SelectField(_l("调至"), coerce=int, validate_choice=False)


class DrawForm(FlaskForm):
    seed = StringField(_l("随机种子（留空则随机，结果会记录）"), validators=_SEED)
    reason = StringField(_l("重新抽签的理由（已抽签时必填）"), validators=[Optional(), Length(max=200)])
