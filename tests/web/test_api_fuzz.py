"""Issue 9.6: fuzz the judge API from its OpenAPI description (blueprints/api/openapi.json,
served at /api/v1/openapi.json). Hypothesis draws requests from the documented schema (to get
past validation and reach the rules behind it) mixed with arbitrary JSON, odd path values and
content types, against the WSGI app in-process with a valid bearer token. Every answer must be
below 500, a status the description lists for that operation, and match the documented body
schema. Deterministic (derandomize) and bounded, so CI is stable."""
from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.test_judge_api import build_hall

FUZZ = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


# -- the description ---------------------------------------------------------------------------

@pytest.fixture
def spec(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def deref(spec: dict, node: dict) -> dict:
    """Follow a local `$ref` (#/components/...)."""
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_schema(spec: dict, schema: dict, value, path: str = "$") -> list[str]:
    """The problems of `value` against the OpenAPI subset the description uses."""
    schema = deref(spec, schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null not allowed"]
    problems: list[str] = []
    for sub in schema.get("allOf", []):
        problems += check_schema(spec, sub, value, path)
    if "oneOf" in schema:
        if sum(not check_schema(spec, s, value, path) for s in schema["oneOf"]) != 1:
            problems.append(f"{path}: matches not exactly one of oneOf")
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool}
    if kind in types and not isinstance(value, types[kind]):
        return problems + [f"{path}: expected {kind}, got {type(value).__name__}"]
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return problems + [f"{path}: expected integer"]
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return problems + [f"{path}: expected number"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{path}: shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if kind in ("integer", "number") and "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: below {schema['minimum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}: missing {key}")
        for key, v in value.items():
            if key in props:
                problems += check_schema(spec, props[key], v, f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += check_schema(spec, schema["additionalProperties"], v, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            problems += check_schema(spec, schema["items"], v, f"{path}[{i}]")
    return problems


def from_schema(spec: dict, schema: dict) -> st.SearchStrategy:
    """Values that satisfy `schema` (the subset the request bodies use)."""
    schema = deref(spec, schema)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([from_schema(spec, s) for s in schema["oneOf"]])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        fixed = st.fixed_dictionaries({}, optional={k: from_schema(spec, v) for k, v in props.items()})
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return st.dictionaries(st.text(max_size=12), from_schema(spec, extra), max_size=4)
        return fixed
    if kind == "array":
        return st.lists(from_schema(spec, schema.get("items", {"type": "string"})), max_size=3)
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 40), 40))
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", -10**6), max_value=10**6)
    if kind == "number":
        return st.floats(min_value=schema.get("minimum"), allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    return st.none()


# -- what the fuzzer sends ---------------------------------------------------------------------

JSON_ANY = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                     max_size=4),
                        max_leaves=12)


def marks_for(criteria: list[dict]) -> st.SearchStrategy:
    """Marks keyed by the rubric's real criteria: on the step, off it, out of range, odd text."""
    def mark(c):
        top, step = Decimal(c["max"]), Decimal(c["step"])
        on_step = st.integers(0, int(top / step)).map(lambda n: str(n * step))
        return st.one_of(on_step, on_step.map(float), st.decimals(allow_nan=True, places=3).map(str),
                         st.floats(), st.text(max_size=6), st.none(), st.integers(-10**20, 10**20))
    return st.fixed_dictionaries({}, optional={c["id"]: mark(c) for c in criteria})


@st.composite
def put_request(draw, spec, hall, criteria):
    body_schema = spec["paths"]["/me/sheets/{entry_id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    documented = from_schema(spec, body_schema)
    realistic = st.fixed_dictionaries({"scores": marks_for(criteria)},
                                      optional={"status": st.sampled_from(["draft", "submitted"]),
                                                "comment": st.text(max_size=30),
                                                "client_request_id": st.text(min_size=1, max_size=20),
                                                "base_version": st.integers(-1, 5)})
    body = draw(st.one_of(realistic, documented, JSON_ANY))
    entry = draw(st.one_of(st.sampled_from([str(e.id) for e in hall.entries]), st.integers(-5, 10**13).map(str),
                           st.text(alphabet="0123456789abc.%-_~", min_size=1, max_size=14)))
    encoding = draw(st.sampled_from(["json", "json", "json", "text", "form", "garbled"]))
    return entry, body, encoding


def send_put(client, token, entry, body, encoding):
    url = f"/api/v1/me/sheets/{entry}"
    headers = {"Authorization": f"Bearer {token}"}
    data = json.dumps(body)          # Python writes NaN / Infinity literals: part of the fuzz
    if encoding == "text":
        return client.put(url, data=data, headers=headers, content_type="text/plain")
    if encoding == "form":
        return client.put(url, data={"scores": data}, headers=headers)
    if encoding == "garbled":
        return client.put(url, data=data[: max(1, len(data) // 2)], headers=headers, content_type="application/json")
    return client.put(url, data=data, headers=headers, content_type="application/json")


def assert_documented(spec, path: str, method: str, resp):
    op = spec["paths"][path][method]
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    assert str(resp.status_code) in op["responses"], f"{method.upper()} {path}: undocumented {resp.status_code}"
    assert resp.mimetype == "application/json"
    answer = deref(spec, op["responses"][str(resp.status_code)])
    schema = answer["content"]["application/json"]["schema"]
    problems = check_schema(spec, schema, resp.get_json())
    assert not problems, f"{method.upper()} {path} {resp.status_code}: {problems[:5]}"


@pytest.fixture
def hall(app, competition):
    return build_hall(competition)


def test_the_description_is_served_and_names_every_api_route(app, spec):
    """Every /api/v1 route of the app is in the description, with its methods."""
    documented = {("/api/v1" + re.sub(r"\{(\w+)\}", r"<\1>", p), m.upper())
                  for p, ops in spec["paths"].items() for m in ops if m != "parameters"}
    actual = {(r.rule, m) for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")
              and r.endpoint != "api.openapi" for m in r.methods - {"HEAD", "OPTIONS"}}
    assert actual == documented


def test_fuzz_put_sheet(client, hall, spec):
    token = hall.tokens[1][1]
    criteria = client.get("/api/v1/me/entries", headers={"Authorization": f"Bearer {token}"}) \
        .get_json()["entries"][0]["criteria"]

    @FUZZ
    @given(put_request(spec, hall, criteria))
    def run(req):
        entry, body, encoding = req
        resp = send_put(client, token, entry, body, encoding)
        assert_documented(spec, "/me/sheets/{entry_id}", "put", resp)

    run()


def test_fuzz_reads_and_tokens(client, hall, spec):
    """GETs with odd entry ids and odd Authorization headers: documented answers only."""
    token = hall.tokens[1][1]
    ids = st.one_of(st.sampled_from([str(e.id) for e in hall.entries]), st.integers(-5, 10**13).map(str),
                    st.text(alphabet="0123456789abc.%-_~", min_size=1, max_size=14))
    printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)   # what HTTP can carry
    auth = st.one_of(st.just(f"Bearer {token}"), st.just(f"bearer   {token}  "), printable,
                     printable.map(lambda t: f"Bearer {t}"))

    @FUZZ
    @given(ids, auth, st.sampled_from(["/me", "/me/entries", "/me/sheets/{entry_id}"]))
    def run(entry, header, path):
        url = "/api/v1" + path.replace("{entry_id}", entry)
        try:
            header.encode("latin-1")
        except UnicodeEncodeError:
            header = header.encode("utf-8").decode("latin-1")
        resp = client.get(url, headers={"Authorization": header})
        assert_documented(spec, path, "get", resp)

    run()
