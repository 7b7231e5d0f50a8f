"""Similar titles from the newest recommender run's title vectors, loaded once per run and cached
(numpy only: the API does not load the models themselves)."""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.concurrency import run_in_threadpool

from recdb.core.errors import ModelNotFoundError, UnknownTitleError
from recdb.core.runs import TitleVectors, latest_run_id
from web_api.errors import ApiHttpError

logger = logging.getLogger(__name__)

#: How often to look for a newer run (a directory listing); the model loads only on change.
RECHECK_SECONDS = 30.0


class SimilarTitlesIndex:
    """The title vectors of the newest run (``recdb.core.runs.TitleVectors``), reloaded
    when a newer run is saved. Loading happens in a worker thread, once, under a lock."""

    def __init__(self) -> None:
        self._model: TitleVectors | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _current(self) -> TitleVectors:
        if time.monotonic() - self._checked_at < RECHECK_SECONDS and self._model is not None:
            return self._model
        async with self._lock:
            if time.monotonic() - self._checked_at < RECHECK_SECONDS and self._model is not None:
                return self._model
            try:
                run_id = await run_in_threadpool(latest_run_id)
                if self._model is None or self._model.run_id != run_id:
                    self._model = await run_in_threadpool(TitleVectors.load, run_id)
                    logger.info("similar titles: loaded the title vectors of run %s", run_id)
            except ModelNotFoundError:
                raise ApiHttpError(
                    404, "no recommender run has saved a model yet: run `recdb recommend`"
                ) from None
            self._checked_at = time.monotonic()
            return self._model

    async def similar(self, title_id: str, k: int) -> tuple[str, list[dict]]:
        """(run id, rows of rank, title_id, similarity) for the ``k`` titles nearest."""
        model = await self._current()
        try:
            frame = model.similar(title_id, k)
        except UnknownTitleError:
            raise ApiHttpError(
                404, f"title {title_id!r} is not in the titles of run {model.run_id}"
            ) from None
        rows = [
            {"rank": int(r.rank), "title_id": str(r.title_id), "similarity": float(r.similarity)}
            for r in frame.itertuples(index=False)
        ]
        return str(model.run_id), rows
