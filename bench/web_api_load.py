"""Benchmark: the web API's hot reads under load, against the same queries straight to PostgreSQL.

    python bench/web_api_load.py [--users 100000] [--seed 1] [--duration 10]
                                 [--connections 4,8,16] [--workers 2] [--pool-size 4]

A throwaway embedded server (the real catalogue when ../shared/data/netflix has it),
`recdb simulate --users N`, `recdb build`, `recdb recommend`, `recdb build` again (the
recommendations mart). Then `recdb serve --workers 2` on loopback, and `wrk` (one
thread, one Lua script rotating random user ids or search words) for each connection
count, on the same 2-core machine as the server and PostgreSQL:

* `GET /v1/users/{id}/recommendations` (ids drawn from all N users);
* `GET /v1/titles?q=<word>&limit=20` (words drawn from the catalogue's title names).

Reference, in the same run: `pgbench` sending the same SQL (prepared, as the analyst role,
the same number of clients) with no HTTP in between: its transactions per second and
latency percentiles (from its per-transaction log). Prints requests/s, p50 and p99 for
each, the ratio API/reference, and whether the goal (>= 1,000 requests/s with p99 <= 50 ms
for recommendations) is met. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throwaway import recdb_command, throwaway_warehouse  # noqa: E402

from recdb.db.connection import connection_settings  # noqa: E402
from recdb.db.server import free_port  # noqa: E402
from web_api.routes.recommendations import _LIST_QUERY  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOAL_RPS = 1000.0
GOAL_P99_MS = 50.0
WORDS = 40
SEARCH_SQL = (
    "select t.title_id, t.title_name, t.title_type, t.release_year, t.runtime_minutes, "
    "t.imdb_score::float8 as imdb_score, t.is_year_best, t.is_all_time_best "
    "from marts.dim_titles as t where t.title_name ilike :pattern "
    "order by t.imdb_vote_count desc nulls last, t.title_id limit 21 offset 0"
)


def recdb(*args: str, env: dict[str, str] | None = None) -> str:
    """`recdb ARGS`; its stdout, or exit with its output."""
    return recdb_command(*args, env=env)[1]


def ensure_wrk() -> str:
    """The wrk binary (installed with apt-get when missing)."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or sys.exit("wrk is not available")


def to_ms(text: str) -> float:
    """wrk's '812.00us', '8.20ms', '1.02s' in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(wrk: str, url: str, script: Path, connections: int, seconds: int) -> dict:
    """One wrk run: requests/s, p50 and p99 in ms, and non-2xx responses."""
    done = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "bad": int(bad.group(1)) if bad else 0,
        "errors": errors.group(1) if errors else "",
    }


def run_pgbench(script: Path, clients: int, seconds: int, work: Path) -> dict:
    """pgbench as the analyst: transactions/s and p50/p99 from its per-transaction log."""
    settings = connection_settings("analyst")
    logs = work / "pgbench"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    done = subprocess.run(
        [
            "pgbench", "-n", "-M", "prepared", "-f", str(script), "-c", str(clients), "-j", "1",
            "-T", str(seconds), "-l", "--log-prefix", str(logs / "tx"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **settings.libpq_env()},
        check=False,
        cwd=logs,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    latencies = np.concatenate(
        [np.loadtxt(f, usecols=2, ndmin=1) for f in logs.glob("tx*") if f.stat().st_size]
    )
    tps = float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))
    return {
        "rps": tps,
        "p50": float(np.percentile(latencies, 50)) / 1000,
        "p99": float(np.percentile(latencies, 99)) / 1000,
        "bad": 0,
        "errors": "",
    }


def search_words() -> list[str]:
    """The most common words of title names (3+ letters), for search requests."""
    import psycopg

    with psycopg.connect(**connection_settings("analyst").connect_kwargs()) as conn:
        rows = conn.execute(
            "select lower(word) as w, count(*) from marts.dim_titles, "
            "regexp_split_to_table(title_name, '[^[:alpha:]]+') as word "
            "where length(word) >= 3 group by 1 order by 2 desc, 1 limit %s",
            (WORDS,),
        ).fetchall()
    return [r[0] for r in rows]


def start_server(work: Path, workers: int, pool_size: int, keys: str) -> tuple:
    port = free_port()
    env = {
        **os.environ,
        "RECDB_API_KEYS": keys,
        "RECDB_API_POOL_SIZE": str(pool_size),
    }
    log = (work / "serve.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "recdb.cli", "serve", "--port", str(port),
            "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        ],
        env=env,
        cwd=PROJECT_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    sys.exit(f"recdb serve did not start: {(work / 'serve.log').read_text()}")


def line(name: str, result: dict, reference: dict | None = None) -> str:
    text = f"  {name:<34} {result['rps']:>9,.0f} req/s   p50 {result['p50']:>6.2f} ms   "
    text += f"p99 {result['p99']:>7.2f} ms"
    if reference:
        text += f"   {result['rps'] / reference['rps']:.2f}x the reference's rate"
    if result["bad"] or result["errors"]:
        text += f"   ({result['bad']} non-2xx; socket errors: {result['errors'] or 'none'})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", default="4,8,16", help="wrk connection counts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=4, help="connections per role, worker")
    args = parser.parse_args()
    connection_counts = [int(c) for c in args.connections.split(",")]
    wrk = ensure_wrk()

    with throwaway_warehouse() as work:
        started = time.perf_counter()
        recdb("simulate", "--users", str(args.users), "--seed", str(args.seed))
        recdb("build", "--quiet")
        recdb("recommend", "--run-id", "bench")
        recdb("build", "--quiet")
        print(
            f"warehouse: {args.users:,} users simulated, recommended (run 'bench', top 10) and "
            f"built in {time.perf_counter() - started:.0f} s"
        )
        key = secrets.token_urlsafe(24)
        process, url = start_server(work, args.workers, args.pool_size, f"{key}:analyst")
        try:
            words = search_words()
            recs_lua = work / "recs.lua"
            recs_lua.write_text(
                f"math.randomseed({args.seed})\n"
                "request = function()\n"
                f"  local id = math.random(1, {args.users})\n"
                '  return wrk.format("GET", "/v1/users/" .. id .. "/recommendations", '
                f'{{["X-API-Key"] = "{key}"}})\n'
                "end\n"
            )
            search_lua = work / "search.lua"
            quoted = ", ".join(f'"{w}"' for w in words)
            search_lua.write_text(
                f"math.randomseed({args.seed})\nlocal words = {{{quoted}}}\n"
                "request = function()\n"
                "  local word = words[math.random(1, #words)]\n"
                '  return wrk.format("GET", "/v1/titles?limit=20&q=" .. word, '
                f'{{["X-API-Key"] = "{key}"}})\n'
                "end\n"
            )
            recs_sql = work / "recs.sql"
            recs_sql.write_text(
                f"\\set uid random(1, {args.users})\n"
                + " ".join(_LIST_QUERY.split()).replace("%s", "10", 1).replace("%s", ":uid")
                + ";\n"
            )
            search_sql = work / "search.sql"
            array = ", ".join(f"'%{w}%'" for w in words)
            search_sql.write_text(
                f"\\set i random(1, {len(words)})\n"
                + SEARCH_SQL.replace(":pattern", f"(array[{array}])[:i]")
                + ";\n"
            )
            # Warm up: prepared statements on every pooled connection, caches.
            for script in (recs_lua, search_lua):
                run_wrk(wrk, url, script, max(connection_counts), 3)
            print(
                f"\nrecdb serve --workers {args.workers} (pool {args.pool_size} per worker), "
                f"wrk -t1 on loopback, {args.duration} s each, {os.cpu_count()} cores in all:"
            )
            met = []
            for name, lua, sql_file in (
                ("recommendations", recs_lua, recs_sql),
                ("title search", search_lua, search_sql),
            ):
                for connections in connection_counts:
                    api = run_wrk(wrk, url, lua, connections, args.duration)
                    ref = run_pgbench(sql_file, connections, args.duration, work)
                    print(line(f"{name}, {connections} connections", api, ref))
                    print(line(f"  reference: pgbench, {connections} clients", ref))
                    if name == "recommendations":
                        ok = api["rps"] >= GOAL_RPS and api["p99"] <= GOAL_P99_MS and not api["bad"]
                        met.append((connections, ok, api))
            best = [c for c, ok, _ in met if ok]
            print(
                f"\ngoal (recommendations >= {GOAL_RPS:,.0f} req/s with p99 <= {GOAL_P99_MS:.0f} "
                "ms): "
                + (f"met with {', '.join(map(str, best))} connections" if best else "not met")
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
