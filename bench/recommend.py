"""Benchmark: the recommender's default model end to end against implicit's ALS alone, and
the quality of the whole family with intervals.

    python bench/recommend.py [--users 1000000] [--seed 1] [--model NAME ...]
                              [--config FILE] [--simulation-config FILE] [--from DIR]
                              [--skip-evaluate] [--skip-speed] [--repeat N]

Starts a throwaway embedded server, loads the catalogue (the real one in
../shared/data/netflix when present, else the project's own), builds,
simulates --users users (the simulation's defaults, or --simulation-config)
and builds again. Then, in the same run:

* speed: `recdb recommend --model NAME` as a subprocess (the real command:
  start-up, reading the marts, the fit, top 10 for every user, writing
  recs.recommendations through python_api in one transaction, saving the
  model), for each --model (default: the config's recommend.model), against
  the reference: implicit's AlternatingLeastSquares ``fit`` plus its batch
  ``recommend`` (top 10, seen titles filtered) for every user with history, on
  the same confidence matrix with the config's ALS hyper-parameters and
  threads, also in a subprocess. Each prints its peak resident memory.
  Goal: at most 1.3x the reference.
* quality: `recdb evaluate` (time-based hold-out, users without history
  included) of every model of the family and the baselines, with 95%
  bootstrap intervals. Goals for the default model: ndcg@10 at least 2x
  popularity's and 85% of the oracle's, coverage at least half the oracle's.

Prints seconds, memory, ratios and the evaluation table from this one run;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from throwaway import catalogue_dir, measured, recdb_command, throwaway_warehouse

from recdb.core.connection import connection_settings
from recdb.warehouse.build import build

SPEED_TARGET = 1.3
POPULARITY_TARGET = 2.0
ORACLE_TARGET = 0.85
COVERAGE_TARGET = 0.5


def reference(config_path: Path | None) -> dict[str, float]:
    """implicit alone on the same matrix: fit, then batch recommend for every user (run in a
    subprocess by ``--reference``; prints JSON). It reads the (user, title) pairs, as
    `recdb recommend` does: every session in pandas took 1.4 GiB at 10M sessions."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    import python_api
    from recommender import confidence, load_config
    from recommender.data import read_feedback, read_titles

    config = load_config(config_path)
    with python_api.connect("scientist") as wh:
        data = read_feedback(wh, read_titles(wh).size)
    matrix = data.interactions.matrix(confidence(data.interactions, config.confidence))
    als = config.als
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=als.factors,
            regularization=als.regularization,
            alpha=1.0,
            iterations=als.iterations,
            random_state=als.seed,
            num_threads=config.recommend.threads,
        )
        started = time.perf_counter()
        model.fit(matrix, show_progress=False)
        fit = time.perf_counter() - started
        users = list(range(matrix.shape[0]))
        started = time.perf_counter()
        model.recommend(users, matrix, N=10, filter_already_liked_items=True)
        recommend = time.perf_counter() - started
    return {
        "fit": fit,
        "recommend": recommend,
        "users": float(matrix.shape[0]),
        "nonzeros": float(matrix.nnz),
        "sessions": float(data.interactions.sessions.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", action="append", default=None, help="repeat for several")
    parser.add_argument("--config", type=Path, default=None, help="a recommender config")
    parser.add_argument("--simulation-config", type=Path, default=None)
    parser.add_argument("--from", dest="source_dir", type=Path, default=None)
    parser.add_argument("--skip-evaluate", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="speed runs, alternating")
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:  # the subprocess that measures implicit alone
        print(json.dumps(reference(args.config)))
        return

    from recommender import load_config

    config_args = ["--config", str(args.config.resolve())] if args.config else []
    names = args.model or [load_config(args.config).recommend.model]
    speed = []
    evaluation = None
    with throwaway_warehouse(source_dir=args.source_dir) as work:
        started = time.perf_counter()
        simulate_args = ["simulate", f"--users={args.users}", f"--seed={args.seed}"]
        if args.simulation_config:
            simulate_args += ["--config", str(args.simulation_config.resolve())]
        recdb_command(*simulate_args)
        build(["--quiet"])
        # autovacuum's catch-up after millions of new rows would otherwise land on
        # whichever of the runs comes first
        with connection_settings("owner").connect(autocommit=True) as conn:
            conn.execute("vacuum (analyze)")
        prepared = time.perf_counter() - started
        for name in [] if args.skip_speed else names:
            pairs = []
            for number in range(max(1, args.repeat)):  # alternating: load drifts hit both
                wall, report, peak = measured(
                    "recdb.cli", "recommend", "--model", name, "--run-id",
                    f"bench-{name}-{number}", *config_args,
                )  # fmt: skip
                _, out, ref_peak = measured(__file__, "--reference", *config_args)
                ref = json.loads(out.strip().splitlines()[-1])
                pairs.append((wall, report, peak, ref, ref_peak))
            speed.append((name, pairs))
        if not args.skip_evaluate:
            out_dir = work / "evaluation"
            sim_args = (
                ["--simulation-config", str(args.simulation_config.resolve())]
                if args.simulation_config
                else []
            )
            recdb_command("evaluate", "--out", str(out_dir), *config_args, *sim_args)
            evaluation = json.loads((out_dir / "evaluation.json").read_text())

    print(f"\nrecdb recommend on {args.users:,} simulated users (seed {args.seed})")
    print(f"catalogue: {args.source_dir or catalogue_dir() or 'the project catalogue'}")
    print(f"simulation config: {args.simulation_config or 'defaults'}")
    print(f"recommender config: {args.config or 'defaults'}")
    print(f"(simulate + build took {prepared:.0f} s)")
    for name, pairs in speed:
        show_speed(name, pairs)
    if evaluation is not None:
        show_quality(evaluation)


def show_speed(name: str, pairs: list[tuple]) -> None:
    """One model's end-to-end time and memory against implicit's ALS alone."""
    ratios = [wall / (ref["fit"] + ref["recommend"]) for wall, _, _, ref, _ in pairs]
    wall, report, peak, ref, ref_peak = sorted(
        pairs, key=lambda p: p[0] / (p[3]["fit"] + p[3]["recommend"])
    )[len(pairs) // 2]  # the pair with the median ratio
    print(f"\n=== speed: recdb recommend --model {name}")
    print(
        f"{int(ref['sessions']):,} sessions, {int(ref['users']):,} users with history, "
        f"{int(ref['nonzeros']):,} non-zeros"
    )
    print(report.rstrip())
    phases = re.search(r"took [\d.]+ s: (.*)$", report, re.MULTILINE)
    print("\n                                       seconds   peak GiB")
    if phases:
        for phase, value in re.findall(r"([a-z ]+?) ([\d.]+) s", phases.group(1)):
            print(f"  recommend: {phase.strip():<26}{float(value):>8.1f}")
    print(f"  recdb recommend, end to end         {wall:>8.1f}{peak:>10.2f}")
    implicit = ref["fit"] + ref["recommend"]
    print(f"  implicit ALS fit                    {ref['fit']:>8.1f}")
    print(f"  implicit ALS recommend (all users)  {ref['recommend']:>8.1f}")
    print(f"  implicit ALS fit + recommend        {implicit:>8.1f}{ref_peak:>10.2f}")
    ratio = wall / implicit
    verdict = "within" if ratio <= SPEED_TARGET else "OVER"
    print(f"ratio: {ratio:.2f} x implicit's ALS alone ({verdict} the {SPEED_TARGET} x goal)")
    if len(ratios) > 1:
        print("ratios of the repeats: " + ", ".join(f"{x:.2f}" for x in ratios))


def show_quality(evaluation: dict) -> None:
    """The evaluation table, and the default model against the goals."""
    from recommender.evaluate import Evaluation

    result = Evaluation(
        models=evaluation["models"],
        holdout=evaluation["holdout"],
        default_model=evaluation["default_model"],
        seconds=evaluation["seconds"],
    )
    print("\n=== quality: recdb evaluate (time-based hold-out, 95% bootstrap intervals)")
    print(result.table())
    name = result.default_model
    values = evaluation["models"][name]
    oracle = evaluation["models"]["oracle"]
    checks = []
    if values["vs_popularity"]:
        ratio = values["vs_popularity"]["value"]
        checks.append(
            f"{ratio:.2f}x popularity (goal >= {POPULARITY_TARGET}: "
            f"{'met' if ratio >= POPULARITY_TARGET else 'NOT met'})"
        )
    if values["vs_oracle"]:
        share = values["vs_oracle"]["value"]
        checks.append(
            f"{share:.0%} of the oracle (goal >= {ORACLE_TARGET:.0%}: "
            f"{'met' if share >= ORACLE_TARGET else 'NOT met'})"
        )
    if oracle["coverage"]:
        share = values["coverage"] / oracle["coverage"]
        checks.append(
            f"coverage {share:.0%} of the oracle's (goal >= {COVERAGE_TARGET:.0%}: "
            f"{'met' if share >= COVERAGE_TARGET else 'NOT met'})"
        )
    print(f"default model {name}: " + "; ".join(checks))
    seconds = ", ".join(f"{k} {v:.0f} s" for k, v in evaluation["seconds"].items())
    print(f"evaluation seconds: {seconds}")


if __name__ == "__main__":
    main()
