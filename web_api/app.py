"""The FastAPI app: ``create_app()`` (uvicorn's factory), routers, middleware, error handlers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from web_api.db import Database
from web_api.errors import install_error_handlers
from web_api.middleware import BodySizeLimit
from web_api.routes import (
    facets,
    health,
    persons,
    recommendations,
    sessions,
    title_writes,
    titles,
    users,
)
from web_api.routes.common import reject_unknown_query
from web_api.settings import ApiSettings
from web_api.similar import SimilarTitlesIndex

logger = logging.getLogger(__name__)

DESCRIPTION = """\
The recdb warehouse over HTTP: the catalogue, users, viewing sessions and
recommendations.

Every endpoint but `/v1/health` needs an `X-API-Key` header with a key from
`RECDB_API_KEYS`: `analyst` keys read, `scientist` keys also write. Reads come
from the marts as of the last `recdb build`; writes land in the landing tables
(`sim.*`, `recs.*`) through python_api, with its validation. Errors are JSON:
`{"error": {"status", "code", "message", "fields": [{"field", "message"}]}}`.
A write that would wait long for a lock another transaction holds (a migration,
an operator's LOCK TABLE) answers 503 with a `Retry-After` header; a request line
and headers over the server's limit (16 KiB by default) answer 431.
"""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The app; settings from the environment (``RECDB_API_KEYS``...) when not given."""
    settings = settings or ApiSettings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.db.open()
        try:
            yield
        finally:
            await app.state.db.close()

    app = FastAPI(
        title="recdb web API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.settings = settings
    app.state.db = Database(settings)
    app.state.similar = SimilarTitlesIndex()
    app.state.cold_start = recommendations.ColdStartList(settings.cold_start_refresh)
    app.state.retired = recommendations.RetiredTitles(recommendations.RETIRED_REFRESH_S)
    for module in (
        titles,
        title_writes,
        persons,
        facets,
        users,
        sessions,
        recommendations,
        health,
    ):
        app.include_router(module.router)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
