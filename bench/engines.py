"""The same data on both engines: PostgreSQL (embedded) and Spark (local[2]), step by step.

For each size, in a throwaway home: `recdb load`, `recdb build`, `recdb simulate`
(sessions / 10 users), a full build, 1% more users and the build after them, `recdb
recommend` (ALS fitted by implicit, then by Spark MLlib: `--trainer spark`), and on Spark
`recdb publish` (into the throwaway's PostgreSQL), each as a `recdb` subprocess on each
engine; prints seconds, the peak memory of the recdb process tree (Spark's JVM is in it;
the PostgreSQL server is not: bench/scale.py samples it) and the ratio Spark/PostgreSQL,
then how each step grows with the sessions (the exponent of sessions between sizes: 1 is
linear). On Spark the build after 1% rebuilds the marts whole.

    python bench/engines.py --sessions 1M,10M [--out engines.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from scale import SESSIONS_PER_USER, parse_size
from throwaway import PROJECT_DIR, catalogue_dir, throwaway_warehouse

ENGINES = ("postgres", "spark")
STEPS = (
    "load",
    "first build",
    "simulate",
    "full build",
    "simulate 1%",
    "build after 1%",
    "recommend",
    "recommend, MLlib ALS",
    "publish",
)
#: Steps that one engine has and the other has not.
ONLY_ON = {"publish": "spark"}


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants (Spark's JVM is a child)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def timed_command(engine: str, *args: str) -> dict[str, float]:
    """`recdb --engine ENGINE ARGS` as a subprocess: seconds and peak GiB of its tree."""
    env = {**os.environ, "RECDB_ENGINE": engine}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "recdb.cli", *args],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = 0
    watched = psutil.Process(child.pid)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(child.stdout), daemon=True)
    reader.start()
    while child.poll() is None:
        peak = max(peak, tree_rss(watched))
        time.sleep(0.5)
    reader.join()
    seconds = time.perf_counter() - started
    if child.returncode:
        sys.exit(f"recdb --engine {engine} {' '.join(args)} failed:\n{''.join(output)[-4000:]}")
    return {"seconds": seconds, "peak_gib": peak / 2**30}


def run_size(sessions: int, engines: tuple[str, ...] = ENGINES) -> dict:
    users = max(sessions // SESSIONS_PER_USER, 1)
    source = catalogue_dir()
    load = ["load", *(["--from", str(source)] if source else [])]
    figures: dict = {"sessions": sessions, "users": users, "steps": {}}
    with throwaway_warehouse(built=False):
        for engine in engines:
            print(f"  {engine}", flush=True)
            commands = {
                "load": load,
                # as users run it: on PostgreSQL it also records the catalogue's fingerprint,
                # so that the build after 1% leaves the unchanged catalogue out
                "first build": ["build", "--quiet"],
                "simulate": ["simulate", f"--users={users}", "--seed=1"],
                "full build": ["build", "--all", "--full-refresh", "--quiet"],
                "simulate 1%": ["simulate", f"--users={max(users // 100, 1)}", "--seed=2"],
                "build after 1%": ["build", "--quiet"],
                "recommend": ["recommend", "--model=als"],
                "recommend, MLlib ALS": ["recommend", "--model=als", "--trainer=spark"],
                "publish": ["publish"],
            }
            for step in STEPS:
                if ONLY_ON.get(step, engine) != engine:
                    continue
                measured = timed_command(engine, *commands[step])
                figures["steps"].setdefault(step, {})[engine] = measured
                print(
                    f"    {step}: {measured['seconds']:.1f} s, peak {measured['peak_gib']:.2f} GiB",
                    flush=True,
                )
    return figures


def table(results: list[dict]) -> str:
    lines = [
        "| sessions | step | PostgreSQL (s) | Spark (s) | Spark / PostgreSQL "
        "| peak GiB, PostgreSQL / Spark |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for step in STEPS:
            pg, spark = (result["steps"].get(step, {}).get(engine) for engine in ENGINES)
            if pg is None and spark is None:
                continue
            if pg is None or spark is None:
                cells = [f"{m['seconds']:,.1f}" if m else "–" for m in (pg, spark)]
                peak = next(f"{m['peak_gib']:.2f}" for m in (pg, spark) if m)
                lines.append(
                    f"| {result['sessions']:,} | {step} | {cells[0]} | {cells[1]} | – | {peak} |"
                )
                continue
            lines.append(
                f"| {result['sessions']:,} | {step} | {pg['seconds']:,.1f} | "
                f"{spark['seconds']:,.1f} | {spark['seconds'] / pg['seconds']:.2f}x | "
                f"{pg['peak_gib']:.2f} / {spark['peak_gib']:.2f} |"
            )
    for small, large in zip(results, results[1:], strict=False):
        ratio = large["sessions"] / small["sessions"]
        for engine in ENGINES:
            steps = ("simulate", "full build", "build after 1%", "recommend")
            if any(engine not in r["steps"][step] for r in (small, large) for step in steps):
                continue
            growth = ", ".join(
                f"{step} ^"
                f"{math.log(large['steps'][step][engine]['seconds'] / small['steps'][step][engine]['seconds']) / math.log(ratio):.2f}"  # noqa: E501
                for step in steps
            )
            lines.append(f"\n{engine}, {small['sessions']:,} -> {large['sessions']:,}: {growth}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1M,10M", help="sizes, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("engines.json"))
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="engines to run, comma-separated"
    )
    parser.add_argument(
        "--add-to",
        type=Path,
        help="a JSON of an earlier run whose figures these join (per size and engine)",
    )
    args = parser.parse_args()
    engines = tuple(args.engines.split(","))
    earlier = json.loads(args.add_to.read_text()) if args.add_to else []
    results = []
    for size in map(parse_size, args.sessions.split(",")):
        print(f"{size:,} sessions", flush=True)
        result = run_size(size, engines)
        for old in (r for r in earlier if r["sessions"] == size):
            for step, by_engine in old["steps"].items():
                for engine, measured in by_engine.items():
                    result["steps"].setdefault(step, {}).setdefault(engine, measured)
        results.append(result)
        args.out.write_text(json.dumps(results, indent=2))
    results += [r for r in earlier if r["sessions"] not in {x["sessions"] for x in results}]
    results.sort(key=lambda r: r["sessions"])
    print("\n" + table(results))


if __name__ == "__main__":
    main()
