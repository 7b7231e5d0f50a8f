"""Running dbt with the project's profile, against the embedded server or yours."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from recdb.core.connection import ConnectionSettings, connection_settings
from recdb.core.errors import DbtError
from recdb.core.settings import ensure_home, project_dir, write_private_text
from recdb.core.spark import SparkSettings, on_spark, session
from recdb.warehouse.roles import prepare_warehouse
from recdb.warehouse.spark_landing import prepare_spark_warehouse

logger = logging.getLogger(__name__)

#: dbt's folder of artefacts on Spark: one of its own, as dbt's partial parse of one
#: engine's manifest is not the other's.
SPARK_TARGET_PATH = ("--target-path", "target/spark")


def write_profile(home: Path | None = None) -> Path:
    """Copy ``profiles.yml.example`` into ``home`` (default: recdb's home) and return that folder.

    The example reads every value from the environment, so the same file
    serves the embedded server and any other. Like everything in the home,
    the copy is readable by its owner only.
    """
    profiles_dir = ensure_home(home)
    example = (project_dir() / "profiles.yml.example").read_text(encoding="utf-8")
    write_private_text(profiles_dir / "profiles.yml", example)
    return profiles_dir


def dbt_environment(settings: ConnectionSettings | None = None) -> dict[str, str]:
    """The variables dbt's profile reads, for the owner's connection."""
    owner = settings or connection_settings("owner")
    return {**owner.libpq_env(), **_dbt_files_environment()}


def _dbt_files_environment() -> dict[str, str]:
    """Where dbt finds the profile and the project, on either engine."""
    return {
        "DBT_PROFILES_DIR": str(write_profile()),
        "DBT_PROJECT_DIR": str(project_dir()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (dbt reads its profile from them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_dbt(
    args: Sequence[str],
    settings: ConnectionSettings | None = None,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> None:
    """Run one dbt command in this process, as the owner; raise DbtError if it fails.

    The landing schemas dbt reads as sources are created first if missing.
    ``callbacks`` receive each of dbt's events (``EventMsg``), e.g. to collect warnings.
    """
    if on_spark():
        own_target = () if "--target-path" in args else SPARK_TARGET_PATH
        _invoke_dbt([*args, "--target", "spark", *own_target], spark_dbt_environment(), callbacks)
        return
    owner = settings or connection_settings("owner")
    with owner.connect(autocommit=True) as conn:
        prepare_warehouse(conn)
    _invoke_dbt(args, dbt_environment(owner), callbacks)


def spark_dbt_environment() -> dict[str, str]:
    """The variables the profile's spark output reads; the SparkSession started here,
    with the same settings, for dbt-spark's session method to reuse."""
    spark_settings = SparkSettings.from_environment()
    prepare_spark_warehouse(session(spark_settings))
    return {**spark_settings.dbt_environment(), **_dbt_files_environment()}


def _invoke_dbt(
    args: Sequence[str], env: dict[str, str], callbacks: Sequence[Callable[[Any], None]]
) -> None:
    from dbt.cli.main import dbtRunner

    with environment(env):
        logger.info("dbt %s", " ".join(args))
        result = dbtRunner(callbacks=list(callbacks)).invoke(
            [
                *args,
                "--project-dir",
                env["DBT_PROJECT_DIR"],
                "--profiles-dir",
                env["DBT_PROFILES_DIR"],
            ]
        )
    if not result.success:
        detail = f": {result.exception}" if result.exception else " (see dbt's output above)"
        raise DbtError(f"dbt {' '.join(args)} failed{detail}")
