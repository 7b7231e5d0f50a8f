"""The catalogue built on a real Spark cluster: a standalone master and two workers on
localhost, each a process of its own from the pyspark distribution, reached through the
settings a user sets for a remote cluster (RECDB_SPARK_MASTER, RECDB_SPARK_WAREHOUSE).

Times `recdb --engine spark load` and `build` on the cluster against the same commands
in local mode (local[2]), measured in the same run, and checks with the master that both
workers ran the build's executors.

    python bench/spark_cluster.py [--from DIR] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from throwaway import catalogue_dir, timed

PROJECT_DIR = Path(__file__).resolve().parent.parent


def spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.5)
    raise RuntimeError(f"nothing listens on port {port} after {seconds:.0f} s")


def master_state(ui_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=10) as reply:
        return json.load(reply)


@contextlib.contextmanager
def standalone_cluster(folder: Path, workers: int = 2) -> Iterator[tuple[str, int]]:
    """A master and ``workers`` workers (1 core, 1.5 GB each); yields the master's URL and
    its web UI port."""
    spark_class = str(spark_home() / "bin" / "spark-class")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(folder)}
    port, ui_port = free_port(), free_port()
    processes = []
    logs = []
    try:
        log = open(folder / "master.log", "w")  # noqa: SIM115 - closed below
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(port), "--webui-port", str(ui_port)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        wait_for_port(port)
        wait_for_port(ui_port)
        url = f"spark://127.0.0.1:{port}"
        for number in range(workers):
            work_dir = folder / f"worker-{number}"
            work_dir.mkdir()
            log = open(folder / f"worker-{number}.log", "w")  # noqa: SIM115 - closed below
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host",
                     "127.0.0.1", "--cores", "1", "--memory", "1536m", "--work-dir",
                     str(work_dir), "--webui-port", str(free_port())],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while len(master_state(ui_port).get("workers", [])) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not register: see {folder}")
            time.sleep(0.5)
        yield url, ui_port
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        for log in logs:
            log.close()


def recdb(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "recdb.cli", "--engine", "spark", *args],
        env=env, cwd=PROJECT_DIR, check=True, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


def steps(env: dict[str, str], source: Path | None) -> dict[str, float]:
    load_args = ["load", *(["--from", str(source)] if source else [])]
    return {
        "load": timed(lambda: recdb(env, *load_args)),
        "build": timed(lambda: recdb(env, "build")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=catalogue_dir())
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="recdb-spark-cluster-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RECDB_", "PG", "DBT_"))}
    try:
        local_env = {**base, "RECDB_HOME": str(folder / "local" / "home")}
        local = steps(local_env, options.source)
        with standalone_cluster(folder) as (url, ui_port):
            cluster_env = {
                **base,
                "RECDB_HOME": str(folder / "cluster" / "home"),
                "RECDB_SPARK_MASTER": url,
                # storage every worker reaches: one machine's disk here, HDFS or S3 elsewhere
                "RECDB_SPARK_WAREHOUSE": str(folder / "cluster" / "warehouse"),
                "SPARK_LOCAL_IP": "127.0.0.1",
            }
            cluster = steps(cluster_env, options.source)
            state = master_state(ui_port)
        apps = state.get("completedapps", []) + state.get("activeapps", [])
        print(f"catalogue: {options.source or 'the project’s own'}")
        print(f"cluster: {url}, {len(state['workers'])} workers, {len(apps)} applications ran")
        for app in apps:
            seconds = app.get("duration", 0) / 1000
            print(f"  {app['name']}: {app.get('cores', '?')} cores, {seconds:.1f} s")
        print(f"{'step':<8}{'local[2] (s)':>14}{'cluster (s)':>14}{'cluster/local':>15}")
        for step, seconds in local.items():
            ratio = cluster[step] / seconds
            print(f"{step:<8}{seconds:>14.1f}{cluster[step]:>14.1f}{ratio:>14.2f}x")
    finally:
        if options.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
