"""Benchmark: the web API's hot reads under load, against the same queries straight to PostgreSQL.

    python bench/web_api_load.py [--users 100000] [--seed 1] [--duration 10]
                                 [--connections 4,8,16] [--workers 2] [--pool-size 4]
                                 [--cold-users 1000] [--cold-refresh 0.5]

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
for recommendations) is met.

Then the cold-start phase: `--cold-users` users are added after the run (no list in it:
the API serves them marts.cold_start_titles, cached per worker), with the server reloading
that list every `--cold-refresh` seconds (RECDB_API_COLD_START_REFRESH). Their
recommendations are measured (the largest connection count) at rest, then while `recdb
build` runs again and again (each build rebuilds the list from every session and swaps the
table in), next to users with a list during builds too (the builds' CPU alone). The goal:
p99 <= 50 ms while the workers reload the list; during builds, the cold-start p99 as a
multiple of the listed users' (1.0: the list costs nothing of its own). Nothing is asserted.

At 1M users (10M sessions, as the issue's): `python bench/web_api_load.py --users 1000000`.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throwaway import recdb_command, throwaway_warehouse  # noqa: E402

from recdb.core.connection import connection_settings  # noqa: E402
from recdb.warehouse.server import free_port  # noqa: E402
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


def start_server(work: Path, workers: int, pool_size: int, keys: str, cold_refresh: float) -> tuple:
    port = free_port()
    env = {
        **os.environ,
        "RECDB_API_KEYS": keys,
        "RECDB_API_POOL_SIZE": str(pool_size),
        "RECDB_API_COLD_START_REFRESH": str(cold_refresh),
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


def add_cold_users(count: int, seed: int) -> tuple[int, int]:
    """``count`` new users after the recommender run (so it has no list for them), built
    into dim_users: the first and last id."""
    import pandas as pd

    import python_api

    with python_api.connect("scientist") as warehouse:
        newest = warehouse.read("select coalesce(max(user_id), 0) as n from sim.users")
        first = int(newest["n"][0]) + 1
        rng = np.random.default_rng(seed)
        users = pd.DataFrame(
            {
                "user_id": np.arange(first, first + count, dtype=np.int64),
                "signup_at": pd.Timestamp("2025-01-01", tz="UTC"),
                "birth_year": rng.integers(1950, 2006, count),
                "gender": "undisclosed",
                "country_code": "US",
                "plan": "basic",
            }
        )
        warehouse.write("users", users)
    recdb("build", "--quiet")
    return first, first + count - 1


def users_lua(path: Path, first: int, last: int, key: str, seed: int) -> Path:
    """A wrk script asking for the recommendations of random users first..last."""
    path.write_text(
        f"math.randomseed({seed})\n"
        "request = function()\n"
        f"  local id = math.random({first}, {last})\n"
        '  return wrk.format("GET", "/v1/users/" .. id .. "/recommendations", '
        f'{{["X-API-Key"] = "{key}"}})\n'
        "end\n"
    )
    return path


def while_building(action) -> tuple[dict, int]:
    """``action()`` while `recdb build` runs again and again; its result and the builds
    finished meanwhile."""
    stop = threading.Event()
    builds = []

    def keep_building() -> None:
        while not stop.is_set():
            done = subprocess.run(
                [sys.executable, "-m", "recdb.cli", "build", "--quiet"],
                cwd=PROJECT_DIR,
                capture_output=True,
                text=True,
                check=False,
            )
            builds.append(done.returncode)

    builder = threading.Thread(target=keep_building, daemon=True)
    builder.start()
    try:
        time.sleep(1.0)  # the first build under way
        result = action()
    finally:
        stop.set()
        builder.join()
    if any(builds):
        sys.exit("recdb build failed during the cold-start phase")
    return result, len(builds)


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
    parser.add_argument(
        "--cold-users", type=int, default=1000, help="users added after the run (cold start)"
    )
    parser.add_argument(
        "--cold-refresh", type=float, default=0.5, help="seconds between cold-start list reloads"
    )
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
        process, url = start_server(
            work, args.workers, args.pool_size, f"{key}:analyst", args.cold_refresh
        )
        try:
            words = search_words()
            recs_lua = users_lua(work / "recs.lua", 1, args.users, key, args.seed)
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
            cold_start_phase(args, wrk, url, key, work, recs_lua)
        finally:
            process.terminate()
            process.wait(timeout=30)


def cold_start_phase(
    args: argparse.Namespace, wrk: str, url: str, key: str, work: Path, listed_lua: Path
) -> None:
    """Cold-start users' recommendations at rest and while builds refresh the list, and
    users with a list (``listed_lua``) during builds."""
    started = time.perf_counter()
    first, last = add_cold_users(args.cold_users, args.seed)
    print(
        f"\ncold start: {args.cold_users:,} users added after the run and built in "
        f"{time.perf_counter() - started:.0f} s; the server reloads the list every "
        f"{args.cold_refresh:g} s"
    )
    cold_lua = users_lua(work / "cold.lua", first, last, key, args.seed)
    connections = max(int(c) for c in args.connections.split(","))
    run_wrk(wrk, url, cold_lua, connections, 3)  # warm up
    at_rest = run_wrk(wrk, url, cold_lua, connections, args.duration)
    print(line(f"cold-start users, {connections} conn., no build", at_rest))
    cold, builds = while_building(lambda: run_wrk(wrk, url, cold_lua, connections, args.duration))
    print(line(f"cold-start users, {connections} conn., {builds} builds", cold))
    listed, builds = while_building(
        lambda: run_wrk(wrk, url, listed_lua, connections, args.duration)
    )
    print(line(f"users with a list, {connections} conn., {builds} builds", listed))
    ok = at_rest["p99"] <= GOAL_P99_MS and not at_rest["bad"]
    print(
        f"goal (cold-start p99 <= {GOAL_P99_MS:.0f} ms while each worker reloads the list "
        f"every {args.cold_refresh:g} s): " + ("met" if ok else "not met")
    )
    # A build rebuilds the list in the database, on the same cores as the server and wrk:
    # what it costs cold-start users, compared with what it costs users with a list.
    print(
        f"during builds: cold-start p99 {cold['p99']:.1f} ms, users with a list "
        f"{listed['p99']:.1f} ms ({cold['p99'] / listed['p99']:.2f}x): the build's CPU, "
        "shared by every request, not the list"
        if listed["p99"]
        else "during builds: no answer measured"
    )


if __name__ == "__main__":
    main()
