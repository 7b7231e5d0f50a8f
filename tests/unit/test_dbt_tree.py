"""The dbt project's tree tells the data flow: each layer in its folder, each property once.

staging/<source>/ holds ``stg_<source>__<entity>s``; intermediate/<area>/ the ``int_``
models; marts/<area>/ the tables analysts read; each folder one ``_<dir>__models.yml``.
Singular data tests live where dbt looks for them, outside the pytest tree.
"""

from __future__ import annotations

import collections
import tomllib
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
MODELS = PROJECT_DIR / "models"
#: The YAML keys that describe a node, and the node's kind.
DESCRIBED = ("models", "sources", "seeds", "snapshots", "macros", "data_tests", "exposures")


def dbt_project() -> dict:
    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))


def property_files() -> list[Path]:
    project = dbt_project()
    folders = ["model-paths", "seed-paths", "macro-paths", "snapshot-paths", "test-paths"]
    return sorted(
        path
        for key in folders
        for folder in project[key]
        for path in (PROJECT_DIR / folder).rglob("*.yml")
    )


def test_each_node_is_described_once():
    """dbt keeps one of two descriptions of the same node, silently."""
    seen = collections.defaultdict(list)
    for path in property_files():
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for kind in DESCRIBED:
            for node in document.get(kind, []):
                seen[(kind, node["name"])].append(path.relative_to(PROJECT_DIR))
    twice = {node: paths for node, paths in seen.items() if len(paths) > 1}
    assert not twice


def test_every_model_sits_in_its_layer():
    layer_of = {"stg_": "staging", "int_": "intermediate"}
    for sql in MODELS.rglob("*.sql"):
        layer = sql.relative_to(MODELS).parts[0]
        prefix = sql.stem[:4]
        expected = layer_of.get(prefix, "marts")
        assert layer == expected, f"{sql.relative_to(PROJECT_DIR)} belongs in models/{expected}/"
        if layer == "staging":
            source = sql.parent.name
            assert sql.stem.startswith(f"stg_{source}__"), sql.relative_to(PROJECT_DIR)
        assert len(sql.relative_to(MODELS).parts) == 3, (
            f"{sql.relative_to(PROJECT_DIR)}: models sit in <layer>/<source or area>/"
        )


def test_each_folder_of_models_has_its_properties_file():
    for folder in {sql.parent for sql in MODELS.rglob("*.sql")}:
        area = folder.name
        prefix = "int_" if folder.parent.name == "intermediate" else ""
        expected = folder / f"_{prefix}{area}__models.yml"
        assert expected.exists(), f"{expected.relative_to(PROJECT_DIR)} is missing"
        described = {
            m["name"] for m in yaml.safe_load(expected.read_text(encoding="utf-8"))["models"]
        }
        assert described == {sql.stem for sql in folder.glob("*.sql")}, folder


def test_singular_data_tests_live_outside_the_pytest_tree():
    pytest_paths = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    testpaths = pytest_paths["tool"]["pytest"]["ini_options"]["testpaths"]
    for dbt_tests in dbt_project()["test-paths"]:
        for pytest_tests in testpaths:
            assert (
                not (PROJECT_DIR / dbt_tests)
                .resolve()
                .is_relative_to((PROJECT_DIR / pytest_tests).resolve())
            ), f"dbt's {dbt_tests} is inside pytest's {pytest_tests}"


#: The longest column comment Spark's metastore keeps (Derby's VARCHAR(256)): a longer
#: one made it retry for 20 s per build, then drop it.
METASTORE_COMMENT_BYTES = 256


def test_every_column_description_fits_the_spark_metastore():
    too_long = []
    for path in PROJECT_DIR.glob("models/**/_*__models.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            for column in model.get("columns", []):
                description = " ".join(column.get("description", "").split())
                if len(description.encode()) > METASTORE_COMMENT_BYTES:
                    too_long.append(f"{model['name']}.{column['name']}: {len(description)}")
    assert not too_long
