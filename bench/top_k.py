"""Benchmark: the recommender's exact top-k against implicit's own, on the same factors.

    python bench/top_k.py [--users 100000] [--titles 6000] [--factors 64] [--k 10]

recommender.model.top_k is hand-written where implicit has ``implicit.cpu.topk.topk``
(what ``AlternatingLeastSquares.recommend`` calls); it stays only while this shows it
faster. Random factors, each user's seen titles filtered out; the same threads for both.
Prints seconds, the ratio, and the share of identical lists.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from implicit.cpu.topk import topk

from recommender.model import top_k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--titles", type=int, default=6_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="0: every core")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    users = rng.normal(size=(args.users, args.factors)).astype(np.float32)
    titles = rng.normal(size=(args.titles, args.factors)).astype(np.float32)
    seen = sp.random(args.users, args.titles, density=0.005, format="csr", random_state=1)

    started = time.perf_counter()
    reference_ids, _ = topk(
        titles, users, args.k, filter_query_items=seen, num_threads=args.threads
    )
    reference = time.perf_counter() - started
    started = time.perf_counter()
    ids, _ = top_k(users, titles, seen, args.k, args.threads)
    ours = time.perf_counter() - started

    print(f"{args.users:,} users x {args.titles:,} titles, {args.factors} factors, top {args.k}")
    print(f"implicit.cpu.topk.topk (reference): {reference:8.2f} s")
    print(f"recommender.model.top_k:            {ours:8.2f} s   ({ours / reference:.2f}x)")
    print(f"identical lists: {np.mean((ids == reference_ids).all(axis=1)):.2%}")


if __name__ == "__main__":
    main()
