"""Benchmark: `recdb recommend` end to end against implicit's own fit + recommend, and quality.

    python bench/recommend.py [--users 1000000] [--seed 1] [--config FILE ...]
                              [--simulation-config FILE] [--from DIR] [--skip-evaluate]
                              [--repeat N]

Starts a throwaway embedded server, loads the catalogue (the real one in
../shared/data/netflix when present, else the project's own), builds,
simulates --users users (the simulation's defaults, or --simulation-config)
and builds again. Then, in the same run:

* speed: `recdb recommend` as a subprocess (the real command: start-up,
  reading the marts, confidence, ALS fit, top 10 for every user, writing
  recs.recommendations through python_api in one transaction, saving the
  model) against the reference: implicit's AlternatingLeastSquares ``fit``
  plus its batch ``recommend`` (top 10, seen titles filtered) for every user
  with history, on the same confidence matrix, with the same
  hyper-parameters and threads. Goal: at most 1.3x the reference.
* quality: `recdb evaluate` (time-based hold-out): ALS's ndcg@10 against
  popularity's (goal: at least 2x) and the oracle's (goal: at least 70%).

Each --config (a recommender config; several may be given, default: the
defaults) is measured on the same warehouse. Prints seconds and ratios from
this one run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
from throwaway import catalogue_dir, recdb_command, throwaway_warehouse

from recdb.core.connection import connection_settings
from recdb.warehouse.build import build

SPEED_TARGET = 1.3
POPULARITY_TARGET = 2.0
ORACLE_TARGET = 0.7


def reference(config_path: Path | None) -> dict[str, float]:
    """implicit alone on the same matrix: fit, then batch recommend for every user."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    import python_api
    from recommender import confidence, load_config
    from recommender.data import feedback, read_dataset

    config = load_config(config_path)
    with python_api.connect("scientist") as wh:
        dataset = read_dataset(wh)
    data = feedback(dataset.sessions, dataset.titles.size)
    matrix = data.interactions.matrix(confidence(data.interactions, config.confidence))
    als = config.als
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=als.factors,
            regularization=als.regularization,
            alpha=1.0,
            iterations=als.iterations,
            random_state=als.seed,
            num_threads=als.threads,
        )
        started = time.perf_counter()
        model.fit(matrix, show_progress=False)
        fit = time.perf_counter() - started
        users = np.arange(matrix.shape[0])
        started = time.perf_counter()
        model.recommend(users, matrix, N=10, filter_already_liked_items=True)
        recommend = time.perf_counter() - started
    return {
        "fit": fit,
        "recommend": recommend,
        "users": float(matrix.shape[0]),
        "nonzeros": float(matrix.nnz),
        "sessions": float(dataset.sessions.size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        default=None,
        help="a recommender config (TOML); repeat to compare several",
    )
    parser.add_argument("--simulation-config", type=Path, default=None)
    parser.add_argument("--from", dest="source_dir", type=Path, default=None)
    parser.add_argument("--skip-evaluate", action="store_true")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure recdb recommend and the reference this many times, alternating",
    )
    args = parser.parse_args()

    configs: list[Path | None] = list(args.config or [None])
    sim_args = (
        ["--simulation-config", str(args.simulation_config.resolve())]
        if args.simulation_config
        else []
    )
    results = []
    with throwaway_warehouse(source_dir=args.source_dir) as work:
        started = time.perf_counter()
        simulate_args = ["simulate", f"--users={args.users}", f"--seed={args.seed}"]
        if args.simulation_config:
            simulate_args += ["--config", str(args.simulation_config.resolve())]
        recdb_command(*simulate_args)
        build(["--quiet"])
        # autovacuum's catch-up after millions of new rows would otherwise land on
        # whichever of the two runs first (it slowed recdb's fit by a third)
        with connection_settings("owner").connect(autocommit=True) as conn:
            conn.execute("vacuum (analyze)")
        prepared = time.perf_counter() - started
        for number, config in enumerate(configs):
            config_args = ["--config", str(config.resolve())] if config else []
            pairs = []
            for _ in range(max(1, args.repeat)):  # alternating, so load drifts hit both
                wall, report = recdb_command(
                    "recommend", "--run-id", f"bench-{number}", *config_args
                )
                pairs.append((wall, report, reference(config)))
            # the pair with the median ratio
            wall, report, ref = sorted(
                pairs, key=lambda p: p[0] / (p[2]["fit"] + p[2]["recommend"])
            )[len(pairs) // 2]
            if len(pairs) > 1:
                ratios = [w / (r["fit"] + r["recommend"]) for w, _, r in pairs]
                print("ratios of the repeats: " + ", ".join(f"{x:.2f}" for x in ratios))
            evaluation = None
            if not args.skip_evaluate:
                out = work / f"evaluation-{number}"
                recdb_command("evaluate", "--out", str(out), *config_args, *sim_args)
                evaluation = json.loads((out / "evaluation.json").read_text())
            results.append((config, wall, report, ref, evaluation))

    print(f"\nrecdb recommend on {args.users:,} simulated users (seed {args.seed})")
    print(f"catalogue: {args.source_dir or catalogue_dir() or 'the project catalogue'}")
    print(f"simulation config: {args.simulation_config or 'defaults'}")
    print(f"(simulate + build took {prepared:.0f} s)")
    for config, wall, report, ref, evaluation in results:
        show(config, wall, report, ref, evaluation)


def show(config: Path | None, wall: float, report: str, ref: dict, evaluation: dict | None) -> None:
    """One config's speed and quality."""
    from recommender import load_config

    als = load_config(config).als
    print(
        f"\n=== recommender config: {config or 'defaults'} ({als.factors} factors, "
        f"regularization {als.regularization:g}, {als.iterations} iterations)"
    )
    print(
        f"{int(ref['sessions']):,} sessions, {int(ref['users']):,} users with history, "
        f"{int(ref['nonzeros']):,} non-zeros"
    )
    print(report.rstrip())
    phases = re.search(r"took [\d.]+ s: (.*)$", report, re.MULTILINE)
    print("\nspeed                                  seconds")
    if phases:
        for name, value in re.findall(r"([a-z ]+?) ([\d.]+) s", phases.group(1)):
            print(f"  recommend: {name.strip():<26}{float(value):>8.1f}")
    print(f"  recdb recommend, end to end         {wall:>8.1f}")
    print(f"  implicit fit                        {ref['fit']:>8.1f}")
    print(f"  implicit recommend (all users)      {ref['recommend']:>8.1f}")
    implicit = ref["fit"] + ref["recommend"]
    print(f"  implicit fit + recommend            {implicit:>8.1f}")
    ratio = wall / implicit
    verdict = "within" if ratio <= SPEED_TARGET else "OVER"
    print(f"ratio: {ratio:.2f} x implicit alone ({verdict} the {SPEED_TARGET} x goal)")
    if evaluation is None:
        return
    models = evaluation["models"]
    print("\nquality (time-based hold-out, recdb evaluate)")
    print(f"  {'model':<12}" + "".join(f"{m:>14}" for m in models["als"]))
    for name, metrics in models.items():
        cells = "".join(f"{'n/a':>14}" if v is None else f"{v:>14.4f}" for v in metrics.values())
        print(f"  {name:<12}{cells}")
    als_ndcg = models["als"]["ndcg@10"]
    popularity = models["popularity"]["ndcg@10"]
    oracle = models["oracle"]["ndcg@10"]
    line = f"ALS ndcg@10 = {als_ndcg / popularity:.2f} x popularity's (goal >= {POPULARITY_TARGET})"
    if oracle:
        line += f", {als_ndcg / oracle:.0%} of the oracle's (goal >= {ORACLE_TARGET:.0%})"
    print(line)
    if oracle:
        print(f"(the oracle itself: {oracle / popularity:.2f} x popularity's)")
    held = evaluation["holdout"]
    print(
        f"  {held['test_users_evaluated']:,} of {held['test_users']:,} test users, cutoff "
        f"{held['cutoff']}, {held['relevant_per_user']} relevant titles per test user"
    )


if __name__ == "__main__":
    main()
