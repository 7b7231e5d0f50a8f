"""A small HTTP client of the web API: what the recommender writes its runs through.

    from web_api.client import RecdbClient

    with RecdbClient("http://127.0.0.1:8000") as client:  # key: $RECDB_API_KEY
        client.write_recommendations("weekly", frame)     # POSTs of up to 5,000 rows
        client.user_recommendations(42)

Errors are python_api's: the server's 422 is a ValidationError, 409 a
ConflictError, 404 a NotFoundError, 401 and 403 PermissionDeniedError, a 503
with ``Retry-After`` (a write behind a build's lock) a BusyError, and any
other 5xx or a server that cannot be reached a DatabaseError, each with the
server's message; so code written against python_api handles both.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd

from python_api.errors import (
    ApiError,
    BusyError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from python_api.lists import list_starts

logger = logging.getLogger(__name__)

KEY_ENV = "RECDB_API_KEY"
API_KEY_HEADER = "X-API-Key"
#: Rows per POST /v1/recommendations: ~450 KB of JSON, well under the server's body limit.
BATCH_ROWS = 5_000
_ROW_COLUMNS = ["user_id", "title_id", "rank", "score", "is_cold_start"]


def _whole_list_batches(user_ids: np.ndarray, size: int) -> list[tuple[int, int]]:
    """(start, end) of batches of at most ``size`` rows (more only for a list longer than
    that) that never split a user's rows: ``user_ids`` sorted."""
    bounds = np.append(list_starts(user_ids), len(user_ids)).astype(np.int64)
    batches, start = [], 0
    while start < len(user_ids):
        end = int(bounds[np.searchsorted(bounds, start + size, side="right") - 1])
        if end <= start:  # one list longer than a batch: alone
            end = int(bounds[np.searchsorted(bounds, start, side="right")])
        batches.append((start, end))
        start = end
    return batches


def _error_for(response: httpx.Response) -> ApiError:
    try:
        detail = response.json()["error"]
        message = str(detail["message"])
        fields = detail.get("fields") or []
    except (ValueError, KeyError, TypeError):
        message, fields = response.text[:200] or response.reason_phrase, []
    if fields:
        message += " [" + ", ".join(f"{f['field']}: {f['message']}" for f in fields) + "]"
    status = response.status_code
    text = f"HTTP {status} from {response.request.method} {response.request.url.path}: {message}"
    if status == 409:
        return ConflictError(text)
    if status == 404:
        return NotFoundError(text)
    if status in (400, 413, 422):
        return ValidationError(text)
    if status in (401, 403):
        return PermissionDeniedError(text)
    if status == 503 and "retry-after" in response.headers:
        return BusyError(f"{text} (retry after {response.headers['retry-after']} s)")
    return DatabaseError(text)


class RecdbClient:
    """The web API at ``base_url``, authenticated with ``api_key`` (default ``$RECDB_API_KEY``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = api_key or os.environ.get(KEY_ENV)
        if not key:
            raise PermissionDeniedError(
                f"no API key for {base_url}: set {KEY_ENV} to a scientist's key of the server"
            )
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={API_KEY_HEADER: key},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> RecdbClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; the decoded JSON (None for 204), or the python_api error for the status."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise DatabaseError(
                f"cannot reach the web API at {self.base_url}: {error or type(error).__name__}"
            ) from None
        if response.status_code >= 400:
            raise _error_for(response)
        return None if response.status_code == 204 else response.json()

    # -- reads -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """GET /v1/health."""
        return self.request("GET", "/v1/health")

    def user_recommendations(self, user_id: int, k: int = 10) -> dict[str, Any]:
        """GET /v1/users/{user_id}/recommendations."""
        return self.request("GET", f"/v1/users/{int(user_id)}/recommendations", params={"k": k})

    # -- recommendations -----------------------------------------------------------------
    def write_recommendations(self, run_id: str, frame: pd.DataFrame) -> int:
        """Write rows of a begun, unpublished run (columns user_id, title_id, rank, score,
        is_cold_start; a run_id column, if any, must equal ``run_id``), in POSTs of up to
        5,000 rows of whole users' lists, each all or nothing. Returns the rows written.
        See :meth:`write_run`."""
        if "run_id" in frame.columns and not (frame["run_id"] == run_id).all():
            raise ValidationError(f"rows of another run than {run_id!r}", column="run_id")
        frame = frame.sort_values("user_id", kind="stable")
        written = 0
        for start, end in _whole_list_batches(frame["user_id"].to_numpy(), BATCH_ROWS):
            rows = frame.iloc[start:end][_ROW_COLUMNS].to_dict("records")
            body = self.request(
                "POST", "/v1/recommendations", json={"run_id": run_id, "rows": rows}
            )
            written += int(body["written"])
        return written

    def begin_run(self, run_id: str) -> int:
        """POST /v1/runs: begin ``run_id`` unpublished (an earlier run of that id stops being
        served and loses its rows); how many rows it had."""
        return int(self.request("POST", "/v1/runs", json={"run_id": run_id})["replaced"])

    def publish_run(self, run_id: str) -> None:
        """POST /v1/runs/{run_id}/publish: its lists are served from the next build on."""
        self.request("POST", f"/v1/runs/{run_id}/publish")

    def write_run(self, run_id: str, frame: pd.DataFrame) -> int:
        """A whole run: begin it, write ``frame`` (as :meth:`write_recommendations`), publish
        it. A failure half-way leaves the run unpublished, never served half-written."""
        self.begin_run(run_id)
        written = self.write_recommendations(run_id, frame)
        self.publish_run(run_id)
        return written

    def delete_run(self, run_id: str) -> int:
        """Delete every row of ``run_id``; how many there were (0 for an unknown run)."""
        try:
            return int(self.request("DELETE", f"/v1/recommendations/{run_id}")["deleted"])
        except NotFoundError:
            return 0

    def recommendation_sink(self) -> HttpRecommendationSink:
        """A sink for ``recommender.recommend(sink=...)`` writing through this client."""
        return HttpRecommendationSink(self)


class HttpRecommendationSink:
    """The recommender's rows over HTTP. Each POST is one transaction on the server; a run
    is not, but it is published only at the end: begun first (its earlier rows dropped, no
    longer served), written in batches, published when every batch is in. A run that fails
    half-way stays unpublished, never served; re-running its id replaces it."""

    def __init__(self, client: RecdbClient) -> None:
        self.client = client
        self._run_id: str | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Publish the run begun inside, once everything inside succeeded (see the class)."""
        yield
        if self._run_id is not None:
            self.client.publish_run(self._run_id)

    def replace_run(self, run_id: str) -> int:
        """Begin the run (unpublished; its earlier rows dropped); how many there were."""
        self._run_id = run_id
        return self.client.begin_run(run_id)

    def write(self, frame: pd.DataFrame) -> int:
        """POST the rows (one run's)."""
        run_id = str(frame["run_id"].iloc[0]) if len(frame) else self._run_id
        if run_id is None or frame.empty:
            return 0
        return self.client.write_recommendations(run_id, frame)

    def close(self) -> None:
        """Close the client."""
        self.client.close()
