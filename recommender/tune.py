"""``recdb tune``: choose a model's hyper-parameters on a validation period, never the test's.

The test period of ``recdb evaluate`` (the latest ``evaluation.holdout_share`` of
the sessions) is set aside first, untouched. The sessions before it are split
again the same way: their latest ``evaluation.validation_share`` is the
validation period, the rest what each trial learns from. Trial 1 is the config
as given; the others draw the model's hyper-parameters at random from its
search space (:attr:`recommender.models.Ranker.space`), seeded by
``evaluation.seed``, so the same data, config and budget give the same trials.
The trial with the highest validation ndcg@10 wins (the earliest on a tie).

A hybrid's trials draw only its own knobs (``hybrid.*``); its parts keep the
config's values, so tune ``content`` and the collaborative model first.
"""

from __future__ import annotations

import json
import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import python_api
from recommender import metrics, models
from recommender.config import RecommenderConfig, as_config
from recommender.data import Dataset
from recommender.errors import RecommenderError
from recommender.evaluate import K, rank_users
from recommender.holdout import Holdout, holdout, read_cutoff, read_holdout, split_sessions
from recommender.pipeline import prepare

logger = logging.getLogger(__name__)

MAX_BUDGET = 1000


@dataclass(frozen=True)
class Trial:
    """One set of hyper-parameters and its validation ndcg@10."""

    number: int
    params: dict[str, Any]  # dotted keys: {"ease.regularization": 500.0}
    ndcg: float
    seconds: float


@dataclass(frozen=True)
class Tuning:
    """Every trial of a ``recdb tune``, the winner, and the validation split."""

    model: str
    trials: list[Trial]
    validation: dict[str, Any]
    seed: int
    seconds: float = 0.0

    @property
    def best(self) -> Trial:
        """The trial with the highest validation ndcg@10 (the earliest on a tie)."""
        return max(self.trials, key=lambda t: (t.ndcg, -t.number))

    @property
    def baseline(self) -> Trial:
        """Trial 1: the config as given."""
        return self.trials[0]

    def to_json(self) -> dict[str, Any]:
        """The tuning as JSON: model, chosen parameters, trials, validation split."""
        return {
            "model": self.model,
            "chosen": self.best.params,
            "validation_ndcg@10": self.best.ndcg,
            "baseline_ndcg@10": self.baseline.ndcg,
            "seed": self.seed,
            "trials": [vars(trial) for trial in self.trials],
            "validation": self.validation,
            "seconds": round(self.seconds, 3),
        }

    def toml(self) -> str:
        """A recommender config of the chosen parameters (for ``--config``)."""
        sections: dict[str, dict[str, Any]] = {}
        for key, value in self.best.params.items():
            section, _, name = key.partition(".")
            sections.setdefault(section, {})[name] = value
        lines = [
            f"# recdb tune --model {self.model}: validation ndcg@10 {self.best.ndcg:.4f} "
            f"(the config as given: {self.baseline.ndcg:.4f}), trial {self.best.number} "
            f"of {len(self.trials)}.",
            f"# Use it with `recdb recommend --model {self.model} --config FILE`.",
            "",
            "[recommend]",
            f'model = "{self.model}"',
        ]
        for section, values in sections.items():
            lines += ["", f"[{section}]"]
            lines += [f"{name} = {_toml_value(value)}" for name, value in values.items()]
        return "\n".join(lines) + "\n"

    def table(self) -> str:
        """The trials, best first, as text."""
        keys = list(self.best.params)
        head = f"{'trial':>6}{'ndcg@10':>10}{'seconds':>9}  " + "  ".join(keys)
        lines = [head]
        ranked = sorted(self.trials, key=lambda t: (-t.ndcg, t.number))
        for trial in ranked:
            values = "  ".join(f"{_toml_value(trial.params[k]):>{len(k)}}" for k in keys)
            lines.append(f"{trial.number:>6}{trial.ndcg:>10.4f}{trial.seconds:>9.1f}  {values}")
        held = self.validation
        lines.append(
            f"best: trial {self.best.number}, validation ndcg@10 {self.best.ndcg:.4f} "
            f"(trial 1, the config as given: {self.baseline.ndcg:.4f}); "
            f"{held['test_users_evaluated']:,} validation users after {held['cutoff']}"
        )
        return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def validation_split(dataset: Dataset, config: RecommenderConfig) -> Holdout:
    """The validation split: the test period set aside, the rest split again."""
    evaluation = config.evaluation
    train_mask, _ = split_sessions(dataset.sessions, evaluation.holdout_share)
    before_test = Dataset(dataset.titles, dataset.user_ids, dataset.sessions.subset(train_mask))
    return holdout(
        before_test,
        evaluation.validation_share,
        max_users=evaluation.max_users,
        seed=evaluation.seed,
        period="validation",
        option="evaluation.validation_share",
    )


def read_validation_split(warehouse: python_api.Warehouse, config: RecommenderConfig) -> Holdout:
    """:func:`validation_split` of the marts, in the database (pairs, not sessions)."""
    evaluation = config.evaluation
    test_cutoff, _, _ = read_cutoff(warehouse, evaluation.holdout_share)
    return read_holdout(
        warehouse,
        evaluation.validation_share,
        max_users=evaluation.max_users,
        seed=evaluation.seed,
        end=test_cutoff,
        period="validation",
        option="evaluation.validation_share",
    )


def draw_trials(model: str, budget: int, config: RecommenderConfig) -> list[dict[str, Any]]:
    """The parameters of each trial: the config's, then ``budget - 1`` seeded draws."""
    section = models.MODELS[models.check_model(model)]
    current = config.to_dict()[model]
    rng = np.random.default_rng(config.evaluation.seed)
    trials = [{f"{model}.{name}": current[name] for name in section.space}]
    for _ in range(budget - 1):
        trials.append({f"{model}.{name}": p.draw(rng) for name, p in section.space.items()})
    return trials


def tune_dataset(
    dataset: Dataset,
    model: str,
    budget: int,
    config: RecommenderConfig,
    *,
    progress: Callable[[str, float], None] | None = None,
) -> Tuning:
    """Run ``budget`` trials of ``model`` on ``dataset``'s validation split. Pure."""
    _check_budget(model, budget)
    started = time.perf_counter()
    split = validation_split(dataset, config)
    return tune_split(split, model, budget, config, progress=progress, started=started)


def _check_budget(model: str, budget: int) -> None:
    models.check_model(model)
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= MAX_BUDGET:
        raise RecommenderError(f"--budget: {budget!r} is not allowed (allowed: 1 to {MAX_BUDGET})")


def tune_split(
    split: Holdout,
    model: str,
    budget: int,
    config: RecommenderConfig,
    *,
    progress: Callable[[str, float], None] | None = None,
    started: float | None = None,
) -> Tuning:
    """Run ``budget`` trials of ``model`` on a validation split (:func:`validation_split`'s,
    or the marts' :func:`read_validation_split`). Pure."""
    started = time.perf_counter() if started is None else started
    # the trials' knobs only; never a title nobody could watch in the validation period
    prepared = prepare(split.training, config, k=K, model=model, excluded=split.unavailable())
    title_count = split.training.titles.size
    trials = []
    for number, params in enumerate(draw_trials(model, budget, config), start=1):
        if progress is not None:
            progress(f"trial {number}/{budget}", (number - 1) / budget)
        trial_started = time.perf_counter()
        trial_config = config.with_overrides(params)
        fitted = prepared.fit(model, trial_config)
        top = rank_users(fitted, split.test_user_ids, K)
        ndcg = float(metrics.per_user_metrics(top, split.relevant, title_count)["ndcg"].mean())
        trials.append(Trial(number, params, ndcg, time.perf_counter() - trial_started))
        logger.info("trial %d: ndcg@10 %.4f with %s", number, ndcg, params)
    return Tuning(
        model=model,
        trials=trials,
        validation=split.describe() | {"validation_share": config.evaluation.validation_share},
        seed=config.evaluation.seed,
        seconds=time.perf_counter() - started,
    )


def tune(
    model: str,
    budget: int,
    out_dir: Path | str | None = None,
    config: RecommenderConfig | Path | str | None = None,
    *,
    warehouse: python_api.Warehouse | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Tuning:
    """Tune ``model`` on the marts with ``budget`` trials; write ``out_dir``/``<model>.toml``
    (the chosen parameters, a config for ``--config``) and ``tuning-<model>.json`` (every
    trial)."""
    config = as_config(config)
    _check_budget(model, budget)
    started = time.perf_counter()
    own_connection = warehouse is None
    if own_connection:
        warehouse = python_api.connect(role="scientist")
    try:
        split = read_validation_split(warehouse, config)
    finally:
        if own_connection:
            warehouse.close()
    tuning = tune_split(split, model, budget, config, progress=progress, started=started)
    if out_dir is not None:
        write_outputs(tuning, Path(out_dir))
    return tuning


def write_outputs(tuning: Tuning, out_dir: Path) -> tuple[Path, Path]:
    """``<model>.toml`` and ``tuning-<model>.json`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    toml_path = out_dir / f"{tuning.model}.toml"
    text = tuning.toml()
    tomllib.loads(text)  # what it writes, a config loads
    toml_path.write_text(text, encoding="utf-8")
    json_path = out_dir / f"tuning-{tuning.model}.json"
    json_path.write_text(json.dumps(tuning.to_json(), indent=2) + "\n", encoding="utf-8")
    return toml_path, json_path
