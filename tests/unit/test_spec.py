"""One spec: the landing tables of recdb.core.landing, and everything that restates them.

Each rule (a column, its type, range, allowed values, pattern) is written once, in
the spec. python_api and the web API's request schemas derive theirs from it; dbt's
YAML cannot import Python, so these tests hold it equal: the sources' columns and
types, the marts' contracts (types and check constraints) on the columns that come
from landing, and descriptions that list allowed values. Names, types and values.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from python_api import ValidationError
from python_api.validate import to_arrow_table
from recdb.core.landing import (
    CREDITS,
    LANDING_TABLES,
    RATINGS,
    RECOMMENDATION_ROWS,
    RETIRED_TITLES,
    RUNS,
    SESSIONS,
    TITLES,
    USERS,
    WRITTEN_XID,
    LandingColumn,
    LandingTable,
)
from web_api.app import create_app
from web_api.settings import ApiSettings, parse_api_keys

PROJECT_DIR = Path(__file__).resolve().parents[2]
SOURCES = ["models/staging/sim/_sim__sources.yml", "models/staging/recs/_recs__sources.yml"]

#: The marts whose columns come from landing tables, and columns renamed on the way.
MARTS_FROM_LANDING: dict[str, tuple[LandingTable, ...]] = {
    "dim_users": (USERS,),
    "fact_sessions": (SESSIONS, RATINGS),
    "fact_recommendations": (RECOMMENDATION_ROWS, RUNS),
}
RENAMED = {("fact_recommendations", "recommendation_rank"): "rank"}
#: What callers write to each landing table: its rows, or the rows of its lists.
WRITTEN = {name: table.rows or table for name, table in LANDING_TABLES.items()}

#: One valid row per landing table, the start of every mutation below.
VALID_ROWS: dict[str, dict[str, Any]] = {
    "users": {
        "user_id": 1,
        "signup_at": pd.Timestamp("2024-01-01", tz="UTC"),
        "birth_year": 1980,
        "gender": "female",
        "country_code": "FR",
        "plan": "basic",
        "churned_at": None,
    },
    "sessions": {
        "session_id": 1,
        "user_id": 1,
        "title_id": "tm1",
        "started_at": pd.Timestamp("2024-01-02", tz="UTC"),
        "ended_at": pd.Timestamp("2024-01-02 01:00", tz="UTC"),
        "minutes_watched": 60.0,
        "completion_ratio": 0.5,
    },
    "ratings": {"session_id": 1, "rating": 3, "rated_at": pd.Timestamp("2024-01-02", tz="UTC")},
    "user_tastes": {"user_id": 1, "genre_affinities": [0.5, 1.0], "popularity_bias": 1.0},
    "titles": {
        "title_id": "sim-1",
        "title_name": "A Simulated Title",
        "title_type": "movie",
        "release_year": 2026,
        "released_at": pd.Timestamp("2026-02-01", tz="UTC"),
        "genres": ["drama", "comedy"],
        "production_countries": ["FR"],
        "runtime_minutes": 95,
        "season_count": None,
        "age_certification": None,
        "imdb_score": 7.1,
        "imdb_vote_count": 10,
    },
    "credits": {
        "title_id": "sim-1",
        "person_id": 1,
        "person_name": "An Actor",
        "credit_role": "actor",
        "character_name": None,
    },
    "retired_titles": {"title_id": "tm1", "retired_at": pd.Timestamp("2026-03-01", tz="UTC")},
    "runs": {"run_id": "weekly-1", "published_at": None},
    "recommendations": {
        "run_id": "weekly-1",
        "user_id": 1,
        "title_id": "tm1",
        "rank": 1,
        "score": 0.5,
        "is_cold_start": False,
    },
}


def formal_type(column: LandingColumn) -> str:
    """The type as dbt's YAML and PostgreSQL's catalog spell it."""
    return {"timestamptz": "timestamp with time zone"}.get(column.pg_type, column.pg_type)


def postgres_spelling(data_type: str) -> str:
    """A contract's data_type as PostgreSQL spells it: dbt's alias `string` is text, and
    the type variables (dbt_project.yml's var types, by engine) are PostgreSQL's."""
    variable = re.fullmatch(r"\{\{ var\('types'\)\[target\.type\]\.(\w+) \}\}", data_type)
    if variable:
        return yaml_file("dbt_project.yml")["vars"]["types"]["postgres"][variable.group(1)]
    return "text" if data_type == "string" else data_type


def yaml_file(relative: str) -> dict:
    return yaml.safe_load((PROJECT_DIR / relative).read_text(encoding="utf-8"))


def mart_models() -> dict[str, dict]:
    models = {}
    for path in (PROJECT_DIR / "models").rglob("_*__models.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            models[model["name"]] = model
    return models


def column_checks(column: dict) -> list[str]:
    return [c["expression"] for c in column.get("constraints", []) if c["type"] == "check"]


# -- dbt -----------------------------------------------------------------------------
def test_dbt_sources_declare_the_landing_tables_with_their_types():
    declared = {}
    for path in SOURCES:
        for source in yaml_file(path)["sources"]:
            for table in source["tables"]:
                columns = [(c["name"], c.get("data_type")) for c in table["columns"]]
                declared[f"{source.get('schema', source['name'])}.{table['name']}"] = columns
    stamp = [(WRITTEN_XID, "bigint")]
    expected = {
        t.qualified_name: [(c.name, formal_type(c)) for c in t.columns] + stamp * t.stamped
        for t in LANDING_TABLES.values()
    }
    for table in LANDING_TABLES.values():
        if table.deleted_keys:
            recorded = (*table.deleted_keys, *table.deleted_also)
            keys = [(k, formal_type(table.column(k))) for k in recorded]
            expected[f"{table.schema}.{table.deleted_table}"] = [
                *keys,
                ("deleted_at", "timestamp with time zone"),
                *stamp * table.stamped,
            ]
    assert declared == expected


@pytest.mark.parametrize("mart", MARTS_FROM_LANDING)
def test_marts_contracts_state_the_landing_rules_of_their_columns(mart):
    """A column that comes from landing has its type; a range or a list of values of the
    spec is a check constraint of the contract, the spec's very expression."""
    model = mart_models()[mart]
    landing = {c.name: (t, c) for t in MARTS_FROM_LANDING[mart] for c in t.columns}
    compared = 0
    for column in model["columns"]:
        name = RENAMED.get((mart, column["name"]), column["name"])
        if name not in landing:
            continue
        table, spec = landing[name]
        compared += 1
        assert postgres_spelling(column["data_type"]) == formal_type(spec), (
            f"{mart}.{column['name']}"
        )
        rule = spec.check_expression(column["name"])
        is_key = name in table.primary_key or any(name in fk.columns for fk in table.foreign_keys)
        stated = column_checks(column)
        if rule and not is_key and not spec.pattern:
            assert stated == [rule], f"{mart}.{column['name']}: the spec says {rule!r}"
        else:
            assert stated in ([], [rule]), f"{mart}.{column['name']}: the spec says {rule!r}"
    assert compared >= 5
    model_checks = {c["expression"] for c in model.get("constraints", []) if c["type"] == "check"}
    for table in MARTS_FROM_LANDING[mart]:
        for check in table.row_checks:
            assert check.describe() in model_checks, f"{mart}: {check.describe()}"


def spelled(values: tuple[str, ...]) -> str:
    return f"{', '.join(values[:-1])} or {values[-1]}"


def test_descriptions_that_list_allowed_values_list_the_spec_s():
    """``Current subscription plan: basic, standard or premium.``: the whole list, in order."""
    columns_with_values = {
        c.name: c.allowed for t in LANDING_TABLES.values() for c in t.columns if c.allowed
    }
    listed = 0
    for path in (PROJECT_DIR / "models").rglob("_*.yml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for node in [*document.get("models", []), *document.get("sources", [])]:
            for table in [node, *node.get("tables", [])]:
                for column in table.get("columns", []):
                    values = columns_with_values.get(column["name"])
                    text = column.get("description", "")
                    if values and any(value in text for value in values):
                        listed += 1
                        assert spelled(values) in text, f"{path.name}: {column['name']}: {text}"
    assert listed >= 2


# -- python_api ------------------------------------------------------------------------
def out_of_spec(column: LandingColumn) -> list[Any]:
    """Values the spec refuses for ``column``."""
    values: list[Any] = []
    if column.kind == "integer":
        low, high = column.integer_range
        values += [low - 1, high + 1]
    elif column.kind == "float":
        if column.minimum is not None:
            values.append(column.minimum - 0.5)
        if column.maximum is not None:
            values.append(column.maximum + 0.5)
        values.append(math.nan if not column.nullable else math.inf)
    elif column.kind == "text":
        values.append("not-one-of-them" if column.allowed else "bad value with spaces!")
    if not column.nullable:
        values.append(None)
    return values


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        (t.name, c.name, value)
        for t in WRITTEN.values()
        for c in t.columns
        if c.kind != "float_array"
        for value in out_of_spec(c)
        if not (c.kind == "text" and not (c.allowed or c.pattern) and value is not None)
    ],
)
def test_python_api_refuses_what_the_spec_refuses(table, column, value):
    spec = WRITTEN[table]
    assert to_arrow_table(spec, pd.DataFrame([VALID_ROWS[table]])).num_rows == 1
    row = {**VALID_ROWS[table], column: value}
    with pytest.raises(ValidationError, match=column):
        to_arrow_table(spec, pd.DataFrame([row]))


@pytest.mark.parametrize(
    ("table", "column"),
    [(t.name, c.name) for t in WRITTEN.values() for c in t.columns if c.kind == "integer"],
)
def test_python_api_takes_the_spec_s_bounds(table, column):
    spec = WRITTEN[table]
    for bound in spec.column(column).integer_range:
        row = {**VALID_ROWS[table], column: bound}
        assert to_arrow_table(spec, pd.DataFrame([row])).column(column)[0].as_py() == bound


# -- the web API -------------------------------------------------------------------
def openapi() -> dict:
    app = create_app(ApiSettings(parse_api_keys("key-for-the-spec-test:analyst")))
    return app.openapi()


def json_schema_of(column: LandingColumn) -> dict[str, Any]:
    """What the spec says a JSON body field or path segment for ``column`` is."""
    if column.kind == "integer":
        low, high = column.integer_range
        return {"type": "integer", "minimum": float(low), "maximum": float(high)}
    if column.kind == "float":
        bounds = {"minimum": column.minimum, "maximum": column.maximum}
        return {"type": "number", **{k: v for k, v in bounds.items() if v is not None}}
    if column.kind == "text" and column.allowed:
        return {"type": "string", "enum": list(column.allowed)}
    if column.kind == "text" and column.pattern:
        return {"type": "string", "pattern": f"^(?:{column.pattern})$"}
    if column.kind == "text":
        return {"type": "string"}
    if column.kind == "boolean":
        return {"type": "boolean"}
    if column.kind == "text_array":
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string", "format": "date-time"}


def the_rule(schema: dict[str, Any]) -> dict[str, Any]:
    """A field's type and values in an OpenAPI schema (a nullable one is anyOf [x, null])."""
    if "anyOf" in schema:
        (schema,) = [s for s in schema["anyOf"] if s.get("type") != "null"]
    keys = ("type", "minimum", "maximum", "enum", "pattern", "format")
    rule = {k: schema[k] for k in keys if k in schema}
    for bound in ("minimum", "maximum"):
        # FastAPI's OpenAPI models hold bounds as floats (2**63 - 1 is published as 2**63)
        if bound in rule and rule.get("type") == "integer":
            rule[bound] = float(rule[bound])
    if "const" in schema:  # a Literal of one value
        rule["enum"] = [schema["const"]]
    if "items" in schema:  # a list: its elements' type
        rule["items"] = {"type": schema["items"]["type"]}
    return rule


#: Request bodies and the landing table each one writes.
BODIES = {
    "UserCreate": USERS,
    "UserPatch": USERS,
    "SessionCreate": SESSIONS,
    "RecommendationRow": RECOMMENDATION_ROWS,
    "RecommendationBatch": RECOMMENDATION_ROWS,
    "RunToBegin": RUNS,
    "TitleCreate": TITLES,
    "TitlePatch": TITLES,
    "CreditCreate": CREDITS,
    "RetirementCreate": RETIRED_TITLES,
}


@pytest.mark.parametrize("body", BODIES)
def test_the_api_s_request_bodies_take_the_spec_s_rules(body):
    schemas = openapi()["components"]["schemas"]
    table = BODIES[body]
    fields = schemas[body]["properties"]
    extra_tables = {"SessionCreate": RATINGS}  # a session's rating, in the same body
    compared = 0
    for name, schema in fields.items():
        owner = next(
            (t for t in (table, extra_tables.get(body)) if t and name in t.column_names), None
        )
        if owner is None:
            assert name == "rows", f"{body}.{name} is not a column of {table.qualified_name}"
            continue
        compared += 1
        rule = the_rule(schema)
        if "pattern" in rule and not owner.column(name).pattern:
            rule.pop("pattern")  # free text: the API refuses NUL, as PostgreSQL's text does
        assert rule == json_schema_of(owner.column(name)), f"{body}.{name}"
    assert compared


def test_the_api_s_path_segments_take_the_spec_s_rules():
    segments = {"user_id": USERS.column("user_id"), "run_id": RUNS.column("run_id")}
    seen = set()
    for path, operations in openapi()["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in segments:
                    seen.add(parameter["name"])
                    expected = json_schema_of(segments[parameter["name"]])
                    assert the_rule(parameter["schema"]) == expected, (path, parameter["name"])
    assert seen == set(segments)


def test_a_new_title_s_body_has_every_column_but_its_credits_the_path_s():
    """TitleCreate writes a whole row of sim.titles; a credit's title and a retirement's are
    the path's (any title: the loaded catalogue's too), a simulated title's its pattern."""
    spec = openapi()
    schemas = spec["components"]["schemas"]
    assert set(schemas["TitleCreate"]["properties"]) == set(TITLES.column_names)
    assert set(schemas["TitlePatch"]["properties"]) == set(TITLES.column_names) - {"title_id"}
    assert set(schemas["CreditCreate"]["properties"]) == set(CREDITS.column_names) - {"title_id"}
    required = set(schemas["TitleCreate"]["required"])
    assert required == {c.name for c in TITLES.columns if not c.nullable}
    simulated = json_schema_of(TITLES.column("title_id"))
    for method in ("patch", "delete"):
        (segment,) = spec["paths"]["/v1/titles/{title_id}"][method]["parameters"]
        assert the_rule(segment["schema"]) == simulated, method
    credit = spec["paths"]["/v1/titles/{title_id}/credits/{person_id}"]["delete"]
    person = next(p for p in credit["parameters"] if p["name"] == "person_id")
    assert the_rule(person["schema"]) == json_schema_of(CREDITS.column("person_id"))


def test_a_rating_written_over_http_is_in_the_spec_s_range():
    """The rating of a session body is the spec's (it was once hard-coded in the schema)."""
    fields = openapi()["components"]["schemas"]["SessionCreate"]["properties"]
    assert the_rule(fields["rating"]) == json_schema_of(RATINGS.column("rating"))
    assert the_rule(fields["rated_at"]) == json_schema_of(RATINGS.column("rated_at"))
