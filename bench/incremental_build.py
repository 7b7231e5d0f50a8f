"""Benchmark: an incremental `recdb build` after appending 1% more sessions, vs the full build.

    python bench/incremental_build.py [--users 1000000] [--append-share 0.01]

A throwaway warehouse with the catalogue built; `recdb simulate --users N`
(about 10 sessions per user); then, timed in the same run:
* the full build (`recdb build --all`: every model, snapshot and test);
* `recdb simulate` of N x share more users (about share more sessions), then
  `recdb build`: the catalogue is left out as unchanged, the engagement marts
  take only the new rows.
Prints both wall times (dbt start-up included) and their ratio.
"""

from __future__ import annotations

import argparse

from throwaway import throwaway_warehouse, timed

import python_api
from recdb.build import build
from simulation import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--append-share", type=float, default=0.01)
    args = parser.parse_args()
    with throwaway_warehouse():
        first = simulate(args.users, seed=1)
        full = timed(lambda: build(["--quiet"], everything=True))
        more = simulate(max(int(args.users * args.append_share), 1), seed=2)
        incremental = timed(lambda: build(["--quiet"]))
        with python_api.connect("scientist") as wh:
            facts = wh.read("select count(*) as n from marts.fact_sessions").n[0]
    print(f"\n{first.sessions:,} sessions, then {more.sessions:,} more "
          f"({more.sessions / first.sessions:.1%}); fact_sessions holds {facts:,}")  # fmt: skip
    print(f"{'full recdb build --all':<40}{full:>9.1f} s")
    print(f"{'incremental recdb build':<40}{incremental:>9.1f} s{incremental / full:>9.1%}")


if __name__ == "__main__":
    main()
