"""The dbt project itself: SQL style, and documentation of every node and column."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from recdb.warehouse.transform import dbt_environment
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration


def test_sqlfluff_lints_every_model_clean(built_warehouse):
    env = {**os.environ, **dbt_environment(built_warehouse.settings("owner"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sqlfluff",
            "lint",
            "models",
            "data-tests",
            "analyses",
            "--format",
            "json",
        ],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    violations = [
        f"{linted['filepath']}:{violation['start_line_no']} "
        f"{violation['code']} {violation['description']}"
        for linted in json.loads(result.stdout)
        for violation in linted["violations"]
    ]
    assert not violations, "\n".join(violations)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def docs(built_warehouse):
    built_warehouse.dbt("docs", "generate")
    target = PROJECT_DIR / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    return manifest, catalog


def test_every_model_seed_source_and_macro_is_described(docs):
    manifest, _ = docs
    undescribed = [
        unique_id
        for unique_id, node in {
            **manifest["nodes"],
            **manifest["sources"],
            **manifest["exposures"],
        }.items()
        if node["resource_type"] in {"model", "seed", "source", "snapshot", "analysis", "exposure"}
        and node["package_name"] == "recdb"
        and not node.get("description", "").strip()
    ]
    undescribed += [
        unique_id
        for unique_id, macro in manifest["macros"].items()
        if macro["package_name"] == "recdb" and not macro.get("description", "").strip()
    ]
    assert undescribed == []


def test_every_column_in_the_database_is_described(docs):
    manifest, catalog = docs
    missing = []
    for unique_id, built in {**catalog["nodes"], **catalog["sources"]}.items():
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if node is None or node["package_name"] != "recdb":
            continue
        described = {
            name.lower()
            for name, column in node["columns"].items()
            if column.get("description", "").strip()
        }
        missing += [f"{unique_id}.{c}" for c in built["columns"] if c.lower() not in described]
    assert missing == []


#: What each kind of constraint is as a data test (Parquet on Spark enforces none).
CONSTRAINT_TESTS = {
    "not_null": {"not_null"},
    "unique": {"unique"},
    "primary_key": {"unique", "not_null"},
    "foreign_key": {"relationships"},
}
CHECK_TESTS = {"accepted_values", "accepted_range", "expression_is_true"}


def test_the_catalogue_marts_rules_hold_on_spark_as_data_tests(docs):
    """Each constraint of a catalogue mart's contract (enforced by PostgreSQL) is also a
    data test, which holds it on Spark, where Parquet tables enforce none."""
    manifest, _ = docs
    tests: dict[tuple, set[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("test_metadata"):
            kwargs = node["test_metadata"]["kwargs"]
            column = node.get("column_name") or tuple(kwargs.get("combination_of_columns", ()))
            key = (node.get("attached_node"), column)
            tests.setdefault(key, set()).add(node["test_metadata"]["name"])
    unheld = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model" or node["fqn"][1:3] != ["marts", "catalog"]:
            continue
        for name, column in node["columns"].items():
            for constraint in column.get("constraints", []):
                needed = CONSTRAINT_TESTS.get(constraint["type"], CHECK_TESTS)
                found = tests.get((unique_id, name), set())
                held = found & needed if constraint["type"] == "check" else needed <= found
                if not held:
                    unheld.append(f"{node['name']}.{name}: {constraint['type']}")
        for constraint in node.get("constraints", []):
            if constraint["type"] == "primary_key":
                found = tests.get((unique_id, tuple(constraint["columns"])), set())
                if "unique_combination_of_columns" not in found:
                    unheld.append(f"{node['name']}: primary key {constraint['columns']}")
    assert not unheld
