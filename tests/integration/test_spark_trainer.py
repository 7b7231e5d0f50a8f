"""ALS fitted by Spark MLlib (``als.trainer = "spark"``), with real Spark (local[2]): the
factors it brings back, the lists they rank against implicit's on a planted problem, its
determinism, the config key and the commands' ``--trainer``.

The SparkSession is the process's (recdb/core/spark.py): started here in a home of the
module's own when no other test started it first, reused (and left running) when one did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from recdb.cli import main
from recdb.core import spark as spark_engine
from recommender.config import RecommenderConfig, load_config
from recommender.errors import RecommenderConfigError
from recommender.evaluate import model_rows, row_name
from recommender.model import rank_rows
from recommender.models import TrainingData
from recommender.models.factors import TRAINERS, Als
from recommender.models.spark_als import mllib_reg_param

pytestmark = [pytest.mark.integration, pytest.mark.spark]

USERS, TITLES, GROUPS = 300, 60, 2
HISTORY, HELD_OUT, K = 12, 2, 10


@pytest.fixture(scope="module")
def spark(tmp_path_factory) -> Iterator[object]:
    """The process's SparkSession: one of this module's (its own home, a 1 GB driver)
    unless one runs already; stopped afterwards only if it is this module's."""
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    with pytest.MonkeyPatch.context() as patch:  # read when the session starts only
        patch.setenv("RECDB_HOME", str(tmp_path_factory.mktemp("spark-trainer") / "home"))
        patch.setenv("RECDB_SPARK_DRIVER_MEMORY", "1g")
        patch.delenv("RECDB_SPARK_MASTER", raising=False)
        session = spark_engine.session()
    try:
        yield session
    finally:
        if running is None:
            session.stop()


@dataclass(frozen=True)
class Planted:
    """Two taste groups of users and titles: a user watches mostly their group's titles."""

    data: TrainingData
    held_out: sp.csr_matrix  # users x titles, ones: what each user watched afterwards
    user_group: np.ndarray
    title_group: np.ndarray


def planted(seed: int = 3) -> Planted:
    """USERS users with HISTORY titles each, all but one from their own group (by
    popularity within it), HELD_OUT of the own-group ones held out; a few titles and the
    last users have no pairs at all."""
    rng = np.random.default_rng(seed)
    title_group = np.arange(TITLES) % GROUPS
    user_group = rng.integers(GROUPS, size=USERS)
    popularity = 1.0 / (np.arange(TITLES) + 5.0)
    popularity[-3:] = 0.0  # titles no one watched: zero factors
    train_rows, train_cols, test_rows, test_cols = [], [], [], []
    for user in range(USERS - 5):  # the last five users watched nothing
        own = np.flatnonzero(title_group == user_group[user])
        other = np.flatnonzero(title_group != user_group[user])
        weights = popularity[own] / popularity[own].sum()
        mine = rng.choice(own, size=HISTORY - 1, replace=False, p=weights)
        stray = rng.choice(other, size=1, p=popularity[other] / popularity[other].sum())
        train_rows += [user] * (HISTORY - 1 - HELD_OUT)
        train_cols += [*mine[HELD_OUT:-1], *stray]
        train_rows.append(user)
        train_cols.append(mine[-1])
        test_rows += [user] * HELD_OUT
        test_cols += list(mine[:HELD_OUT])
    values = 1.0 + 2.0 * (1.0 + rng.exponential(0.5, size=len(train_rows)))
    confidence = sp.csr_matrix(
        (values.astype(np.float32), (train_rows, train_cols)), shape=(USERS, TITLES)
    )
    seen = confidence.copy()
    seen.data[:] = 1.0
    held_out = sp.csr_matrix(
        (np.ones(len(test_rows), np.float32), (test_rows, test_cols)), shape=(USERS, TITLES)
    )
    data = TrainingData(
        confidence=confidence,
        seen=seen,
        viewers=np.asarray(seen.sum(axis=0)).ravel(),
        titles=None,  # Als.fit reads the confidence (and threads) only
        best_of=np.zeros(TITLES),
        threads=2,
    )
    return Planted(data, held_out, user_group, title_group)


def als_config(trainer: str) -> RecommenderConfig:
    """A small ALS: few factors and iterations, for a test's time."""
    return load_config(
        overrides={
            "als.factors": 4,
            "als.iterations": 8,
            "als.regularization": 5.0,
            "als.trainer": trainer,
        }
    )


def quality(problem: Planted, model: Als) -> tuple[float, float, np.ndarray]:
    """(precision@10 of the held-out titles, share of the top 10 in the user's own group,
    the top 10s) over the users with history."""
    rows = np.flatnonzero(np.diff(problem.data.seen.indptr) > 0)
    top, _ = rank_rows(model, rows, problem.data.seen, K, threads=2)
    hits = np.asarray(problem.held_out[rows[:, None], top].todense()) > 0
    own = problem.title_group[top] == problem.user_group[rows, None]
    return float(hits.mean()), float(own.mean()), top


@pytest.fixture(scope="module")
def problem() -> Planted:
    return planted()


@pytest.fixture(scope="module")
def fitted(spark, problem) -> dict[str, Als]:
    """ALS by each trainer on the planted problem."""
    return {
        trainer: Als.fit(problem.data, als_config(trainer).als)  # type: ignore[misc]
        for trainer in TRAINERS
    }


def test_spark_factors_have_the_matrix_shapes_and_zeros_where_there_are_no_pairs(fitted, problem):
    model = fitted["spark"]
    assert isinstance(model, Als) and model.config.trainer == "spark"
    assert model.user_factors.shape == (USERS, 4) and model.user_factors.dtype == np.float32
    assert model.item_factors.shape == (TITLES, 4) and model.item_factors.dtype == np.float32
    empty_users = np.diff(problem.data.confidence.indptr) == 0
    empty_titles = np.diff(problem.data.confidence.tocsc().indptr) == 0
    assert empty_users.sum() == 5 and empty_titles.sum() >= 3
    assert not model.user_factors[empty_users].any()
    assert not model.item_factors[empty_titles].any()
    assert np.abs(model.user_factors[~empty_users]).sum(axis=1).min() > 0
    assert np.abs(model.item_factors[~empty_titles]).sum(axis=1).min() > 0
    # the saved arrays load back as the same model
    again = Als.from_arrays(model.arrays(), model.config)
    assert np.array_equal(again.user_factors, model.user_factors)


def test_spark_lists_exclude_only_what_was_watched(fitted, problem):
    _, _, top = quality(problem, fitted["spark"])
    rows = np.flatnonzero(np.diff(problem.data.seen.indptr) > 0)
    seen = problem.data.seen[rows]
    assert (top >= 0).all()  # every list is full: 60 titles, at most 12 watched
    assert all(len(set(row)) == K for row in top)
    assert not np.asarray(seen[np.arange(len(rows))[:, None], top].todense()).any()
    # nothing unwatched is left out: the held-out titles are ranked, and often
    held = problem.held_out[rows]
    assert np.asarray(held[np.arange(len(rows))[:, None], top].todense()).sum() > 0


def test_spark_recovers_the_planted_groups_as_well_as_implicit(fitted, problem):
    """Chance puts half of a top 10 in the user's group, and held-out titles in it with
    precision 2/47; both trainers must do far better (each gives about 0.98 and 0.15 on
    seeds 1 to 5; Spark with regParam = λ / mean pairs per user gave 0.05 and 0.0001 on
    bench/trainers.py's problem), and Spark within a margin of implicit."""
    implicit_precision, implicit_own, _ = quality(problem, fitted["implicit"])
    spark_precision, spark_own, _ = quality(problem, fitted["spark"])
    chance = HELD_OUT / (TITLES - HISTORY + HELD_OUT - 3)
    for precision, own in ((implicit_precision, implicit_own), (spark_precision, spark_own)):
        assert own >= 0.9
        assert precision >= 3 * chance
    assert spark_own >= implicit_own - 0.05
    assert spark_precision >= implicit_precision - 0.02


def test_the_same_seed_gives_the_same_spark_factors(spark, fitted, problem):
    again = Als.fit(problem.data, als_config("spark").als)
    first = fitted["spark"]
    # Bit for bit on local[2] (two blocks); MLlib sums each side's Gram matrix over the
    # blocks in the order their tasks end, so with more blocks the last bits may differ
    np.testing.assert_allclose(again.user_factors, first.user_factors, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(again.item_factors, first.item_factors, rtol=1e-3, atol=1e-5)
    other = Als.fit(problem.data, als_config("spark").with_overrides({"als.seed": 7}).als)
    assert not np.allclose(other.user_factors, first.user_factors, rtol=1e-3, atol=1e-5)


def test_the_reg_param_mapping_is_the_geometric_mean_of_pairs_per_user_and_title(problem):
    confidence = problem.data.confidence
    per_user = confidence.nnz / (USERS - 5)
    per_title = confidence.nnz / np.count_nonzero(np.diff(confidence.tocsc().indptr))
    expected = 5.0 / np.sqrt(per_user * per_title)
    assert mllib_reg_param(confidence, 5.0) == pytest.approx(expected)
    assert mllib_reg_param(sp.csr_matrix((3, 4), dtype=np.float32), 5.0) == 5.0


def test_the_trainer_key_round_trips_and_a_bad_one_is_a_config_error(tmp_path):
    assert load_config().als.trainer == "implicit"
    path = tmp_path / "spark.toml"
    path.write_text('[als]\ntrainer = "spark"\n')
    config = load_config(path)
    assert config.als.trainer == "spark"
    assert load_config(overrides=config.to_dict()) == config
    assert RecommenderConfig.model_validate(config.to_dict()).als.trainer == "spark"
    path.write_text('[als]\ntrainer = "mllib"\n')
    with pytest.raises(RecommenderConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"recommender config {path}: als.trainer: unknown value 'mllib' "
        "(allowed: 'implicit' or 'spark')"
    )


def test_evaluation_rows_are_named_by_trainer():
    config = load_config()
    rows = model_rows(["als", "content", "hybrid"], config, ["implicit", "spark"])
    assert [(name, model) for name, model, _ in rows] == [
        ("als", "als"),
        ("als (spark)", "als"),
        ("content", "content"),
        ("hybrid", "hybrid"),  # its collaborative part is item_knn: no ALS to train
    ]
    assert [each.als.trainer for _, _, each in rows[:2]] == ["implicit", "spark"]
    on_als = config.with_overrides({"hybrid.collaborative": "als", "als.trainer": "spark"})
    assert row_name("hybrid", on_als) == "hybrid (spark)"
    assert [name for name, _, _ in model_rows(["hybrid"], on_als)] == ["hybrid (spark)"]


def test_trainer_appears_in_the_commands_help():
    runner = CliRunner()
    for command in ("recommend", "evaluate"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "--trainer [implicit|spark]" in result.output


def test_recommend_refuses_a_trainer_for_a_model_without_als():
    result = CliRunner().invoke(main, ["recommend", "--model", "ease", "--trainer", "spark"])
    assert result.exit_code == 2
    assert "--trainer chooses who fits ALS, and ease does not fit it" in result.output
