"""Benchmark: ALS fitted by implicit and by Spark MLlib (``als.trainer``) on the same matrix.

    RECDB_SPARK_DRIVER_MEMORY=4g python bench/trainers.py [--users 200000] [--titles 5800]
        [--pairs 2000000] [--factors 16] [--iterations 15] [--regularization 30]
        [--compare-mappings]

A synthetic implicit-feedback matrix with planted tastes: each title belongs to one of
``--groups`` groups, each user to one, and a user's titles are drawn by popularity
(Zipf-like) times ``--affinity`` for titles of their own group; confidences are
1 + 2 * strength as the confidence formula makes them. A random fifth of each user's
pairs is held out. Both trainers fit the rest through ``Als.fit`` (the same config,
seed and factors; Spark in recdb's session, ``RECDB_SPARK_MASTER``, default local[2]:
its start is timed apart); then each ranks a sample of users' unseen titles and is
scored by precision@10 of the held-out pairs and by the share of its top 10 in the
user's planted group. Prints seconds, the ratio and both figures for each trainer.

``--compare-mappings`` fits Spark three more times, with regParam = λ / √(mean pairs per
user x mean pairs per title) (the trainer's), λ / (mean pairs per user) and
λ / (mean pairs per title): the evidence for the mapping recommender/models/spark_als.py
uses. On a 2-core machine, local[2], the defaults (1.5M training pairs after repeats
and the hold-out are taken out; 16 factors, 15 iterations, λ = 30):

    implicit  fit     9.0 s (  1.0x)   precision@10 0.0353   own-group share of top 10 0.604
    spark     fit    77.4 s (  8.6x)   precision@10 0.0376   own-group share of top 10 0.689
    mean pairs per user 7.7, per title 263.1
    spark regParam λ/√(user·title)  =   0.6679: precision@10 0.0376   own-group share 0.689
    spark regParam λ/user           =    3.912: precision@10 0.0001   own-group share 0.049
    spark regParam λ/title          =    0.114: precision@10 0.0358   own-group share 0.615

(Spark's first fit includes the JVM's warm-up: the same fit again took 50 s.)

$RECDB_HOME defaults to a temporary folder here (Spark's metastore and warehouse go
there; nothing is written to them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

K = 10


@dataclass(frozen=True)
class Planted:
    """A planted problem: training and held-out confidences, and the groups."""

    train: sp.csr_matrix
    test: sp.csr_matrix
    user_group: np.ndarray
    title_group: np.ndarray


def planted(
    users: int,
    titles: int,
    pairs: int,
    *,
    groups: int = 20,
    affinity: float = 30.0,
    holdout: float = 0.2,
    seed: int = 0,
) -> Planted:
    """About ``pairs`` (user, title) pairs of ``users`` x ``titles`` with planted groups."""
    rng = np.random.default_rng(seed)
    popularity = rng.permutation(1.0 / (np.arange(titles) + 10.0) ** 0.8)
    title_group = rng.integers(groups, size=titles)
    user_group = rng.integers(groups, size=users)
    # Lognormal history lengths (a few heavy users, many light ones), at least two each.
    lengths = rng.lognormal(0.0, 0.8, size=users)
    lengths = np.clip(np.round(lengths * pairs / lengths.sum()), 2, titles // 4).astype(np.int64)
    rows, cols = [], []
    for group in range(groups):
        members = np.flatnonzero(user_group == group)
        weights = popularity * np.where(title_group == group, affinity, 1.0)
        draws = rng.choice(titles, size=int(lengths[members].sum()), p=weights / weights.sum())
        rows.append(np.repeat(members, lengths[members]))
        cols.append(draws)
    row, col = np.concatenate(rows), np.concatenate(cols)
    # Repeated draws of a pair are one pair (its strength drawn once below).
    ones = sp.csr_matrix((np.ones(len(row), np.float32), (row, col)), shape=(users, titles))
    ones.sum_duplicates()
    ones.data[:] = 1.0
    coo = ones.tocoo()
    confidence = 1.0 + 2.0 * (1.0 + rng.exponential(0.5, size=coo.nnz))
    held = rng.random(coo.nnz) < holdout

    def part(mask: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(
            (confidence[mask].astype(np.float32), (coo.row[mask], coo.col[mask])),
            shape=(users, titles),
        )

    return Planted(part(~held), part(held), user_group, title_group)


def quality(
    problem: Planted, user_factors: np.ndarray, item_factors: np.ndarray, *, sample: int = 20_000
) -> tuple[float, float]:
    """(precision@10 of the held-out pairs, share of the top 10 in the user's own group),
    means over a seeded sample of the users with both training and held-out pairs."""
    train, test = problem.train, problem.test
    eligible = np.flatnonzero((np.diff(train.indptr) > 0) & (np.diff(test.indptr) > 0))
    rng = np.random.default_rng(1)
    users = np.sort(rng.choice(eligible, size=min(sample, len(eligible)), replace=False))
    hits = same_group = 0.0
    for start in range(0, len(users), 5_000):
        batch = users[start : start + 5_000]
        scores = user_factors[batch] @ item_factors.T
        scores[train[batch].nonzero()] = -np.inf  # seen titles are never recommended
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        held = test[batch]
        hits += float(np.asarray(held[np.arange(len(batch))[:, None], top].todense() > 0).sum())
        same_group += float((problem.title_group[top] == problem.user_group[batch, None]).sum())
    return hits / (len(users) * K), same_group / (len(users) * K)


def _training_data(confidence: sp.csr_matrix) -> object:
    from recommender.models import TrainingData

    seen = confidence.copy()
    seen.data[:] = 1.0
    viewers = np.bincount(confidence.indices, minlength=confidence.shape[1])
    # Als.fit reads only the confidence and the threads; the rest is what the type asks.
    return TrainingData(
        confidence=confidence,
        seen=seen,
        viewers=viewers,
        titles=None,  # type: ignore[arg-type]
        best_of=np.zeros(confidence.shape[1]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--titles", type=int, default=5_800)
    parser.add_argument("--pairs", type=int, default=2_000_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--affinity", type=float, default=30.0)
    parser.add_argument("--factors", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=30.0)
    parser.add_argument("--compare-mappings", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RECDB_HOME", tempfile.mkdtemp(prefix="recdb-bench-"))

    from recdb.core import spark as spark_engine
    from recommender.config import load_config
    from recommender.models.factors import Als
    from recommender.models.spark_als import fit_factors, mllib_reg_param

    started = time.perf_counter()
    problem = planted(
        args.users, args.titles, args.pairs, groups=args.groups, affinity=args.affinity
    )
    train = problem.train
    print(
        f"{args.users:,} users x {args.titles:,} titles: {train.nnz:,} training pairs, "
        f"{problem.test.nnz:,} held out ({time.perf_counter() - started:.1f} s to make)"
    )
    config = load_config(
        overrides={
            "als.factors": args.factors,
            "als.iterations": args.iterations,
            "als.regularization": args.regularization,
        }
    )
    data = _training_data(train)

    started = time.perf_counter()
    implicit_model = Als.fit(data, config.als)  # type: ignore[arg-type]
    implicit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    spark = spark_engine.session()
    start_seconds = time.perf_counter() - started
    print(f"Spark started in {start_seconds:.1f} s (master {spark.sparkContext.master})")
    spark_config = config.with_overrides({"als.trainer": "spark"})
    started = time.perf_counter()
    spark_model = Als.fit(data, spark_config.als)  # type: ignore[arg-type]
    spark_seconds = time.perf_counter() - started

    print(
        f"{args.factors} factors, {args.iterations} iterations, "
        f"regularization {args.regularization:g}"
    )
    rows = [("implicit", implicit_seconds, implicit_model), ("spark", spark_seconds, spark_model)]
    for name, seconds, model in rows:
        precision, group = quality(problem, model.user_factors, model.item_factors)
        ratio = seconds / implicit_seconds
        print(
            f"{name:<9} fit {seconds:7.1f} s ({ratio:5.1f}x)   precision@10 {precision:.4f}"
            f"   own-group share of top 10 {group:.3f}"
        )
    if args.compare_mappings:
        pairs = train.nnz
        per_user = pairs / np.count_nonzero(np.diff(train.indptr))
        per_title = pairs / len(np.unique(train.indices))
        mappings = {
            "λ/√(user·title)": mllib_reg_param(train, args.regularization),
            "λ/user": args.regularization / per_user,
            "λ/title": args.regularization / per_title,
        }
        print(f"mean pairs per user {per_user:.1f}, per title {per_title:.1f}")
        for name, reg_param in mappings.items():
            started = time.perf_counter()
            users, items = fit_factors(train, spark_config.als, reg_param=reg_param)
            seconds = time.perf_counter() - started
            precision, group = quality(problem, users, items)
            print(
                f"spark regParam {name:<16} = {reg_param:8.4g}: precision@10 {precision:.4f}"
                f"   own-group share {group:.3f}   ({seconds:.1f} s)"
            )


if __name__ == "__main__":
    main()
