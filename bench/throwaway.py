"""A throwaway embedded warehouse for benchmarks: started, loaded, built, and removed."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from recdb.catalog.load import load_catalog
from recdb.warehouse.build import build
from recdb.warehouse.server import EmbeddedServer, free_port

PROJECT_DIR = Path(__file__).resolve().parent.parent
REAL_CATALOG_DIR = PROJECT_DIR.parent / "shared" / "data" / "netflix"


def timed(action: Callable[[], object]) -> float:
    """Wall seconds one call takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def catalogue_dir() -> Path | None:
    """The real catalogue when this machine has it, else None (the project's own)."""
    return REAL_CATALOG_DIR if (REAL_CATALOG_DIR / "raw_titles.csv").exists() else None


#: Runs a script (a path ending .py) or a module (as ``python -m`` would) and prints its
#: peak resident memory (KiB) last.
PEAK_MEMORY = """\
import atexit, os, resource, runpy, sys
atexit.register(lambda: print(
    f"peak-rss-kib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr))
sys.argv = sys.argv[1:]
if sys.argv[0].endswith(".py"):
    sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def measured(
    module: str, *args: str, env: dict[str, str] | None = None
) -> tuple[float, str, float]:
    """``python -m module args`` (or ``python module args`` for a path ending .py) as a
    subprocess: (wall seconds, stdout, peak memory GiB); exits with its output when it
    fails."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY, module, *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"{module} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    peak = re.findall(r"peak-rss-kib (\d+)", done.stderr)
    return seconds, done.stdout, int(peak[-1]) / 2**20 if peak else float("nan")


def recdb_command(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """`recdb ARGS` as a subprocess: wall seconds and its stdout; exits with its output
    when it fails."""
    seconds, stdout, _ = measured("recdb.cli", *args, env=env)
    return seconds, stdout


@contextlib.contextmanager
def throwaway_warehouse(*, built: bool = True, source_dir: Path | None = None) -> Iterator[Path]:
    """A running server in a temporary RECDB_HOME (set in the environment), catalogue built:
    ``source_dir``'s, else the real one when present, else the project's own."""
    work = Path(tempfile.mkdtemp(prefix="recdb-bench-"))
    for key in [k for k in os.environ if k.startswith("PG")]:
        del os.environ[key]  # the embedded server, not one the shell points at
    os.environ["RECDB_PORT"] = str(free_port())
    os.environ["RECDB_HOME"] = str(work / "home")
    os.environ["DBT_TARGET_PATH"] = str(work / "target")
    server = EmbeddedServer(work / "home")
    server.start()
    try:
        if built:
            load_catalog(source_dir or catalogue_dir())
            build(["--quiet"])
        yield work
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
