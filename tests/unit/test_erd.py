"""The marts' ERD: read from a manifest, drawn by Graphviz, and never stale."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from recdb.docs import erd
from tests.conftest import PROJECT_DIR


def model(name, area, columns, constraints=(), materialized="table"):
    return {
        "resource_type": "model",
        "package_name": "recdb",
        "name": name,
        "fqn": ["recdb", "marts", area, name] if area else ["recdb", "staging", name],
        "config": {"materialized": materialized},
        "constraints": list(constraints),
        "columns": {
            column: {"name": column, "data_type": data_type, "constraints": list(checks)}
            for column, data_type, checks in columns
        },
    }


def relationships_test(attached, column, to, field):
    return {
        "resource_type": "test",
        "package_name": "recdb",
        "attached_node": attached,
        "column_name": column,
        "test_metadata": {
            "name": "relationships",
            "kwargs": {"column_name": column, "to": to, "field": field},
        },
    }


#: What dbt parses (dbt_project.yml's paths), and the committed ERD.
DBT_PROJECT_FILES = (
    "dbt_project.yml",
    "profiles.yml.example",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "analyses",
    "data-tests",
    "docs",
)
PK = {"type": "primary_key"}
NOT_NULL = {"type": "not_null"}

MANIFEST = {
    "nodes": {
        "model.recdb.dim_titles": model(
            "dim_titles", "catalog", [("title_id", "text", [NOT_NULL, PK]), ("name", "text", [])]
        ),
        "model.recdb.dim_genres": model("dim_genres", "catalog", [("genre_id", "text", [PK])]),
        "model.recdb.bridge": model(
            "bridge",
            "catalog",
            [
                (
                    "title_id",
                    "text",
                    [NOT_NULL, {"type": "foreign_key", "to": "ref('dim_titles')"}],
                ),
                ("genre_id", "text", [NOT_NULL]),
            ],
            constraints=[
                {"type": "primary_key", "columns": ["title_id", "genre_id"]},
                {
                    "type": "foreign_key",
                    "columns": ["genre_id"],
                    "to": 'ref("dim_genres")',
                    "to_columns": ["genre_id"],
                },
            ],
        ),
        "model.recdb.fact": model(
            "fact",
            "engagement",
            [("fact_id", "bigint", [PK]), ("title_id", "text", []), ("country", "text", [])],
            materialized="incremental",
        ),
        "model.recdb.feed": model(
            "feed", "engagement", [("user_id", "bigint", [])], materialized="ephemeral"
        ),
        "model.recdb.stg_titles": model("stg_titles", None, [("title_id", "text", [])]),
        "test.recdb.rel_bridge": relationships_test(
            "model.recdb.bridge", "title_id", "ref('dim_titles')", "title_id"
        ),
        "test.recdb.rel_fact": relationships_test(
            "model.recdb.fact", "title_id", "ref('dim_titles')", "title_id"
        ),
        "test.recdb.rel_seed": relationships_test(
            "model.recdb.fact", "country", "ref('countries')", "country_code"
        ),
        "test.recdb.rel_staging": relationships_test(
            "model.recdb.stg_titles", "title_id", "ref('dim_titles')", "title_id"
        ),
    }
}


def test_read_schema_takes_mart_tables_keys_and_relationships():
    schema = erd.read_schema(MANIFEST)
    # Ephemeral models and other layers are no tables of the marts.
    assert sorted(schema.tables) == ["bridge", "dim_genres", "dim_titles", "fact"]
    bridge = {c.name: c for c in schema.tables["bridge"].columns}
    assert bridge["title_id"].is_primary_key and bridge["genre_id"].is_primary_key
    assert bridge["title_id"].is_foreign_key and bridge["genre_id"].is_foreign_key
    fact = {c.name: c for c in schema.tables["fact"].columns}
    assert fact["title_id"].is_foreign_key  # from the relationships test alone
    assert not fact["country"].is_foreign_key  # references a seed: not drawn
    assert not fact["title_id"].is_not_null and fact["fact_id"].is_not_null
    held = [
        (r.child, r.child_column, r.parent, r.parent_column, r.enforced, r.tested)
        for r in schema.relationships
    ]
    assert held == [
        ("bridge", "genre_id", "dim_genres", "genre_id", True, False),
        ("bridge", "title_id", "dim_titles", "title_id", True, True),
        ("fact", "title_id", "dim_titles", "title_id", False, True),
    ]


def test_dot_draws_foreign_keys_solid_and_tested_references_dashed():
    source = erd.to_dot(erd.read_schema(MANIFEST))
    assert "bridge:title_id__out:e -> dim_titles:title_id:w [style=solid];" in source
    assert "fact:title_id__out:e -> dim_titles:title_id:w [style=dashed];" in source
    assert source == erd.to_dot(erd.read_schema(MANIFEST))  # deterministic


def test_the_svg_records_the_source_it_was_drawn_from():
    source = erd.to_dot(erd.read_schema(MANIFEST))
    svg = erd.render_svg(source)
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert erd.recorded_digest(svg) == erd.source_digest(source)
    for name in ("dim_titles", "bridge", "fact", "title_id"):
        assert f">{name}<" in svg


def test_graphviz_missing_is_an_error_that_says_what_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(erd.ErdError, match="apt-get install graphviz"):
        erd.render_svg("digraph {}")


@pytest.fixture(scope="module")
def project_manifest():
    return erd.parse_manifest(PROJECT_DIR)


def test_the_committed_erd_is_the_one_the_project_generates(project_manifest):
    """Models, contracts or relationships tests changed: run `recdb docs --erd` and commit."""
    source = erd.to_dot(erd.read_schema(project_manifest))
    assert (PROJECT_DIR / erd.ERD_DOT).read_text(encoding="utf-8") == source
    committed_svg = (PROJECT_DIR / erd.ERD_SVG).read_text(encoding="utf-8")
    assert erd.recorded_digest(committed_svg) == erd.source_digest(source)


def test_the_erd_shows_every_mart_and_the_fact_grain(project_manifest):
    schema = erd.read_schema(project_manifest)
    assert {"fact_sessions", "dim_users", "dim_titles", "dim_credits"} <= set(schema.tables)
    keys = {c.name for c in schema.tables["fact_sessions"].columns if c.is_primary_key}
    assert keys == {"session_id"}
    references = {(r.child, r.child_column, r.parent) for r in schema.relationships}
    assert ("fact_sessions", "user_id", "dim_users") in references
    assert ("fact_sessions", "title_id", "dim_titles") in references


def test_recdb_docs_erd_regenerates_the_committed_files(tmp_path):
    """The command writes exactly the committed files (run on a copy of the project)."""
    copy = tmp_path / "project"
    for entry in DBT_PROJECT_FILES:
        source = PROJECT_DIR / entry
        if source.is_dir():
            shutil.copytree(source, copy / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (copy / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy / entry)
    (copy / erd.ERD_DOT).unlink()
    (copy / erd.ERD_SVG).unlink()
    result = subprocess.run(
        [sys.executable, "-m", "recdb.cli", "docs", "--erd"],
        cwd=copy,
        env={**os.environ, "RECDB_PROJECT_DIR": str(copy)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"wrote .*docs/erd\.svg", result.stdout)
    dot = (copy / erd.ERD_DOT).read_text(encoding="utf-8")
    assert dot == (PROJECT_DIR / erd.ERD_DOT).read_text(encoding="utf-8")
    assert erd.recorded_digest((copy / erd.ERD_SVG).read_text(encoding="utf-8")) == (
        erd.source_digest(dot)
    )


@pytest.mark.parametrize(
    ("expression", "name"),
    [
        ("ref('dim_titles')", "dim_titles"),
        ('ref( "dim_titles" )', "dim_titles"),
        ('"recdb"."marts"."dim_titles"', "dim_titles"),  # as a compiled manifest holds it
        ("source('sim', 'users')", None),
        (None, None),
    ],
)
def test_references_are_read_as_written_and_as_compiled(expression, name):
    assert erd._ref_name(expression) == name
