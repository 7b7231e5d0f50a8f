"""Benchmark: `recdb simulate --users N`, generation and persistence, phase by phase.

    python bench/simulate.py [--users 1000000] [--seed 1] [--in-process]

Starts a throwaway embedded server, loads the catalogue (the real one in
../shared/data/netflix when present, else the project's own) and builds the
marts; then runs `recdb simulate --users N` as a subprocess (the real
command: start-up, imports, reading the catalogue, generating, writing
everything through python_api in one transaction) and prints the wall time,
the command's own phase breakdown and the rows persisted. The target is
1,000,000 users (about 10 million sessions) in under two minutes.
--in-process calls `simulation.simulate()` directly instead of the command.
"""

from __future__ import annotations

import argparse
import re
import time

from throwaway import catalogue_dir, recdb_command, throwaway_warehouse

from recdb.core.connection import connection_settings

TARGET_SECONDS = 120


def run_command(users: int, seed: int) -> tuple[float, str]:
    """`recdb simulate` in a subprocess: wall seconds and its report."""
    return recdb_command("simulate", f"--users={users}", f"--seed={seed}")


def run_in_process(users: int, seed: int) -> tuple[float, str]:
    from simulation import simulate

    started = time.perf_counter()
    report = simulate(users, seed)
    return time.perf_counter() - started, report.describe()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()

    source_dir = catalogue_dir()
    with throwaway_warehouse():
        runner = run_in_process if args.in_process else run_command
        seconds, report = runner(args.users, args.seed)
        with connection_settings("owner").connect() as conn:
            stored = {
                table: conn.execute(f"select count(*) from sim.{table}").fetchone()[0]
                for table in ("users", "user_tastes", "sessions", "ratings")
            }

    how = "simulation.simulate()" if args.in_process else "recdb simulate (subprocess)"
    print(f"\n{how} --users {args.users:,} --seed {args.seed}")
    print(f"catalogue: {source_dir or 'the project catalogue (seeds/netflix)'}")
    print(report.rstrip())
    phases = re.search(r"took [\d.]+ s: (.*)$", report, re.MULTILINE)
    if phases:
        print("\nphase                      seconds")
        for name, value in re.findall(r"([a-z_ ]+?) ([\d.]+) s", phases.group(1)):
            print(f"  {name.strip():<24}{float(value):>9.1f}")
    print("\npersisted: " + ", ".join(f"sim.{t} {n:,}" for t, n in stored.items()))
    verdict = "under" if seconds < TARGET_SECONDS else "OVER"
    print(f"total wall time: {seconds:.1f} s ({verdict} the {TARGET_SECONDS} s target)")


if __name__ == "__main__":
    main()
