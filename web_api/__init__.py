"""web_api: the warehouse over HTTP (FastAPI over python_api, same validation, same roles).

    RECDB_API_KEYS="<key>:analyst,<key>:scientist" recdb serve --port 8000

serves ``/v1`` (titles, users, sessions, recommendations, similar titles,
health) with OpenAPI at ``/openapi.json`` and docs at ``/docs``. Each API key
maps to a PostgreSQL role (``analyst`` reads, ``scientist`` also writes) and
the server connects as that role, never as the owner. :mod:`web_api.client`
is the small HTTP client the recommender writes through.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: `recdb --help` and the HTTP client should not import FastAPI.
    if name == "create_app":
        from web_api.app import create_app

        return create_app
    raise AttributeError(name)
