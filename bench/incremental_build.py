"""Benchmark: an incremental `recdb build` after 1% more sessions (or titles), vs the full build.

    python bench/incremental_build.py [--users 1000000] [--append-share 0.01] [--titles]

A throwaway warehouse with the catalogue built; `recdb simulate --users N`
(about 10 sessions per user); then, timed in the same run:
* the full build (`recdb build --full-refresh`: every model rebuilt from the
  landing tables, the snapshot and every test);
* `recdb simulate` of N x share more users (about share more sessions), then
  `recdb build`: the catalogue is left out as unchanged, the engagement marts
  take only the new rows;
* or, with ``--titles``, share more titles than the catalogue has, written to
  sim.titles (genres and countries of random catalogue titles, two credits
  each), then `recdb build`: the catalogue is rebuilt, audited and published,
  the engagement marts take the new titles (no sessions yet).
Prints both wall times (dbt start-up included), their ratio, and the nodes
that took longest in the incremental build (dbt's run_results.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from throwaway import throwaway_warehouse, timed

import python_api
from recdb.warehouse.build import build
from simulation import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--append-share", type=float, default=0.01)
    parser.add_argument(
        "--titles", action="store_true", help="append titles (sim.titles), not sessions"
    )
    args = parser.parse_args()
    with throwaway_warehouse() as work:
        first = simulate(args.users, seed=1)
        full = timed(lambda: build(["--full-refresh", "--quiet"]))
        if args.titles:
            added = write_titles(args.append_share)
            what = f"then {added:,} more titles ({args.append_share:.1%})"
        else:
            more = simulate(max(int(args.users * args.append_share), 1), seed=2)
            what = f"then {more.sessions:,} more ({more.sessions / first.sessions:.1%})"
        incremental = timed(lambda: build(["--quiet"]))
        with python_api.connect("scientist") as wh:
            facts = wh.read("select count(*) as n from marts.fact_sessions").n[0]
        slowest = slowest_nodes(work / "target" / "run_results.json")
    print(f"\n{first.sessions:,} sessions, {what}; fact_sessions holds {facts:,}")
    print(f"{'full recdb build --full-refresh':<40}{full:>9.1f} s")
    print(f"{'incremental recdb build':<40}{incremental:>9.1f} s{incremental / full:>9.1%}")
    print("slowest nodes of the incremental build:")
    for seconds, node in slowest:
        print(f"  {node:<38}{seconds:>9.1f} s")


def write_titles(share: float) -> int:
    """Write ``share`` x the catalogue's titles to sim.titles, each with the genres and
    countries of a random catalogue title and two credits of new persons; how many."""
    with python_api.connect("scientist") as wh:
        lists = wh.read(
            "select t.title_type, coalesce(g.genres, '{}') as genres, "
            "coalesce(c.countries, '{}') as production_countries from marts.dim_titles as t "
            "left join (select title_id, array_agg(genre_id order by genre_position) as genres "
            "from marts.bridge_title_genres group by title_id) as g using (title_id) "
            "left join (select title_id, array_agg(country_code order by country_position) "
            "as countries from marts.bridge_title_prod_countries group by title_id) as c "
            "using (title_id)"
        )
        count = max(int(len(lists) * share), 1)
        picked = lists.sample(count, replace=True, random_state=3).reset_index(drop=True)
        ids = [f"bench-{i}" for i in range(count)]
        titles = picked.assign(
            title_id=ids,
            title_name=[f"Bench Release {i}" for i in range(count)],
            release_year=2026,
            released_at=pd.Timestamp.now(tz="UTC"),
            runtime_minutes=100,
            genres=picked.genres.map(list),
            production_countries=picked.production_countries.map(list),
        )
        credits = pd.DataFrame(
            {
                "title_id": ids * 2,
                "person_id": [2_000_000_000 + i for i in range(2 * count)],
                "person_name": [f"Bench Person {i}" for i in range(2 * count)],
                "credit_role": ["actor"] * count + ["director"] * count,
            }
        )
        with wh.transaction():
            wh.write("titles", titles)
            wh.write("credits", credits)
    return count


def slowest_nodes(run_results: Path, count: int = 6) -> list[tuple[float, str]]:
    """The ``count`` nodes that took longest in the dbt run ``run_results`` describes."""
    results = json.loads(run_results.read_text())["results"]
    timed_nodes = sorted(((r["execution_time"], r["unique_id"]) for r in results), reverse=True)
    return [(seconds, node.split(".", 2)[-1][:38]) for seconds, node in timed_nodes[:count]]


if __name__ == "__main__":
    main()
