"""Benchmark: an incremental `recdb build` after appending 1% more sessions, vs the full build.

    python bench/incremental_build.py [--users 1000000] [--append-share 0.01]

A throwaway warehouse with the catalogue built; `recdb simulate --users N`
(about 10 sessions per user); then, timed in the same run:
* the full build (`recdb build --full-refresh`: every model rebuilt from the
  landing tables, the snapshot and every test);
* `recdb simulate` of N x share more users (about share more sessions), then
  `recdb build`: the catalogue is left out as unchanged, the engagement marts
  take only the new rows.
Prints both wall times (dbt start-up included), their ratio, and the nodes
that took longest in the incremental build (dbt's run_results.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from throwaway import throwaway_warehouse, timed

import python_api
from recdb.warehouse.build import build
from simulation import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--append-share", type=float, default=0.01)
    args = parser.parse_args()
    with throwaway_warehouse() as work:
        first = simulate(args.users, seed=1)
        full = timed(lambda: build(["--full-refresh", "--quiet"]))
        more = simulate(max(int(args.users * args.append_share), 1), seed=2)
        incremental = timed(lambda: build(["--quiet"]))
        with python_api.connect("scientist") as wh:
            facts = wh.read("select count(*) as n from marts.fact_sessions").n[0]
        slowest = slowest_nodes(work / "target" / "run_results.json")
    print(f"\n{first.sessions:,} sessions, then {more.sessions:,} more "
          f"({more.sessions / first.sessions:.1%}); fact_sessions holds {facts:,}")  # fmt: skip
    print(f"{'full recdb build --full-refresh':<40}{full:>9.1f} s")
    print(f"{'incremental recdb build':<40}{incremental:>9.1f} s{incremental / full:>9.1%}")
    print("slowest nodes of the incremental build:")
    for seconds, node in slowest:
        print(f"  {node:<38}{seconds:>9.1f} s")


def slowest_nodes(run_results: Path, count: int = 6) -> list[tuple[float, str]]:
    """The ``count`` nodes that took longest in the dbt run ``run_results`` describes."""
    results = json.loads(run_results.read_text())["results"]
    timed_nodes = sorted(((r["execution_time"], r["unique_id"]) for r in results), reverse=True)
    return [(seconds, node.split(".", 2)[-1][:38]) for seconds, node in timed_nodes[:count]]


if __name__ == "__main__":
    main()
