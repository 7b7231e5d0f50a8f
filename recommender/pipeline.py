"""``recdb recommend`` end to end: read the marts, fit ALS, write every user's top k.

    from recommender import recommend
    report = recommend(k=10)                 # a new run id, the default config
    print(report.describe())

Reads through python_api (role scientist), leaves retired titles out of every list
(``marts.dim_titles.is_retired``, and ``sim.retired_titles`` for a title retired since
the last build: PostgreSQL refuses a run that names one), writes ``recs.recommendations`` in
one transaction through python_api: every user's list is written, in batches
written by a background thread while the next batch is ranked, and replaces the
run's earlier rows (if the run id was used before) when the transaction commits.
Another :class:`RecommendationSink` can take the rows instead:
``recommend(sink=RecdbClient(url).recommendation_sink())`` sends them over HTTP
to the web API (:mod:`web_api.client`; the recommender does not know it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

import python_api
from recdb.core.runs import check_run_id
from recommender import models
from recommender.confidence import confidence
from recommender.config import RecommenderConfig, as_config
from recommender.data import Dataset, Viewing, read_retired, read_viewing, viewing
from recommender.errors import RecommenderError
from recommender.model import (
    TrainedModel,
    best_of_scores,
    claim_run_folder,
    cold_start_list,
    new_run_id,
)
from recommender.models import TrainingData

logger = logging.getLogger(__name__)

#: ``progress(phase, fraction)``: the phase now running and the share of the run done.
ProgressCallback = Callable[[str, float], None]

_WORK = {
    "read": 0.1,
    "prepare": 0.05,
    "fit": 0.35,
    "recommend and write": 0.3,
    "commit": 0.15,  # indexing the run's rows, checking their references
    "save": 0.05,
}


@dataclass(frozen=True)
class RecommendReport:
    """What a run wrote, and how long it took."""

    run_id: str
    k: int
    users: int  # users with history (the model's lists)
    cold_start_users: int
    rows: int  # rows written to recs.recommendations
    replaced_rows: int  # rows of an earlier run with this id, deleted
    model_dir: Path
    seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    model: str = "als"
    retired_titles: int = 0  # titles left out of every list

    def describe(self) -> str:
        """A few lines for people."""
        phases = ", ".join(f"{name} {secs:.1f} s" for name, secs in self.seconds.items())
        retired = (
            f" ({self.retired_titles:,} retired titles left out)" if self.retired_titles else ""
        )
        lines = [
            f"run {self.run_id} ({self.model}): top {self.k} for {self.users:,} users with history "
            f"and {self.cold_start_users:,} cold-start users{retired}",
            f"wrote {self.rows:,} rows to recs.recommendations"
            + (f" (replacing {self.replaced_rows:,})" if self.replaced_rows else ""),
            f"model saved in {self.model_dir}",
            f"took {self.wall_seconds:.1f} s: {phases}",
        ]
        return "\n".join(lines)


class _Meter:
    def __init__(self, progress: ProgressCallback | None) -> None:
        self.seconds: dict[str, float] = {}
        self._progress = progress
        self._done = 0.0

    def report(self, name: str, fraction_of_phase: float = 0.0) -> None:
        if self._progress is not None:
            self._progress(name, min(self._done + _WORK[name] * fraction_of_phase, 1.0))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = self.start(name)
        yield
        self.stop(name, started)

    def start(self, name: str) -> float:
        """Begin phase ``name`` (for a phase that ends outside the block it begins in)."""
        self.report(name)
        return time.perf_counter()

    def stop(self, name: str, started: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        self._done += _WORK[name]
        self.report(name)


@dataclass(frozen=True)
class Prepared:
    """Sessions turned into what the models learn from, and the cold-start list: all but
    the fit. ``excluded``: the titles never recommended (a mask; None: none), which still
    count as history in training."""

    user_ids: np.ndarray  # rows: the users with history, sorted
    title_ids: np.ndarray
    data: TrainingData
    config: RecommenderConfig
    model: str  # the model of the family to fit
    k: int = 10
    excluded: np.ndarray | None = None

    def fit(
        self, model: str | None = None, config: RecommenderConfig | None = None
    ) -> TrainedModel:
        """Fit the model (or ``model``, with ``config``'s knobs: the same aggregated
        sessions serve several fits): ready to rank and save."""
        model = models.check_model(model or self.model)
        config = config or self.config
        ranker = models.fit(model, self.data, config)
        return TrainedModel(
            user_ids=self.user_ids,
            title_ids=self.title_ids,
            ranker=ranker,
            seen=self.data.seen,
            viewers=self.data.viewers,
            cold_start=cold_start_list(
                self.data.viewers,
                self.data.titles.is_all_time_best,
                self.data.titles.is_year_best,
                max(self.k, 100),
                self.excluded,
            ),
            config=config,
            excluded=self.excluded,
        )


def training_data(
    source: Dataset | Viewing, config: RecommenderConfig
) -> tuple[np.ndarray, TrainingData]:
    """(the users with history, sorted; what the models learn from): the (user, title)
    pairs (a dataset's sessions aggregated) weighed by the confidence formula."""
    pairs = source if isinstance(source, Viewing) else viewing(source)
    data = pairs.feedback
    viewers = data.viewers
    titles = pairs.titles
    return data.user_ids, TrainingData(
        confidence=data.interactions.matrix(confidence(data.interactions, config.confidence)),
        seen=data.interactions.matrix(),
        viewers=viewers,
        titles=titles,
        best_of=best_of_scores(viewers, titles.is_all_time_best, titles.is_year_best),
        threads=config.recommend.threads,
        period=pairs.period,
    )


def prepare(
    dataset: Dataset | Viewing,
    config: RecommenderConfig,
    *,
    k: int = 10,
    model: str | None = None,
    excluded: np.ndarray | None = None,
) -> Prepared:
    """What :meth:`Prepared.fit` needs: :func:`training_data`, and which model (default:
    the config's ``recommend.model``). ``excluded``: titles never recommended (default:
    the retired ones, ``dataset.titles.is_retired``)."""
    user_ids, data = training_data(dataset, config)
    if excluded is None:
        excluded = dataset.titles.retired
    return Prepared(
        user_ids=user_ids,
        title_ids=dataset.titles.title_ids,
        data=data,
        config=config,
        model=models.check_model(model or config.recommend.model),
        k=k,
        excluded=np.asarray(excluded, dtype=bool) if np.any(excluded) else None,
    )


def train(
    dataset: Dataset, config: RecommenderConfig, *, k: int = 10, model: str | None = None
) -> TrainedModel:
    """Fit ``model`` (default: the config's) on every session of ``dataset``: a model ready
    to rank and save."""
    return prepare(dataset, config, k=k, model=model).fit()


def recommendation_frame(
    run_id: str,
    user_ids: np.ndarray,
    title_ids: np.ndarray,
    ids: np.ndarray,
    scores: np.ndarray,
    *,
    is_cold_start: bool,
) -> pd.DataFrame:
    """Rows of recs.recommendations for users x ranked title indices (-1: none)."""
    k = ids.shape[1]
    valid = ids.ravel() >= 0
    ranks = np.tile(np.arange(1, k + 1, dtype=np.int16), len(user_ids))[valid]
    count = int(valid.sum())
    return pd.DataFrame(
        {
            "run_id": np.full(count, run_id, dtype=object),
            "user_id": np.repeat(np.asarray(user_ids, dtype=np.int64), k)[valid],
            "title_id": title_ids[ids.ravel()[valid]],
            "rank": ranks,
            "score": scores.ravel()[valid].astype(np.float64),
            "is_cold_start": np.full(count, is_cold_start),
        }
    )


#: New ids tried before giving up: each is random, so only a broken clock or folder gets here.
_RUN_ID_ATTEMPTS = 20


def run_id_taken(warehouse: python_api.Warehouse, run_id: str) -> bool:
    """Whether recs.recommendations holds rows of ``run_id``."""
    found = warehouse.read(
        "select 1 as taken from recs.recommendations where run_id = %s limit 1", [run_id]
    )
    return not found.empty


def allocate_run_id(warehouse: python_api.Warehouse, model: str = "als") -> tuple[str, Path]:
    """A new default run id and its model folder, claimed for this run.

    The folder is created exclusively (a concurrent run cannot get it too) and
    an id with rows in recs.recommendations is skipped even if its folder is
    gone: a default id never replaces another run. RecommenderError after
    :data:`_RUN_ID_ATTEMPTS` ids that were all taken.
    """
    for _ in range(_RUN_ID_ATTEMPTS):
        run_id = new_run_id(model=model)
        try:
            folder = claim_run_folder(run_id)
        except FileExistsError:
            logger.debug("run id %s has a model folder already: drawing another", run_id)
            continue
        try:
            taken = run_id_taken(warehouse, run_id)
        except BaseException:
            _release_folder(folder)
            raise
        if not taken:
            return run_id, folder
        logger.debug("run id %s has rows in recs.recommendations: drawing another", run_id)
        _release_folder(folder)
    raise RecommenderError(
        f"no unused run id after {_RUN_ID_ATTEMPTS} tries: every one drawn had a model "
        "folder or rows already; pass --run-id to name the run"
    )


def _release_folder(folder: Path) -> None:
    """Remove a claimed model folder that nothing was saved into."""
    with contextlib.suppress(OSError):
        folder.rmdir()


def _replace_run(warehouse: python_api.Warehouse, run_id: str) -> int:
    """Inside the caller's transaction: the run's rows written from now on replace its
    earlier ones at commit (python_api swaps in a new partition); how many it had."""
    return int(warehouse.replace_run(run_id))


class RecommendationSink(Protocol):
    """Where a run's rows go: python_api in-process (the default), or the web API."""

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """The context the run's rows are written in (all or nothing where it can)."""

    def replace_run(self, run_id: str) -> int:
        """The rows written from now on replace the run's earlier ones; how many it had."""

    def write(self, frame: pd.DataFrame) -> int:
        """Write rows of recs.recommendations; how many were written."""


class WarehouseSink:
    """The default sink: python_api, one transaction for the whole run."""

    def __init__(self, warehouse: python_api.Warehouse) -> None:
        self._warehouse = warehouse

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """python_api's transaction: the run is written whole or not at all."""
        return self._warehouse.transaction()

    def replace_run(self, run_id: str) -> int:
        """python_api swaps the run's new rows in at commit."""
        return _replace_run(self._warehouse, run_id)

    def write(self, frame: pd.DataFrame) -> int:
        """One batch, through python_api's validation and COPY."""
        return int(self._warehouse.write("recommendations", frame))


class _Writer:
    """Writes batches of rows to recs.recommendations from one background thread, in order,
    inside the caller's transaction; at most one batch waits while another is written."""

    def __init__(self, sink: RecommendationSink) -> None:
        self._sink = sink
        self._pool = ThreadPoolExecutor(1, "recommender-writer")
        self._pending: list[Future[int]] = []
        self.rows = 0

    def submit(self, job: Callable[[], int]) -> None:
        while len(self._pending) > 1:
            self.rows += self._pending.pop(0).result()
        self._pending.append(self._pool.submit(job))

    def write(self, frame: pd.DataFrame) -> None:
        self.submit(lambda: int(self._sink.write(frame)))

    def wait(self) -> int:
        for future in self._pending:
            self.rows += future.result()
        self._pending.clear()
        return self.rows

    def abandon(self) -> None:
        """Cancel what waits, let a running write end (its error is the caller's to ignore),
        so the transaction can roll back with nothing in flight."""
        for future in self._pending:
            future.cancel()
        for future in self._pending:
            if not future.cancelled():
                with contextlib.suppress(BaseException):
                    future.result()
        self._pending.clear()

    def close(self) -> None:
        self.abandon()
        self._pool.shutdown(wait=True)


@contextmanager
def _abandoning(writer: _Writer) -> Iterator[None]:
    """On an error, stop the writer before the transaction rolls back."""
    try:
        yield
    except BaseException:
        writer.abandon()
        raise


def _cold_start_frames(
    model: TrainedModel, cold_user_ids: np.ndarray, run_id: str, k: int, batch: int
) -> Iterator[pd.DataFrame]:
    count = min(k, len(model.cold_start.titles))
    for start in range(0, len(cold_user_ids), batch):
        users = cold_user_ids[start : start + batch]
        ids = np.broadcast_to(model.cold_start.titles[:count], (len(users), count))
        scores = np.broadcast_to(model.cold_start.scores[:count], ids.shape)
        yield recommendation_frame(run_id, users, model.title_ids, ids, scores, is_cold_start=True)


def fit_and_write(
    warehouse: python_api.Warehouse,
    prepared: Prepared,
    cold_user_ids: np.ndarray,
    run_id: str,
    k: int,
    *,
    meter: _Meter | None = None,
    sink: RecommendationSink | None = None,
) -> tuple[TrainedModel, int, int]:
    """In one transaction that replaces the run's earlier rows (a background thread, while
    the model fits here): write the cold-start lists, then rank the users with history in
    batches and write them (each batch written by the background thread while the next
    is ranked). Returns (the model, rows written, rows replaced). ``sink``: where the rows
    go (default: ``warehouse``, through python_api).
    """
    meter = meter or _Meter(None)
    sink = sink or WarehouseSink(warehouse)
    batch = prepared.config.recommend.batch_users
    rows_per_batch = max(1, batch * 10 // k)  # cold-start rows are cheap to make: same size
    writer = _Writer(sink)
    replaced: list[int] = []
    try:
        with sink.transaction(), _abandoning(writer):

            def replace() -> int:
                """Runs in the writer thread while the model fits in this one."""
                replaced.append(sink.replace_run(run_id))
                return 0

            writer.submit(replace)
            with meter.phase("fit"):
                model = prepared.fit()
                model.run_id = run_id
            frames = _cold_start_frames(model, cold_user_ids, run_id, k, rows_per_batch)
            writer.submit(lambda: sum(int(sink.write(frame)) for frame in frames))
            with meter.phase("recommend and write"):
                users = len(model.user_ids)
                for start in range(0, users, batch):
                    rows = np.arange(start, min(start + batch, users))
                    ids, scores = model.recommend_rows(rows, k)
                    writer.write(
                        recommendation_frame(
                            run_id,
                            model.user_ids[rows],
                            model.title_ids,
                            ids,
                            scores,
                            is_cold_start=False,
                        )
                    )
                    meter.report("recommend and write", (start + len(rows)) / max(users, 1) * 0.9)
                written = writer.wait()
            committing = meter.start("commit")  # ends as the transaction does
        meter.stop("commit", committing)
    finally:
        writer.close()
    return model, written, replaced[0] if replaced else 0


def recommend(
    k: int = 10,
    config: RecommenderConfig | Path | str | None = None,
    run_id: str | None = None,
    *,
    warehouse: python_api.Warehouse | None = None,
    progress: ProgressCallback | None = None,
    sink: RecommendationSink | None = None,
    model: str | None = None,
) -> RecommendReport:
    """Fit a model of the family on the marts and write the top ``k`` unseen titles of
    every user.

    ``model``: which (:data:`recommender.models.MODELS`; default: the config's
    ``recommend.model``). Users with sessions get its list (``is_cold_start``
    false); users of dim_users without any get the cold-start list (best-of
    lists, then popularity; ``is_cold_start`` true). No list names a retired title
    (``dim_titles.is_retired``, or listed in ``sim.retired_titles`` since the last
    build); retired titles still count as what users watched. Writes recs.recommendations under
    ``run_id`` in one transaction, replacing what an earlier run with the same id
    wrote. The default is a new id (the UTC time and a random suffix) that no
    run has used, in the warehouse or as a model folder: a run replaces another
    only when both were given the same ``run_id``. Saves the model under
    ``$RECDB_HOME/models/<run_id>/`` (folder 0700, files 0600). ``config``: a
    :class:`RecommenderConfig`, a TOML file, or None (the defaults). The same data
    and config (seed included) give the same recommendations.

    ``sink``: where the rows go instead of python_api's one transaction, any
    :class:`RecommendationSink`: ``web_api.client.RecdbClient(url).recommendation_sink()``
    sends them over HTTP to the web API in batches each written whole (the run's
    earlier rows are deleted first, and a run that fails half-way keeps the batches
    sent; re-running its id replaces them). Reading is in-process either way.

    Raises EmptyMartsError when there are no sessions yet,
    RecommenderConfigError for a bad config, and python_api errors translated
    into RecommenderError when the warehouse refuses the rows.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
        raise RecommenderError(f"k must be a whole number from 1 to 1000, got {k!r}")
    config = as_config(config)
    model_name = models.check_model(model or config.recommend.model)
    if run_id is not None:
        check_run_id(run_id)
    started = time.perf_counter()
    meter = _Meter(progress)
    own_connection = warehouse is None
    if own_connection:
        warehouse = python_api.connect(role="scientist")
    claimed: Path | None = None
    try:
        if run_id is None:
            run_id, claimed = allocate_run_id(warehouse, model_name)
        with meter.phase("read"):
            dataset = read_viewing(warehouse)
            retired = read_retired(warehouse, dataset.titles)
        with meter.phase("prepare"):
            prepared = prepare(dataset, config, k=k, model=model_name, excluded=retired)
            cold_users = np.setdiff1d(dataset.user_ids, prepared.user_ids, assume_unique=True)
            del dataset
        try:
            model, written, replaced = fit_and_write(
                warehouse, prepared, cold_users, run_id, k, meter=meter, sink=sink
            )
        except python_api.ApiError as error:
            kept = (
                "nothing was written"
                if sink is None
                else "batches already written are kept: re-run the id to replace them"
            )
            raise RecommenderError(
                f"recs.recommendations refused run {run_id}: {error} ({kept})"
            ) from None
    except BaseException:
        if claimed is not None:
            _release_folder(claimed)
        raise
    finally:
        if own_connection:
            warehouse.close()
    with meter.phase("save"):
        model.info.update(
            {
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "k": k,
                "cold_start_users": len(cold_users),
                "retired_titles": int(retired.sum()),
                "rows_written": written,
                "seconds": dict(meter.seconds),
            }
        )
        folder = model.save()
    wall = time.perf_counter() - started
    logger.info("run %s: wrote %d recommendations in %.1f s", run_id, written, wall)
    return RecommendReport(
        model=model_name,
        run_id=run_id,
        k=k,
        users=len(model.user_ids),
        cold_start_users=len(cold_users),
        rows=written,
        replaced_rows=replaced,
        model_dir=folder,
        seconds=dict(meter.seconds),
        wall_seconds=wall,
        retired_titles=int(retired.sum()),
    )
