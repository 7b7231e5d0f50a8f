"""The one place that knows how to reach Spark, for the warehouse on Apache Spark.

recdb runs on PostgreSQL by default; with ``RECDB_ENGINE=spark`` (or ``recdb --engine
spark``) its dbt project and its readers run on Spark through dbt-spark's ``session``
method: recdb starts the SparkSession here, and dbt, run in the same process, reuses it.
The same settings fill the ``spark`` output of ``profiles.yml.example``, so plain
``dbt --target spark`` builds the same warehouse.

Settings (environment variables, every one optional):

* ``RECDB_SPARK_MASTER``: where the work runs: ``local[2]`` (default, this process),
  ``spark://host:7077`` (a standalone cluster), ``yarn``, ``k8s://…``;
* ``RECDB_SPARK_WAREHOUSE``: where tables' files live (default ``$RECDB_HOME/spark/
  warehouse``; a cluster needs storage every worker reaches: HDFS, S3, a shared mount);
* ``RECDB_SPARK_METASTORE``: the folder of the Derby metastore that names the tables
  (default ``$RECDB_HOME/spark/metastore``); Derby lets one Spark process in at a time;
* ``RECDB_SPARK_DRIVER_MEMORY``: the driver's heap (default ``1500m``).

pyspark is an optional dependency (``pip install -e '.[spark]'``): it is imported only
when a session is wanted, and its absence is a :class:`~recdb.core.errors.EngineError`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recdb.core.errors import EngineError
from recdb.core.settings import ensure_home, ensure_private_dir, recdb_home, write_private_text

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

ENGINES = ("postgres", "spark")
DEFAULT_ENGINE = "postgres"
DEFAULT_MASTER = "local[2]"
DEFAULT_DRIVER_MEMORY = "1500m"
#: Inside recdb's home: the Spark warehouse's files and its metastore.
SPARK_FOLDER = "spark"
APP_NAME = "recdb"
#: The JVM's logging: errors only, on stderr (Spark's default prints its warnings about
#: the host name, native libraries and the metastore's first use at every start).
LOG_CONFIG_FILE = "log4j2.properties"
LOG_CONFIG = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def engine() -> str:
    """The engine the warehouse runs on: ``$RECDB_ENGINE``, PostgreSQL by default."""
    chosen = os.environ.get("RECDB_ENGINE", "").strip().lower() or DEFAULT_ENGINE
    if chosen not in ENGINES:
        raise EngineError(
            f"RECDB_ENGINE={chosen!r} is not an engine recdb runs on: choose one of "
            f"{', '.join(ENGINES)} (or unset it for {DEFAULT_ENGINE})"
        )
    return chosen


def on_spark() -> bool:
    """Whether the warehouse runs on Spark (:func:`engine` is ``spark``)."""
    return engine() == "spark"


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs and keeps the warehouse: the session's configuration."""

    master: str
    warehouse_dir: str
    metastore_dir: Path
    driver_memory: str

    @classmethod
    def from_environment(cls, home: Path | None = None) -> SparkSettings:
        """The settings of ``RECDB_SPARK_*``, with defaults inside recdb's home."""
        spark_home = (home or recdb_home()) / SPARK_FOLDER
        env = os.environ
        return cls(
            master=env.get("RECDB_SPARK_MASTER") or DEFAULT_MASTER,
            warehouse_dir=env.get("RECDB_SPARK_WAREHOUSE") or str(spark_home / "warehouse"),
            metastore_dir=Path(env.get("RECDB_SPARK_METASTORE") or spark_home / "metastore"),
            driver_memory=env.get("RECDB_SPARK_DRIVER_MEMORY") or DEFAULT_DRIVER_MEMORY,
        )

    def configuration(self) -> dict[str, str]:
        """The SparkSession's configuration (profiles.yml.example's server_side_parameters
        for the spark output are the same, from the same variables)."""
        return {
            "spark.master": self.master,
            "spark.app.name": APP_NAME,
            "spark.driver.memory": self.driver_memory,
            "spark.sql.warehouse.dir": self.warehouse_dir,
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={self.metastore_dir / 'db'};create=true"
            ),
            # Derby's log, and its files, beside the metastore rather than in the working
            # directory; dbt-spark also sets these two, they are here for the same session.
            "spark.driver.extraJavaOptions": (
                f"-Dderby.system.home={self.metastore_dir} "
                f"-Dderby.stream.error.file={self.metastore_dir / 'derby.log'} "
                f"-Dlog4j2.configurationFile=file:{self.metastore_dir / LOG_CONFIG_FILE} "
                # a driver out of heap ends (the command fails) instead of hanging half-alive
                "-XX:+ExitOnOutOfMemoryError"
            ),
            "spark.sql.ansi.enabled": "false",
            # timestamps are instants; shown and compared in UTC, as the warehouse's are
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            # Small tables are the rule (a few thousand titles): two tasks a shuffle, not 200.
            "spark.sql.shuffle.partitions": "4",
            "spark.sql.sources.partitionOverwriteMode": "dynamic",
        }

    def dbt_environment(self) -> dict[str, str]:
        """The variables the spark output of the profile reads."""
        return {
            "RECDB_SPARK_MASTER": self.master,
            "RECDB_SPARK_WAREHOUSE": self.warehouse_dir,
            "RECDB_SPARK_METASTORE": str(self.metastore_dir),
            "RECDB_SPARK_DRIVER_MEMORY": self.driver_memory,
        }


def require_pyspark() -> None:
    """Raise EngineError unless pyspark and dbt-spark are installed."""
    missing = [m for m in ("pyspark", "dbt.adapters.spark") if not _importable(m)]
    if missing:
        raise EngineError(
            f"the spark engine needs {' and '.join(missing)}: install them with "
            "`pip install -e '.[spark]'` (Java 17 or later must be on the PATH)"
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def session(settings: SparkSettings | None = None) -> SparkSession:
    """The process's SparkSession for the warehouse, started at the first call.

    dbt-spark's session method calls getOrCreate too, so the dbt that recdb runs in
    this process builds into the same session, warehouse and metastore.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings = settings or SparkSettings.from_environment()
    ensure_home()  # private before the warehouse and metastore folders are made in it
    if "://" not in settings.warehouse_dir:
        Path(settings.warehouse_dir).mkdir(parents=True, exist_ok=True)
    ensure_private_dir(settings.metastore_dir)
    write_private_text(settings.metastore_dir / LOG_CONFIG_FILE, LOG_CONFIG)
    logging.getLogger("py4j").setLevel(logging.WARNING)  # a line per closed connection
    # pyspark logs each failed query with the JVM's stack; the error is raised anyway
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    logger.info("starting Spark (master %s)", settings.master)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in settings.configuration().items():
        builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            # pyspark warns of pandas >= 3; recdb moves data through Arrow only
            warnings.filterwarnings("ignore", "PySpark does not yet", FutureWarning)
            spark = builder.getOrCreate()
    except Exception as error:  # the JVM's failure to start, as py4j words it
        raise EngineError(
            f"Spark did not start (master {settings.master}): {error}; check that Java 17 "
            "or later is installed and RECDB_SPARK_MASTER names a reachable master"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def replace_table(spark: SparkSession, schema: str, name: str, table: pa.Table) -> None:
    """Replace ``schema.name`` by the rows of an Arrow table, as Parquet (Arrow all the way:
    no pandas between)."""
    frame = spark.createDataFrame(table)
    frame.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.{name}")


def read_table(spark: SparkSession, query: str) -> pa.Table:
    """The rows of a Spark SQL query as an Arrow table."""
    return spark.sql(query).toArrow()


@contextlib.contextmanager
def stopped_at_exit(settings: SparkSettings | None = None) -> Iterator[SparkSession]:
    """:func:`session` for the block, stopped afterwards (the metastore's lock freed)."""
    spark = session(settings)
    try:
        yield spark
    finally:
        spark.stop()
