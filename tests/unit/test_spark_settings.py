"""The engine setting, and the Spark settings recdb and dbt's profile both read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from recdb.core.errors import EngineError
from recdb.core.spark import SparkSettings, engine, on_spark

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_postgres_is_the_default_engine(monkeypatch):
    monkeypatch.delenv("RECDB_ENGINE", raising=False)
    assert engine() == "postgres" and not on_spark()
    monkeypatch.setenv("RECDB_ENGINE", " Spark ")
    assert engine() == "spark" and on_spark()


def test_an_unknown_engine_is_named_with_the_choices(monkeypatch):
    monkeypatch.setenv("RECDB_ENGINE", "oracle")
    with pytest.raises(EngineError, match=r"'oracle'.*postgres, spark"):
        engine()


def test_spark_keeps_its_files_in_the_home_unless_told_otherwise(tmp_path, monkeypatch):
    for name in ("MASTER", "WAREHOUSE", "METASTORE", "DRIVER_MEMORY"):
        monkeypatch.delenv(f"RECDB_SPARK_{name}", raising=False)
    settings = SparkSettings.from_environment(tmp_path)
    assert settings.master == "local[2]"
    assert settings.warehouse_dir == str(tmp_path / "spark" / "warehouse")
    assert settings.metastore_dir == tmp_path / "spark" / "metastore"
    monkeypatch.setenv("RECDB_SPARK_MASTER", "spark://head:7077")
    monkeypatch.setenv("RECDB_SPARK_WAREHOUSE", "hdfs://head/warehouse")
    settings = SparkSettings.from_environment(tmp_path)
    assert settings.configuration()["spark.master"] == "spark://head:7077"
    assert settings.configuration()["spark.sql.warehouse.dir"] == "hdfs://head/warehouse"


def test_the_profile_builds_the_session_recdb_builds(tmp_path):
    """Plain `dbt --target spark` and recdb start the same session: every parameter of
    the profile's spark output is one of recdb's, from the variables recdb sets."""
    profile = yaml.safe_load((PROJECT_DIR / "profiles.yml.example").read_text())
    output = profile["recdb"]["outputs"]["spark"]
    assert output["type"] == "spark" and output["method"] == "session"
    settings = SparkSettings.from_environment(tmp_path)
    configuration = settings.configuration()
    variables = settings.dbt_environment()
    for key, value in output["server_side_parameters"].items():
        assert key in configuration, key
        for variable in re.findall(r"env_var\('(\w+)'", str(value)):
            assert variable in variables, (key, variable)
    assert set(variables) <= set(re.findall(r"env_var\('(\w+)'", str(output)))
