"""Benchmark: recdb as containers vs recdb from its virtual environment.

    python bench/containers.py [--users 2000] [--base localhost/debian:bookworm] [--cold]

In the same run:
* the images: each target of the Containerfile built (timed; ``--cold``: without
  podman's layer cache, as on a new machine) and its size;
* the stack: ``podman-compose up -d`` of compose.yaml in a clone of the project (what
  is committed), timed
  until the API answers ``/v1/health``, until the pipeline (``recdb demo --users N``)
  has finished and until the docs answer; then ``down --volumes``;
* reference: ``recdb demo --users N`` on a throwaway embedded server, as one person
  runs recdb (its main job, the pipeline's).
Prints the figures and the pipeline's ratio to the reference. Needs what
``.ci/container-base`` needs (root, or podman and a base image already there).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
TARGETS = ("db", "api", "pipeline")


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 1800) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        sys.exit(f"{' '.join(args[:4])} … failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--base", default="localhost/debian:bookworm")
    parser.add_argument("--cold", action="store_true", help="build without the layer cache")
    args = parser.parse_args()

    env = dict(os.environ)
    started = time.perf_counter()
    base = run([str(PROJECT_DIR / ".ci" / "container-base")], env, PROJECT_DIR)
    env["CONTAINERS_CONF"] = base.strip().splitlines()[-1].partition("=")[2]
    print(f"base image ready: {time.perf_counter() - started:.1f} s")

    folder = Path(tempfile.mkdtemp(prefix="recdb-bench-")) / "recdb"
    run(["git", "clone", "--quiet", str(PROJECT_DIR), str(folder)], env, PROJECT_DIR)
    images = {target: f"localhost/recdb-{target}:bench" for target in TARGETS}
    rows = []
    for target in TARGETS:
        cache = ["--no-cache"] if args.cold else []
        began = time.perf_counter()
        run(["podman", "build", "--quiet", *cache, "--target", target,
             "--build-arg", f"BASE_IMAGE={args.base}", "-t", images[target],
             "-f", "Containerfile", "."], env, folder)  # fmt: skip
        seconds = time.perf_counter() - began
        size = int(run(["podman", "image", "inspect", "--format", "{{.Size}}", images[target]],
                       env, folder))  # fmt: skip
        rows.append((target, seconds, size / 10**6))

    api_port, docs_port = "18000", "18080"
    key = secrets.token_urlsafe(24)
    env |= {
        "COMPOSE_PROJECT_NAME": "recdbbench",
        "RECDB_BASE_IMAGE": args.base,
        "RECDB_API_IMAGE": images["api"],
        "RECDB_PIPELINE_IMAGE": images["pipeline"],
        "RECDB_DB_IMAGE": images["db"],
        "RECDB_DEMO_USERS": str(args.users),
        "RECDB_API_PORT": api_port,
        "RECDB_DOCS_PORT": docs_port,
        "RECDB_API_KEYS": f"{key}:analyst",
        **{
            name: secrets.token_urlsafe(24)
            for name in ("POSTGRES_PASSWORD", "RECDB_OWNER_PASSWORD",
                         "RECDB_ANALYST_PASSWORD", "RECDB_SCIENTIST_PASSWORD")
        },
    }  # fmt: skip
    compose = str(Path(sys.executable).parent / "podman-compose")
    began = time.perf_counter()
    run([compose, "up", "-d"], env, folder)
    marks: dict[str, float] = {}
    pipeline = "recdbbench_pipeline_1"
    while len(marks) < 3 and time.perf_counter() - began < 1800:
        now = time.perf_counter() - began
        if "api" not in marks and answers(f"http://127.0.0.1:{api_port}/v1/health"):
            marks["api"] = now
        if "docs" not in marks and answers(f"http://127.0.0.1:{docs_port}/"):
            marks["docs"] = now
        state = run(["podman", "inspect", "--format", "{{.State.Status}}", pipeline], env, folder)
        if "pipeline" not in marks and state.strip() == "exited":
            marks["pipeline"] = now
        time.sleep(0.5)
    code = run(["podman", "inspect", "--format", "{{.State.ExitCode}}", pipeline], env, folder)
    logs = subprocess.run(["podman", "logs", pipeline], env=env, capture_output=True, text=True)
    run([compose, "down", "--volumes"], env, folder)
    if code.strip() != "0":
        sys.exit(f"the pipeline failed:\n{(logs.stdout + logs.stderr)[-3000:]}")

    home = Path(tempfile.mkdtemp(prefix="recdb-bench-home-"))
    reference_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "RECDB_"))}
    reference_env["RECDB_HOME"] = str(home)
    recdb = str(Path(sys.executable).parent / "recdb")
    began = time.perf_counter()
    run([recdb, "demo", "--users", str(args.users)], reference_env, PROJECT_DIR)
    reference = time.perf_counter() - began
    run([recdb, "db", "stop"], reference_env, PROJECT_DIR)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(folder.parent, ignore_errors=True)

    print(f"\nimages (base {args.base}{', cold' if args.cold else ''}):")
    print("| target | build (s) | size (MB) |\n| --- | --- | --- |")
    for target, seconds, megabytes in rows:
        print(f"| {target} | {seconds:.1f} | {megabytes:.0f} |")
    print(f"\npodman-compose up -d, {args.users} users (seconds from the command):")
    for what, label in (("api", "API healthy"), ("docs", "docs answer"),
                        ("pipeline", "pipeline finished")):  # fmt: skip
        print(f"  {label}: {marks.get(what, float('nan')):.1f}")
    print(f"  reference, recdb demo --users {args.users} (embedded server): {reference:.1f}")
    if "pipeline" in marks:
        print(f"  stack to a finished pipeline / reference: {marks['pipeline'] / reference:.2f}x")


if __name__ == "__main__":
    main()
