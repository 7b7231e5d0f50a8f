"""``recdb serve`` (the web API), ``recdb publish`` (what it serves, from Spark) and
``recdb docs`` (the documentation site)."""

from __future__ import annotations

from pathlib import Path

import click

from recdb.core.errors import EngineError
from recdb.core.spark import on_spark


@click.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="Port to serve the docs on, at http://HOST:PORT.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to serve the docs on (0.0.0.0: every address, as in a container).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write a static copy that opens from disk (DIR/index.html) instead of serving.",
)
@click.option(
    "--erd",
    is_flag=True,
    help="Regenerate the marts' ERD (docs/erd.svg and docs/erd.dot) from the project and exit; "
    "needs Graphviz, not the database.",
)
def docs(host: str, port: int, out_dir: Path | None, erd: bool) -> None:
    """Generate the dbt docs and serve them on localhost (Ctrl-C stops), or write them to --out.

    The warehouse must be built (`recdb demo`, or `recdb load` and `recdb
    build`): the docs list the real tables and columns. Nodes without a
    description are reported as warnings.
    """
    from recdb.docs import site as docs_site

    if erd:
        from recdb.docs.erd import generate_erd

        for path in generate_erd():
            click.echo(f"wrote {path}")
        return
    site = docs_site.generate()
    if out_dir is not None:
        page = docs_site.write_static(site, out_dir)
        click.echo(f"wrote {page}: open it in a browser (file://{page.absolute()})")
        return
    server = docs_site.make_server(site, port, host)
    click.echo(f"serving the docs at http://{host}:{port}/ (Ctrl-C stops)")
    docs_site.serve(server)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes (each with its own connection pools).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
def serve(host: str, port: int, workers: int, log_level: str, access_log: bool) -> None:
    """Serve the web API: /v1 (titles, users, sessions, recommendations, health), OpenAPI at
    /openapi.json, docs at /docs.

    Keys come from RECDB_API_KEYS="key:role,key:role" (roles analyst, read-only, and
    scientist, read-write), sent as the X-API-Key header; the server connects to
    PostgreSQL as each key's role, never as the owner. It refuses to start without keys.
    Also read: RECDB_API_MAX_BODY_BYTES (default 4 MiB), RECDB_API_MAX_HEADER_BYTES (request
    line and headers, default 16 KiB; more is a 431), RECDB_API_POOL_SIZE (connections per
    role and worker, default 8), RECDB_API_LOCK_TIMEOUT (seconds a write waits for a lock,
    e.g. behind `recdb build`, before a 503 with Retry-After; default 2),
    RECDB_API_COLD_START_REFRESH (seconds between reloads of the cold-start list, default
    60), and the connection settings of `recdb db url`.
    """
    import uvicorn

    from recdb.core.connection import connection_settings
    from web_api.protocol import HeadSizeLimitedProtocol
    from web_api.settings import ApiSettings

    settings = ApiSettings.from_env()  # malformed keys: one clear line, before any worker starts
    for role in settings.roles:
        connection_settings(role)  # no server configured: say so now, not per request
    click.echo(
        f"serving the recdb web API on http://{host}:{port}/v1 (docs: /docs) "
        f"for roles {', '.join(settings.roles)}"
    )
    uvicorn.run(
        "web_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        loop="uvloop",
        # httptools, with the head size limit it lacks (h11's setting, enforced for httptools).
        http=HeadSizeLimitedProtocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        server_header=False,
        proxy_headers=False,
    )


@click.command()
@click.option(
    "--run-id",
    default=None,
    help="The recommender run to serve (default: the newest published one).",
)
def publish(run_id: str | None) -> None:
    """Copy what the web API serves from the Spark warehouse into PostgreSQL.

    With --engine spark (or RECDB_ENGINE=spark): the catalogue marts, dim_users,
    fact_sessions and one published recommender run's marts, read from Spark and
    put in place in the serving PostgreSQL (RECDB_* connection settings; the
    embedded server by default) in one transaction; then `recdb serve` serves
    them. Run it after each `recdb --engine spark build` whose results should be
    served.
    """
    if not on_spark():
        raise EngineError(
            "`recdb publish` copies Spark's marts to PostgreSQL: run it with --engine spark "
            "(on PostgreSQL the web API serves the marts where `recdb build` puts them)"
        )
    from recdb.warehouse.publish import publish as publish_marts

    click.echo(publish_marts(run_id).describe())
