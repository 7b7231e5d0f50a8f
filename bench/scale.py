"""Benchmark: the size ladder, from a million sessions to a hundred million on one machine.

    python bench/scale.py [--sessions 1M,10M,30M,100M] [--out scale.json]
                          [--chart docs/scale.svg] [--duration 10] [--connections 8]
    python bench/scale.py --chart-only --out scale.json --chart docs/scale.svg

For each size, in a throwaway embedded warehouse of its own (the real catalogue when
../shared/data/netflix has it, else the project's own), about ten sessions per user:

* ``simulate``: `recdb simulate --users sessions/10`, generation and persistence;
* ``full build``: `recdb build --all --full-refresh`, every model from the landing tables;
* ``incremental``: `recdb simulate` of 1% more users (about 1% more sessions), 0.1% of the
  sessions deleted through python_api, then `recdb build`;
* ``recommend``: `recdb recommend` (the default model) end to end, against the reference
  measured in the same run: implicit's ALS fit and batch recommend on the same matrix
  (bench/recommend.py's);
* ``build after run``: `recdb build`, taking the run into marts.fact_recommendations;
* ``evaluate``: `recdb evaluate` (its default sample of users);
* ``queries``: the analysts' example queries (analyses/*.sql and the README's) as
  recdb_analyst, each the median of three runs, the slowest shown;
* ``web API``: `recdb serve --workers 2` and wrk on `GET /v1/users/{id}/recommendations`
  (random users of the whole population), after a warm-up.

Every command runs as a subprocess; its peak resident memory is its own (getrusage, with
any children), the database's is the peak of its processes' private resident memory
plus the largest resident part of its shared memory (counted once), sampled twice a
second. Disk is the warehouse's data folder at its largest step. Each size's figures are appended to
--out as they come (a size already there is replaced), and the table printed at the end
has the growth exponent between sizes: log(time ratio) / log(size ratio), 1.0 linear.
--chart draws seconds per step against sessions, log-log. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from incremental_build import slowest_nodes  # noqa: E402
from throwaway import PROJECT_DIR, catalogue_dir, measured, throwaway_warehouse  # noqa: E402
from web_api_load import ensure_wrk, run_wrk, start_server, users_lua  # noqa: E402

import python_api  # noqa: E402
from recdb.core.connection import connection_settings  # noqa: E402

SESSIONS_PER_USER = 10
GOALS = {
    "peak_gib": 12.0,
    "disk_gib": 60.0,
    "exponent": 1.1,
    "incremental_share": 0.05,
    "recommend_ratio": 1.3,
    "query_seconds": 2.0,
    "api_p99_ms": 50.0,
    "api_rps": 1000.0,
}
#: Steps timed at each size, in the order they run (and the chart's lines).
STEPS = ("simulate", "full build", "incremental", "recommend", "build after run", "evaluate")
ANALYSES_DIR = PROJECT_DIR / "analyses"


def parse_size(text: str) -> int:
    """'1M' -> 1_000_000, '300k' -> 300_000, '2500' -> 2500."""
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


class DatabaseMemory:
    """Samples the embedded server's memory (each process's private memory, shared once)."""

    def __init__(self, pgdata: Path, interval: float = 0.5) -> None:
        self.pgdata = pgdata
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _processes(self) -> list[int]:
        postmaster = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        return [postmaster, *map(int, children)]

    @staticmethod
    def _resident_kib(pid: int) -> tuple[int, int]:
        """(private, shared) resident KiB of a process, from counters the kernel keeps:
        smaps_rollup's PSS walks every page table, 0.4 s a sample once the shared
        buffers hold gigabytes, a core's worth of the build it measures."""
        fields = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("RssAnon", "RssShmem"):
                    fields[name] = int(value.split()[0])
        return fields.get("RssAnon", 0), fields.get("RssShmem", 0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(OSError, ValueError):
                resident = [self._resident_kib(pid) for pid in self._processes()]
                # each process's private memory, and the shared buffers once
                total = sum(anon for anon, _ in resident) + max(shm for _, shm in resident)
                self.peak_kib = max(self.peak_kib, total)

    @contextlib.contextmanager
    def peak(self) -> Iterator[dict[str, float]]:
        """The peak (GiB) while the block runs, in the dict yielded, once it ends."""
        self.peak_kib = 0
        found: dict[str, float] = {}
        try:
            yield found
        finally:
            time.sleep(self.interval * 1.5)
            found["db_gib"] = self.peak_kib / 2**20

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def folder_gib(path: Path) -> float:
    """Bytes under ``path``, in GiB."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total / 2**30


class Rung:
    """One size of the ladder: runs its steps and keeps the figures."""

    def __init__(self, sessions: int, work: Path, memory: DatabaseMemory) -> None:
        self.sessions_target = sessions
        self.users = max(sessions // SESSIONS_PER_USER, 1)
        self.work = work
        self.memory = memory
        self.figures: dict = {"sessions_target": sessions, "users": self.users, "steps": {}}

    def disk(self) -> None:
        gib = folder_gib(Path(os.environ["RECDB_HOME"]))
        self.figures["disk_gib"] = max(self.figures.get("disk_gib", 0.0), gib)

    def command(self, step: str, *args: str) -> str:
        """`recdb ARGS` as a subprocess, its time and memory kept under ``step``."""
        print(f"  {step}: recdb {' '.join(args)}", flush=True)
        with self.memory.peak() as database:
            seconds, stdout, peak = measured("recdb.cli", *args)
        self.figures["steps"][step] = {
            "seconds": seconds,
            "peak_gib": peak,
            "db_gib": database["db_gib"],
        }
        self.disk()
        print(f"    {seconds:.1f} s, peak {peak:.2f} GiB, database {database['db_gib']:.2f} GiB")
        if args[0] == "build":
            nodes = slowest_nodes(Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json", 8)
            self.figures["steps"][step]["slowest"] = nodes
            print("    slowest: " + ", ".join(f"{node} {secs:.1f} s" for secs, node in nodes))
        return stdout

    def run(self, *, duration: int, connections: int) -> dict:
        self.command("simulate", "simulate", f"--users={self.users}", "--seed=1")
        self.figures["sessions"] = count("sim.sessions")
        self.command("full build", "build", "--all", "--full-refresh", "--quiet")
        self.figures["fact_sessions"] = count("marts.fact_sessions")
        self.change()
        self.command("incremental", "build", "--quiet")
        self.figures["fact_sessions_after"] = count("marts.fact_sessions")
        self.figures["pairs"] = count("marts.agg_user_title_viewing")
        self.command("recommend", "recommend", "--run-id", "scale")
        self.reference()
        self.command("build after run", "build", "--quiet")
        self.command("evaluate", "evaluate", "--out", str(self.work / "evaluation"))
        self.figures["queries"] = analyst_queries()
        self.figures["web_api"] = self.web_api(duration, connections)
        return self.figures

    def change(self) -> None:
        """1% more users (their sessions), then 0.1% of the sessions deleted."""
        self.command("append 1%", "simulate", f"--users={max(self.users // 100, 1)}", "--seed=2")
        started = time.perf_counter()
        with python_api.connect("scientist") as warehouse:
            # every thousandth session, spread over users, titles and time
            victims = warehouse.read(
                "select session_id from sim.sessions where session_id % 1000 = 7"
            )
            rated = warehouse.read("select session_id from sim.ratings where session_id % 1000 = 7")
            with warehouse.transaction():
                warehouse.delete("ratings", rated)
                deleted = warehouse.delete("sessions", victims)
        self.figures["deleted"] = deleted
        self.figures["steps"]["delete 0.1%"] = {"seconds": time.perf_counter() - started}

    def reference(self) -> None:
        """implicit's ALS alone on the same matrix, in a subprocess (bench/recommend.py's)."""
        with self.memory.peak():
            seconds, stdout, peak = measured(str(Path(__file__).with_name("recommend.py")),
                                             "--reference")  # fmt: skip
        ref = json.loads(stdout.strip().splitlines()[-1])
        self.figures["steps"]["implicit ALS"] = {
            "seconds": ref["fit"] + ref["recommend"],
            "wall": seconds,
            "peak_gib": peak,
        }
        print(f"    implicit ALS fit + recommend {ref['fit'] + ref['recommend']:.1f} s")

    def web_api(self, duration: int, connections: int) -> dict:
        wrk = ensure_wrk()
        key = secrets.token_urlsafe(24)
        process, url = start_server(self.work, 2, 4, f"{key}:analyst", 60.0)
        try:
            first, last = user_span()
            script = users_lua(self.work / "recs.lua", first, last, key, 1)
            run_wrk(wrk, url, script, connections, 3)  # warm-up
            with self.memory.peak() as database:
                result = run_wrk(wrk, url, script, connections, duration)
        finally:
            process.terminate()
            process.wait(timeout=30)
        result["db_gib"] = database["db_gib"]
        result["connections"] = connections
        print(f"  web API: {result['rps']:,.0f} req/s, p50 {result['p50']:.2f} ms, "
              f"p99 {result['p99']:.2f} ms")  # fmt: skip
        return result


def count(*tables: str) -> int:
    """Rows of the first of ``tables`` that exists, as the owner."""
    with connection_settings("owner").connect() as conn:
        for table in tables:
            if conn.execute("select to_regclass(%s)", [table]).fetchone()[0]:
                return int(conn.execute(f"select count(*) from {table}").fetchone()[0])
    return 0


def user_span() -> tuple[int, int]:
    with connection_settings("owner").connect() as conn:
        low, high = conn.execute(
            "select min(user_id), max(user_id) from marts.dim_users"
        ).fetchone()
    return int(low), int(high)


def example_queries() -> dict[str, str]:
    """The analysts' example queries by name: analyses/*.sql, and the README's."""
    queries = {path.stem: path.read_text() for path in sorted(ANALYSES_DIR.glob("*.sql"))}
    readme = (PROJECT_DIR / "README.md").read_text()
    for number, block in enumerate(re.findall(r"```sql\n(.*?)```", readme, re.S), start=1):
        queries[f"readme_{number}"] = block
    return queries


def analyst_queries(runs: int = 3) -> dict[str, float]:
    """Each example query as recdb_analyst: the median seconds of ``runs``."""
    import psycopg

    seconds: dict[str, float] = {}
    with psycopg.connect(**connection_settings("analyst").connect_kwargs()) as conn:
        for name, text in example_queries().items():
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                conn.execute(text).fetchall()
                times.append(time.perf_counter() - started)
            conn.rollback()
            seconds[name] = sorted(times)[len(times) // 2]
            print(f"    {name}: {seconds[name]:.2f} s")
    return seconds


def exponent(small: float, large: float, size_ratio: float) -> float:
    """The growth exponent: ``large / small == size_ratio ** exponent``."""
    if small <= 0 or large <= 0 or size_ratio <= 1:
        return float("nan")
    return math.log(large / small) / math.log(size_ratio)


def load_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return json.loads(path.read_text())


def save_result(path: Path, figures: dict) -> None:
    results = [r for r in load_results(path) if r["sessions_target"] != figures["sessions_target"]]
    results.append(figures)
    results.sort(key=lambda r: r["sessions_target"])
    path.write_text(json.dumps(results, indent=1) + "\n")


def table(results: list[dict]) -> str:
    """The ladder as a Markdown table, growth exponents against the size below."""
    header = ["step"] + [f"{r['sessions'] / 1e6:,.1f}M sessions" for r in results]
    rows = [header, ["---"] * len(header)]

    def cell(index: int, value: float, unit: str, key: str | None) -> str:
        text = f"{value:,.1f} {unit}"
        if index and key:
            below = results[index - 1]
            previous = below_value(below, key)
            if previous:
                ratio = results[index]["sessions"] / below["sessions"]
                text += f" (^{exponent(previous, value, ratio):.2f})"
        return text

    def below_value(result: dict, key: str) -> float:
        step = result["steps"].get(key)
        return step["seconds"] if step else 0.0

    for step in (*STEPS, "implicit ALS"):
        row = [step + " (s)"]
        for index, result in enumerate(results):
            found = result["steps"].get(step)
            row.append(cell(index, found["seconds"], "", step) if found else "")
        rows.append(row)
    rows.append(["incremental / full build"] + [
        f"{r['steps']['incremental']['seconds'] / r['steps']['full build']['seconds']:.1%}"
        for r in results
    ])  # fmt: skip
    rows.append(["recommend / implicit ALS"] + [
        f"{r['steps']['recommend']['seconds'] / r['steps']['implicit ALS']['seconds']:.2f}x"
        for r in results
    ])  # fmt: skip
    rows.append(["peak memory, recdb (GiB)"] + [
        f"{max(s.get('peak_gib', 0) for s in r['steps'].values()):.2f}" for r in results
    ])  # fmt: skip
    rows.append(["peak memory, database (GiB)"] + [
        f"{max(s.get('db_gib', 0) for s in r['steps'].values()):.2f}" for r in results
    ])  # fmt: skip
    rows.append(["disk (GiB)"] + [f"{r['disk_gib']:.1f}" for r in results])
    rows.append(["slowest analyst query (s)"] + [
        f"{max(r['queries'].values()):.2f}" for r in results
    ])  # fmt: skip
    rows.append(["web API req/s, p50 / p99 (ms)"] + [
        f"{r['web_api']['rps']:,.0f}, {r['web_api']['p50']:.1f} / {r['web_api']['p99']:.1f}"
        for r in results
    ])  # fmt: skip
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def chart(results: list[dict], path: Path) -> None:
    """Seconds per step against sessions, log-log, with a linear guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    sizes = [r["sessions"] for r in results]
    for step in (*STEPS, "implicit ALS"):
        points = [(r["sessions"], r["steps"][step]["seconds"]) for r in results
                  if step in r["steps"]]  # fmt: skip
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", label=step)
    if len(sizes) > 1:
        base = results[0]["steps"]["full build"]["seconds"]
        axes.plot(sizes, [base * s / sizes[0] for s in sizes], "k:", label="linear")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("sessions")
    axes.set_ylabel("seconds")
    axes.set_title("recdb on one 2-core, 24 GB machine")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1M,10M,30M,100M", help="sizes, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("scale.json"))
    parser.add_argument("--chart", type=Path, default=None, help="an SVG or PNG to draw")
    parser.add_argument("--duration", type=int, default=10, help="seconds of web API load")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--chart-only", action="store_true", help="only draw --out's results")
    args = parser.parse_args()
    out = args.out.resolve()
    if not args.chart_only:
        print(f"catalogue: {catalogue_dir() or 'the project catalogue (seeds/netflix)'}")
        for size in map(parse_size, args.sessions.split(",")):
            print(f"\n{size:,} sessions ({size // SESSIONS_PER_USER:,} users)", flush=True)
            with throwaway_warehouse() as work:
                memory = DatabaseMemory(Path(os.environ["RECDB_HOME"]) / "pgdata")
                try:
                    figures = Rung(size, work, memory).run(
                        duration=args.duration, connections=args.connections
                    )
                finally:
                    memory.stop()
            save_result(out, figures)
    results = load_results(out)
    print("\n" + table(results))
    if args.chart:
        chart(results, args.chart)
        print(f"\nchart: {args.chart}")


if __name__ == "__main__":
    main()
