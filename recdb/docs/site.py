"""`recdb docs`: generate the dbt docs site, serve it on localhost or write a static copy.

The site is dbt's own (``dbt docs generate --static``), built as the owner into
``$RECDB_HOME/docs`` rather than the project's ``target/``, so that serving it
never races a build in the same checkout. It holds:

* ``index.html`` with ``manifest.json`` and ``catalog.json`` beside it, which
  the page fetches: served over HTTP by :func:`serve`;
* ``static_index.html``, the same page with both inlined, which opens from
  disk: :func:`write_static` copies it, with the docs' assets (the ERD), to a
  folder of the user's choice.

After generating, every model, seed, snapshot, source, analysis, exposure,
macro and built column is checked for a description, and each one without is
reported as a warning, together with dbt's own warnings.
"""

from __future__ import annotations

import functools
import http.server
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recdb.core.connection import ConnectionSettings, connection_settings
from recdb.core.errors import RecdbError
from recdb.core.settings import ensure_home, ensure_private_dir, project_dir, recdb_home
from recdb.core.spark import on_spark, session
from recdb.docs.erd import ERD_DOT, read_schema, to_dot
from recdb.warehouse.transform import run_dbt

logger = logging.getLogger(__name__)

#: Folders of the project that dbt copies into the site (dbt_project.yml's asset-paths).
ASSET_PATHS = ("docs",)
#: Columns an engine adds to every landing table, described once in docs/operators.md:
#: on Spark each landing view carries the number of the write that added the row, where
#: PostgreSQL has the hidden xmin (the sources describe it where PostgreSQL has it too).
ENGINE_COLUMNS = ("written_xid",)
#: Node types that must carry a description (macros and built columns too).
DESCRIBED_RESOURCES = frozenset(("model", "seed", "snapshot", "analysis", "source", "exposure"))


class DocsError(RecdbError):
    """The docs could not be generated or served."""


@dataclass
class DocsSite:
    """A generated docs site and what its generation warned about."""

    path: Path
    warnings: list[str] = field(default_factory=list)

    @property
    def static_page(self) -> Path:
        """The page with the manifest and catalog inlined, which opens from disk."""
        return self.path / "static_index.html"


def site_dir() -> Path:
    """Where ``recdb docs`` generates the site: ``$RECDB_HOME/docs``."""
    return recdb_home() / "docs"


def _require_built(settings: ConnectionSettings | None) -> None:
    """Raise DocsError unless the marts exist (dbt's catalogue would be empty); on Spark
    when ``settings`` is None.

    A server that cannot be reached raises DatabaseUnavailableError, which says what to do.
    """
    if settings is None:
        built = session().catalog.tableExists("marts.dim_titles")
    else:
        with settings.connect() as conn:
            (built,) = conn.execute("select to_regclass('marts.dim_titles') is not null").fetchone()
    if not built:
        raise DocsError(
            "the warehouse is not built: run `recdb load` and `recdb build` (or `recdb demo`) "
            "first, so that the docs describe real tables"
        )


def undocumented(manifest: dict, catalog: dict, package: str = "recdb") -> list[str]:
    """Every node, macro and built column of the project that has no description.

    Columns are those the database holds (dbt's catalog) for models, seeds,
    snapshots and sources; a column only declared in YAML is described there.
    """
    missing: list[str] = []
    nodes = {**manifest["nodes"], **manifest["sources"], **manifest.get("exposures", {})}
    for unique_id, node in sorted(nodes.items()):
        if node.get("package_name") != package:
            continue
        kind = node["resource_type"]
        if kind in DESCRIBED_RESOURCES and not _described(node):
            missing.append(f"{kind} {unique_id}")
    for unique_id, macro in sorted(manifest["macros"].items()):
        if macro["package_name"] == package and not _described(macro):
            missing.append(f"macro {unique_id}")
    for unique_id, built in sorted({**catalog["nodes"], **catalog["sources"]}.items()):
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if node is None or node["package_name"] != package:
            continue
        described = {name.lower() for name, column in node["columns"].items() if _described(column)}
        if kind_of(unique_id) == "source":
            described |= set(ENGINE_COLUMNS)
        missing += [
            f"column {unique_id}.{name}"
            for name in built["columns"]
            if name.lower() not in described
        ]
    if f"doc.{package}.__overview__" not in manifest.get("docs", {}):
        missing.append("the overview page (a {% docs __overview__ %} block)")
    return missing


def kind_of(unique_id: str) -> str:
    """The resource type a unique id names (``source.recdb.sim.users``: ``source``)."""
    return unique_id.split(".", 1)[0]


def stale_erd(manifest: dict) -> list[str]:
    """A warning when the committed ERD no longer matches the models, else nothing."""
    committed = project_dir() / ERD_DOT
    current = to_dot(read_schema(manifest))
    if committed.is_file() and committed.read_text(encoding="utf-8") == current:
        return []
    return [f"the ERD ({ERD_DOT}) is stale: run `recdb docs --erd` and commit docs/"]


def _described(node: dict) -> bool:
    return bool((node.get("description") or "").strip())


def _collect_warnings(warnings: list[str]) -> Callable[[object], None]:
    """A dbt event callback that keeps the text of every warning and error event."""

    def callback(event: object) -> None:
        info = event.info  # type: ignore[attr-defined]  # dbt's EventMsg
        if info.level in ("warn", "error"):
            warnings.append(f"dbt {info.name}: {info.msg}")

    return callback


def generate(settings: ConnectionSettings | None = None, target: Path | None = None) -> DocsSite:
    """Run ``dbt docs generate --static`` as the owner into ``target``; report what is missing.

    On Spark (``RECDB_ENGINE=spark``) the docs describe the Spark warehouse. Raises
    DocsError when the warehouse is not built, DbtError when dbt fails. Each warning
    (dbt's, or a node without a description) is logged and returned in
    :attr:`DocsSite.warnings`.
    """
    owner = None if on_spark() else settings or connection_settings("owner")
    _require_built(owner)
    if target is None:
        ensure_home()
        target = ensure_private_dir(site_dir())
    target = target.absolute()
    warnings: list[str] = []
    run_dbt(
        ["docs", "generate", "--static", "--target-path", str(target)],
        settings=owner,
        callbacks=[_collect_warnings(warnings)],
    )
    if target == site_dir().absolute():
        # dbt writes with the process's umask; the site under the home is private
        # like the rest of it (`recdb docs --out` makes the copy to share)
        ensure_private_dir(target)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    warnings += [f"undocumented: {name}" for name in undocumented(manifest, catalog)]
    if not on_spark():  # the ERD shows PostgreSQL's spelling of the types
        warnings += stale_erd(manifest)
    for warning in warnings:
        logger.warning("%s", warning)
    return DocsSite(target, warnings)


def write_static(site: DocsSite, out: Path) -> Path:
    """Copy the self-contained page (as ``index.html``) and the docs' assets into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    shutil.copyfile(site.static_page, page)
    for asset in ASSET_PATHS:
        source = project_dir() / asset
        if source.is_dir():
            shutil.copytree(source, out / asset, dirs_exist_ok=True)
    return page


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files; request lines go to the debug log instead of stderr."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        logger.debug("docs server: " + format, *args)

    def end_headers(self) -> None:
        # The site changes with every generate: never let a browser keep a stale copy.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


def make_server(site: DocsSite, port: int, host: str = "127.0.0.1") -> http.server.HTTPServer:
    """An HTTP server for the site on host:port (localhost only by default), not yet serving."""
    handler = functools.partial(_QuietHandler, directory=str(site.path))
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        raise DocsError(
            f"cannot serve the docs on {host}:{port} ({error.strerror}): choose another --port"
        ) from None


def serve(server: http.server.HTTPServer) -> None:
    """Serve until interrupted (Ctrl-C), then close the server."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("docs server stopped")
    finally:
        server.server_close()
