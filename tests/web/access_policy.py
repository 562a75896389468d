"""Who may use which route: the one table tests/web/test_access_matrix.py checks every route
of the app against. Every (endpoint, method) the app answers must have a row; a new module
adds its rows here or the matrix test fails.

Outcomes, per role:
  ok     the view ran: 2xx, a redirect that is not to the login page, or the view's own
         400/404/409/413/415/422 (the matrix sends empty bodies and, for objects the demo does
         not have, ids that do not exist)
  403    refused: known caller, not allowed
  login  anonymous (or no judge session) sent to the login page
  401    refused as unknown (JSON endpoints, judge pages without a token session)
  404    answered as if the thing did not exist (pages that must not reveal it)
A 5xx is never an allowed outcome.

Roles: anonymous; judge_token (a regional panel member in the session of their judge card,
/j/<token>); chief_token (that panel's chief judge, by their card); judge_user (the `judge` login of that same judge); chief (a `chief` login
whose judge chairs a final panel, not the regional panel used here); oversight (监审);
organiser; unit_contact (a provincial museum's contact).
"""
from __future__ import annotations

import json

ROLES = ("anonymous", "judge_token", "chief_token", "judge_user", "chief", "oversight", "organiser", "unit_contact")
MISSING_ID = 987654
VIEW_RAN = {400, 404, 409, 413, 415, 422}
PROPERTY = "access_matrix"


def outcome_of(resp) -> str:
    """The outcome class of a response (see the module docstring)."""
    code = resp.status_code
    if code >= 500:
        return "5xx"
    if code in (301, 302, 303, 307, 308) and "/login" in resp.headers.get("Location", ""):
        return "login"
    if code in (401, 403):
        return str(code)
    if code < 400 or code in VIEW_RAN:
        return "ok"
    return str(code)


def allowed_outcome(want: str, got: str, status: int) -> bool:
    if got == "5xx":
        return False
    if want == "404":
        return status == 404
    return want == got


def _row(anonymous, judge_token, judge_user, chief, oversight, organiser, unit_contact,
         chief_token=None) -> dict[str, str]:
    """One route's outcomes; the panel chief's token session is a judge's token session except
    where said (the chief console)."""
    chief_token = judge_token if chief_token is None else chief_token
    return {"anonymous": str(anonymous), "judge_token": str(judge_token), "chief_token": str(chief_token),
            "judge_user": str(judge_user), "chief": str(chief), "oversight": str(oversight),
            "organiser": str(organiser), "unit_contact": str(unit_contact)}


# Common rows.
# A judge card's session is no login: login-only pages send it to the login page.
ORGANISER = _row("login", "login", 403, 403, 403, "ok", 403)      # organiser only
ORG_READ = _row("login", "login", 403, 403, "ok", "ok", 403)      # organiser; oversight reads
PUBLIC = _row("ok", "ok", "ok", "ok", "ok", "ok", "ok")           # anyone
API = _row(401, "ok", 401, 401, 401, 401, 401)                    # the judge's token only
# The chief console: the panel's chief (token session) may; the `chief` login chairs a final
# panel, not this regional one, so it is refused here.
CONSOLE_READ = _row("login", 403, 403, 403, "ok", "ok", 403, chief_token="ok")
CONSOLE_JSON = _row(401, 403, 403, 403, "ok", "ok", 403, chief_token="ok")
CONSOLE_WRITE = _row(401, 403, 403, 403, 403, "ok", 403, chief_token="ok")   # oversight never writes
ORG_READ_CONSOLE = _row("login", 403, 403, 403, "ok", "ok", 403)  # the audit log: not even the chief
JUDGE_PAGE = _row(401, "ok", 401, 401, 401, 401, 401)             # judge tablet pages: token session only
CONTACT = _row("login", "login", 403, 403, 403, 403, "ok")        # unit contacts only (their own unit)
REPORTERS = _row("login", "login", 403, 403, 403, "ok", "ok")     # activity reports: organisers and contacts
# A resource and its files: its own unit's contacts, organisers and oversight; anyone else
# (judges not expected on it, strangers) meets 404, so its existence is not revealed.
RESOURCE_READ = _row(404, 404, 404, 404, "ok", "ok", "ok")
# The 形式审查 panel pages: only a judge card of a 形式审查 stage; the regional card used here
# is a card of another stage (404), a login is no judge card (401).
FORMAT_PANEL = _row(401, 404, 401, 401, 401, 401, 401)

POLICY: dict[str, dict[str, str]] = {
    # -- organisers (admin blueprint): organisers everything, oversight reads --------------
    **{f"admin.{ep} GET": ORG_READ for ep in (
        "assignment", "assignment_entry", "assignment_export", "assignment_home", "assignment_panel", "categories",
        "download_template", "edit_stage", "entries", "export", "import_batch", "import_file", "imports", "index",
        "judge_sheets_document", "judges", "new_stage", "panels", "programme", "publication", "publications",
        "ranking_document", "result_document", "stage_results", "stage_results_xlsx")},
    "admin.stage_tokens GET": ORGANISER,        # judge cards are secrets: not even oversight
    **{f"admin.{ep} POST": ORGANISER for ep in (
        "add_panel_member", "answer_objection", "assignment_entry", "assignment_panel", "bind_rubric", "categories",
        "create_programme", "create_publication", "discard_publication", "draw", "edit_stage",
        "finalise_publication", "import_file", "issue_judge_card", "issue_stage_cards", "new_stage",
        "panel_member_action", "panels", "promote_reserve", "promote_stage", "publish_publication",
        "record_objection", "remove_panel_member", "resolve_flag", "review_action", "revoke_token",
        "run_assignment")},
    # -- the judge API (token only; a login is no judge) ------------------------------------
    "api.openapi GET": PUBLIC,
    "api.me GET": API, "api.my_entries GET": API, "api.get_sheet GET": API, "api.put_sheet PUT": API,
    # -- sign-in ------------------------------------------------------------------------------
    "auth.login GET": PUBLIC, "auth.login POST": PUBLIC, "auth.set_language GET": PUBLIC,
    "auth.home GET": _row("login", "login", "ok", "ok", "ok", "ok", "ok"),
    "auth.logout POST": _row(*["login"] * 7),     # signed out, then the login page
    # -- certificates: organisers manage; anyone with the code downloads / verifies ------------
    **{f"certificates.{ep} GET": ORG_READ for ep in (
        "admin_index", "batch_file", "batch_page", "batch_status", "edit_template", "preview_template")},
    **{f"certificates.{ep} POST": ORGANISER for ep in ("edit_template", "issue", "start_batch")},
    "certificates.download GET": PUBLIC, "certificates.verify GET": PUBLIC,
    "certificates.lookup GET": PUBLIC, "certificates.lookup POST": PUBLIC,
    # -- chief console, big screen, audit --------------------------------------------------------
    "chief.index GET": _row("login", 403, 403, "ok", "ok", "ok", 403, chief_token="ok"),
    "chief.panel GET": CONSOLE_READ, "chief.grid GET": CONSOLE_JSON, "chief.result GET": CONSOLE_JSON,
    "chief.screen GET": CONSOLE_READ, "chief.screen_data GET": CONSOLE_JSON,
    "chief.audit GET": ORG_READ_CONSOLE, "chief.audit_export GET": ORG_READ_CONSOLE,
    "chief.confirm POST": CONSOLE_WRITE, "chief.unconfirm POST": CONSOLE_WRITE, "chief.record POST": CONSOLE_WRITE,
    "chief.reopen POST": CONSOLE_WRITE,
    "chief.scoring POST": _row(401, 403, 403, 403, 403, "ok", 403),    # closing a stage: organisers only
    # -- judge tablet ----------------------------------------------------------------------------
    "judge.home GET": JUDGE_PAGE, "judge.declaration GET": JUDGE_PAGE, "judge.declaration POST": JUDGE_PAGE,
    "judge.declaration_saved GET": JUDGE_PAGE, "judge.logout POST": PUBLIC,
    "judge.token_login GET": PUBLIC, "judge.pin_login GET": PUBLIC, "judge.pin_login POST": _row(*[401] * 7),   # anyone may try; an empty PIN is refused
    "judge.service_worker GET": PUBLIC,
    # -- public pages ----------------------------------------------------------------------------
    "index GET": _row("login", "login", "ok", "ok", "ok", "ok", "ok"), "static GET": PUBLIC, "public.results GET": PUBLIC, "public.result GET": PUBLIC,
    # -- teacher training: organisers; oversight reads; trainees check in by the QR code --------
    **{f"training.{ep} GET": ORG_READ for ep in (
        "attendance", "index", "leave", "marks", "outcomes", "overview", "report", "roster", "roster_xlsx")},
    **{f"training.{ep} POST": ORGANISER for ep in (
        "all_present", "create_outcome_publication", "decide", "issue_code", "leave", "mark", "marks",
        "trainee_status")},
    "training.checkin GET": PUBLIC, "training.checkin POST": PUBLIC,
    # -- activity reports and year-end awards: contacts report for their own unit (organisers
    # for any unit); organisers manage the dashboard and the awards, oversight reads them --------
    "awards.index GET": _row("login", "login", 403, 403, "ok", "ok", "ok"),
    "awards.report GET": REPORTERS, "awards.save_report POST": REPORTERS,
    **{f"awards.{ep} GET": ORG_READ for ep in ("dashboard", "dashboard_xlsx", "overview")},
    **{f"awards.{ep} POST": ORGANISER for ep in ("nominate", "sync_computed")},
    # -- resource selection: contacts submit their unit's resources; organisers run the call,
    # oversight reads it; the format-check panel works by its 形式审查 judge card ----------------
    "resources.unit_home GET": CONTACT,
    **{f"resources.{ep} {m}": CONTACT for ep, m in (
        ("new", "GET"), ("new", "POST"), ("edit", "GET"), ("edit", "POST"), ("submit", "POST"),
        ("withdraw", "POST"), ("delete", "POST"))},
    "resources.detail GET": RESOURCE_READ, "resources.attachment GET": RESOURCE_READ,
    **{f"resources.{ep} GET": ORG_READ for ep in ("calls", "call", "check_queue", "results", "selection_xlsx")},
    **{f"resources.{ep} POST": ORGANISER for ep in (
        "decide", "start_preliminary", "set_rule", "shortlist", "create_selection_publication")},
    "resources.panel_queue GET": FORMAT_PANEL, "resources.panel_check GET": FORMAT_PANEL,
    "resources.panel_check POST": FORMAT_PANEL,
}


def record(record_property, role: str, seen: dict[str, int]) -> None:
    """Attach one role's column of the matrix to the test report (travels through xdist)."""
    record_property(PROPERTY, json.dumps({"role": role, "seen": seen}))


def render_matrix(reports) -> str | None:
    """The matrix (endpoint × role → status) from the reports of test_access_matrix, or None."""
    columns: dict[str, dict[str, int]] = {}
    for rep in reports:
        for name, value in getattr(rep, "user_properties", ()):
            if name == PROPERTY:
                data = json.loads(value)
                columns[data["role"]] = data["seen"]
    if not columns:
        return None
    roles = [r for r in ROLES if r in columns]
    keys = sorted({k for col in columns.values() for k in col})
    width = max(len(k) for k in keys)
    heads = [r.replace("_", " ")[:12] for r in roles]
    lines = [f"{'endpoint method':<{width}}  " + "  ".join(f"{h:>12}" for h in heads)]
    for k in keys:
        cells = []
        for r in roles:
            status = columns[r].get(k)
            want = POLICY.get(k, {}).get(r, "?")
            cells.append(f"{(str(status) if status is not None else '-') + ' ' + want:>12}")
        lines.append(f"{k:<{width}}  " + "  ".join(cells))
    lines.append("cells: observed status, then the declared outcome (ok / 403 / login / 401 / 404)")
    return "\n".join(lines)
