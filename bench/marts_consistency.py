"""Long run of issue 11's randomised consistency test: the marts equal a build from scratch
after every step of concurrent writes, deletes and incremental builds.

    python bench/marts_consistency.py [--steps 300] [--seed 1] [--users 200]
                                      [--lanes 2] [--http-lanes 1] [--ops 3]
                                      [--catalogue project|real] [--keep-going]

A throwaway warehouse with the project's own catalogue (the CI test's, so that the replay
line a failure prints plans the same operations; `--catalogue real`: ../shared/data/
netflix), `recdb simulate --users U --seed S`, two recommendation runs written through
python_api, `recdb build`, and `recdb serve` with a scientist key. Then each step:
`--lanes` python_api threads and `--http-lanes` web API threads run `--ops` operations
each (users, sessions with and without ratings, ratings, plan and churn changes, deletes
of sessions, ratings and users, recommendation runs written, replaced and deleted) while
an incremental `recdb build` runs, beside a python_api transaction written before the
build starts and committed while it runs or after it ends; then one more `recdb build`,
and each engagement and recommendation mart (and the users' snapshot's current versions)
is compared with its SQL compiled by `dbt compile --full-refresh`, run on the same landing
data; a few users' served lists are checked against recs.recommendations. Prints a line
per step; at the first step that fails, its operations, their answers and the differing
rows, and exits 1 (`--keep-going` runs the remaining steps too). The same seed, users,
options and catalogue plan the same operations.

The logic is tests/consistency.py, which the CI test (tests/integration/
test_marts_consistency.py) runs for a few steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from throwaway import catalogue_dir, throwaway_warehouse

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))  # the shared logic lives beside the tests

from recdb.core.connection import connection_settings  # noqa: E402
from recdb.core.settings import default_catalog_dir  # noqa: E402
from tests.consistency import Consistency, Target  # noqa: E402
from tests.integration.test_web_api import SCIENTIST, serving  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=200, help="users simulated first")
    parser.add_argument("--lanes", type=int, default=2, help="python_api threads per step")
    parser.add_argument("--http-lanes", type=int, default=1, help="web API threads per step")
    parser.add_argument("--ops", type=int, default=3, help="operations per thread and step")
    parser.add_argument(
        "--catalogue",
        choices=("project", "real"),
        default="project",
        help="the project's own catalogue (the CI test's) or the real one",
    )
    parser.add_argument("--keep-going", action="store_true", help="go on after a failed step")
    args = parser.parse_args()
    failed = 0
    started = time.perf_counter()
    catalogue = default_catalog_dir() if args.catalogue == "project" else catalogue_dir()
    if catalogue is None:
        sys.exit("--catalogue real: this machine has no ../shared/data/netflix")
    with throwaway_warehouse(source_dir=catalogue) as work:
        env = dict(os.environ)  # the throwaway's RECDB_HOME, RECDB_PORT and DBT_TARGET_PATH
        target = Target(
            env=env,
            owner=connection_settings("owner"),
            scientist=connection_settings("scientist"),
            api_url="",
            api_key=SCIENTIST,
            target_path=Path(env["DBT_TARGET_PATH"]),
        )
        server = SimpleNamespace(env=lambda: dict(env))
        with serving(server, work / "serve.log") as (url, _):
            run = Consistency(
                dataclasses.replace(target, api_url=url),
                seed=args.seed,
                users=args.users,
                python_api_lanes=args.lanes,
                http_lanes=args.http_lanes,
                ops_per_lane=args.ops,
            )
            run.prepare()
            print(
                f"seed {args.seed}: {args.users} users simulated and built; comparing "
                f"{', '.join(m.relation for m in run.models)}",
                flush=True,
            )
            for report in run.steps(args.steps):
                print(report.summary(), flush=True)
                if report.problems:
                    failed += 1
                    print(run.failure(report), flush=True)
                    if not args.keep_going:
                        break
    minutes = (time.perf_counter() - started) / 60
    verdict = f"{failed} step(s) failed" if failed else "every step consistent"
    print(f"\n{verdict} ({minutes:.1f} min)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
