"""``recdb simulate``, ``recdb recommend``, ``recdb evaluate`` and ``recdb tune``: users
and sessions in, recommendations out, how good they are, and choosing the knobs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from recdb.cli.base import postgres_only, quiet_libraries, run_with_progress

F = TypeVar("F", bound=Callable[..., Any])


def config_option(what: str) -> Callable[[F], F]:
    """``--config FILE``: a TOML file of ``what`` to change."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help=f"A TOML file of {what} to change (see --print-config for every one and its default).",
    )


#: The model family's names, for --model (recommender.models.MODELS; kept here so that
#: `recdb --help` need not import the recommender).
MODEL_NAMES = ("als", "bpr", "item_knn", "ease", "content", "hybrid")


def model_option(text: str, name: str = "model_name", **kwargs: Any) -> Callable[[F], F]:
    """``--model NAME``, one of :data:`MODEL_NAMES`, with help ``text`` (``kwargs``: click's,
    e.g. ``multiple``)."""
    return click.option("--model", name, type=click.Choice(MODEL_NAMES), help=text, **kwargs)


#: Who fits ALS, for --trainer (recommender.models.factors.TRAINERS, kept here for the
#: same reason as MODEL_NAMES).
TRAINER_NAMES = ("implicit", "spark")


def trainer_option(text: str, name: str = "trainer", **kwargs: Any) -> Callable[[F], F]:
    """``--trainer NAME``, one of :data:`TRAINER_NAMES` (the config's ``als.trainer``), with
    help ``text`` (``kwargs``: click's, e.g. ``multiple``)."""
    return click.option("--trainer", name, type=click.Choice(TRAINER_NAMES), help=text, **kwargs)


@click.command()
@click.option(
    "--users",
    type=click.IntRange(min=1),
    default=None,
    help="How many new users to simulate (their sessions and ratings come with them).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=42,
    show_default=True,
    help="Random seed: the same seed, config and warehouse give the same rows.",
)
@config_option("simulation knobs")
@click.option(
    "--release-rate",
    type=click.FloatRange(0, 10000),
    default=None,
    metavar="N",
    help="New titles released per simulated week, into sim.titles (the config's "
    "releases.rate; default 0: none). Users discover them after their release; 10 is a "
    "lively service.",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the default config, every knob documented, and exit.",
)
def simulate(
    users: int | None,
    seed: int,
    config_path: Path | None,
    release_rate: float | None,
    print_config: bool,
) -> None:
    """Simulate new users, their hidden tastes, viewing sessions and ratings into sim.*.

    Reads the catalogue from the built marts (run `recdb build` first) and
    appends: new user and session ids continue after the largest ones in the
    warehouse. With --release-rate, also releases new titles (sim.titles, with
    credits in sim.credits) over the period, which users watch only after their
    release. The same seed, config and warehouse state give the same rows.
    Everything is written in one transaction, as the scientist role.
    """
    from simulation import default_config_text, load_config
    from simulation import simulate as run_simulation

    if print_config:
        click.echo(default_config_text(), nl=False)
        return
    if users is None:
        raise click.UsageError("give --users N (how many users to simulate)")
    overrides = {"releases.rate": release_rate} if release_rate is not None else None
    config = load_config(config_path, overrides=overrides)
    with quiet_libraries("simulation", "python_api"):
        report = run_with_progress(
            "simulating",
            lambda progress: run_simulation(users, seed, config, progress=progress),
        )
    click.echo(report.describe())


@click.command()
@click.option(
    "--k",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Titles per user (with --similar-to: similar titles to show).",
)
@config_option("recommender hyper-parameters")
@model_option(
    "The model that ranks (default: recommend.model of the config, the one that won on validation)."
)
@trainer_option(
    "Who fits ALS (the als model, or a hybrid's collaborative part when it is als): implicit "
    "here, or spark (Spark MLlib in recdb's SparkSession, RECDB_SPARK_MASTER; the spark "
    "extra). Default: the config's als.trainer."
)
@click.option(
    "--run-id",
    default=None,
    help="Id of the run (default: a new one, <model>-<UTC time>-<random suffix>, never an id "
    "already used). Re-running an id you name replaces its rows. With --user or "
    "--similar-to: the run to look in (default: the newest).",
)
@click.option(
    "--user",
    "user_id",
    type=int,
    default=None,
    help="Show this user's list of a run instead of running.",
)
@click.option(
    "--similar-to",
    "title_id",
    default=None,
    help="Show the titles nearest this title by a run's item factors instead of running.",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the default config, every hyper-parameter documented, and exit.",
)
@click.option(
    "--api-url",
    default=None,
    metavar="URL",
    help="Write the rows over HTTP to the web API at URL (`recdb serve`) instead of "
    "in-process; the key is $RECDB_API_KEY (a scientist's). Batches are each written whole.",
)
def recommend(
    k: int,
    config_path: Path | None,
    model_name: str | None,
    trainer: str | None,
    run_id: str | None,
    user_id: int | None,
    title_id: str | None,
    print_config: bool,
    api_url: str | None,
) -> None:
    """Fit a model on the marts and write every user's top k to recs.recommendations.

    Models: als, bpr, item_knn, ease, content, hybrid (--model; the default is
    the config's recommend.model). Reads fact_sessions, dim_users and the
    catalogue's marts (run `recdb simulate` and `recdb build` first); users with
    sessions get their k best unseen titles, users without any the cold-start
    list (best-of lists, then popularity); no list names a retired title.
    Writes in one transaction as the scientist role, replacing the rows of an
    earlier run with the same --run-id; saves the model in
    $RECDB_HOME/models/<run id>/. The same data, config and seed give the
    same recommendations.
    """
    import recommender

    if print_config:
        click.echo(recommender.default_config_text(), nl=False)
        return
    if user_id is not None and title_id is not None:
        raise click.UsageError("give --user or --similar-to, not both")
    if user_id is not None:
        rows = recommender.user_recommendations(user_id, run_id)
        click.echo(rows.to_string(index=False))
        return
    if title_id is not None:
        similar = recommender.similar_titles(title_id, k, run_id)
        click.echo(similar.to_string(index=False))
        return
    config = recommender.load_config(config_path)
    if trainer is not None:
        from recommender.evaluate import uses_als

        fitted = model_name or config.recommend.model
        if not uses_als(fitted, config):
            raise click.UsageError(
                f"--trainer chooses who fits ALS, and {fitted} does not fit it: give "
                "--model als (or hybrid with hybrid.collaborative = als)"
            )
        config = config.with_overrides({"als.trainer": trainer})
    sink = None
    if api_url is not None:
        from web_api.client import RecdbClient

        sink = RecdbClient(api_url).recommendation_sink()
    try:
        with quiet_libraries("python_api", "recommender"):
            report = run_with_progress(
                "recommending",
                lambda progress: recommender.recommend(
                    k, config, run_id, progress=progress, sink=sink, model=model_name
                ),
            )
    finally:
        if sink is not None:
            sink.close()
    click.echo(report.describe())


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for evaluation.json and evaluation.png (created if missing).",
)
@config_option("recommender hyper-parameters (see `recdb recommend --print-config`)")
@click.option(
    "--simulation-config",
    "simulation_config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The simulation config the users were simulated with, for the oracle "
    "(default: the simulation's defaults).",
)
@model_option(
    "A model to evaluate; repeat for several (default: every model of the family).",
    "model_names",
    multiple=True,
)
@trainer_option(
    "Who fits ALS (als, and a hybrid whose collaborative part is als); repeat to compare: "
    "a row each, `als` for implicit and `als (spark)` for Spark MLlib, on the same split "
    "(default: the config's als.trainer).",
    "trainers",
    multiple=True,
)
def evaluate(
    out_dir: Path,
    config_path: Path | None,
    simulation_config_path: Path | None,
    model_names: tuple[str, ...],
    trainers: tuple[str, ...],
) -> None:
    """Score the model family against popularity, best-of lists and the oracle.

    Trains on the earlier sessions and tests on the later ones
    (evaluation.holdout_share of them), users without history included:
    precision, recall, map and ndcg at 10, catalogue coverage and popularity
    rank for each model, popularity, best_of and oracle (the simulation's
    hidden utility, the ceiling); ndcg@10 by segment of history, with 95%
    bootstrap intervals on it and on its ratios to popularity and the oracle;
    recall@10 and ndcg@10 on the titles released after the cutoff (new titles,
    nothing of them in training). Writes DIR/evaluation.json and
    DIR/evaluation.png and prints the table.
    """
    import recommender
    from simulation import TasteOracle

    config = recommender.load_config(config_path)
    oracle = TasteOracle(simulation_config_path)
    with quiet_libraries("python_api", "recommender", "simulation"):
        result = recommender.evaluate(
            out_dir,
            config,
            oracle=oracle,
            model_names=model_names or None,
            trainers=trainers or None,
        )
    click.echo(result.table())
    click.echo(f"wrote {out_dir / 'evaluation.json'} and {out_dir / 'evaluation.png'}")


@click.command()
@model_option(
    "The model to tune (a hybrid tunes only its own knobs: tune its parts first).",
    required=True,
)
@click.option(
    "--budget",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="Trials: the config as given, then random draws from the model's search space.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for MODEL.toml (the chosen parameters, a config for --config) and "
    "tuning-MODEL.json (every trial); created if missing.",
)
@config_option("recommender hyper-parameters to start from (see `recdb recommend --print-config`)")
def tune(model_name: str, budget: int, out_dir: Path, config_path: Path | None) -> None:
    """Choose a model's hyper-parameters on a validation period, never on the test period.

    Sets the test period of `recdb evaluate` aside, splits the sessions before
    it again by time (evaluation.validation_share), fits --budget trials on the
    earlier part and scores each by ndcg@10 on the later. Trial 1 is the config
    as given; the others are random draws (seeded by evaluation.seed: the same
    data and options give the same trials). Writes DIR/MODEL.toml and
    DIR/tuning-MODEL.json and prints the trials, best first.
    """
    postgres_only("tune")
    import recommender

    config = recommender.load_config(config_path)
    with quiet_libraries("python_api", "recommender"):
        result = run_with_progress(
            "tuning",
            lambda progress: recommender.tune(
                model_name, budget, out_dir, config, progress=progress
            ),
        )
    click.echo(result.table())
    click.echo(
        f"wrote {out_dir / (model_name + '.toml')} and "
        f"{out_dir / ('tuning-' + model_name + '.json')}"
    )
