"""The ``recdb`` command line: run the server, load the catalogue, build, demo."""

from __future__ import annotations

import logging
import re
import shlex
import sys
from pathlib import Path

import click

from recdb.core.errors import RecdbError
from recdb.core.settings import ROLES

logger = logging.getLogger("recdb")


class _RecdbGroup(click.Group):
    """A click group that turns recdb's own errors into one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RecdbError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=_RecdbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """recdb: a dbt + PostgreSQL warehouse for a streaming catalogue.

    Runs on the project's embedded PostgreSQL (state in $RECDB_HOME, default:
    .recdb in the recdb project you are in, found from any of its folders), or
    on your own server when PGHOST and the other PG* variables are set.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


# -- db -----------------------------------------------------------------------
@main.group(cls=_RecdbGroup)
def db() -> None:
    """Start, stop and inspect the embedded PostgreSQL server."""


def _server():  # noqa: ANN202 - imported lazily to keep --help fast
    from recdb.warehouse.server import EmbeddedServer

    return EmbeddedServer()


def _external_note() -> bool:
    from recdb.core.connection import is_external

    if is_external():
        click.echo("PGHOST is set: recdb uses your server; the embedded one is not involved.")
        return True
    return False


@db.command()
def start() -> None:
    """Start the embedded server (initialising it on first use); a running one is left alone."""
    if _external_note():
        return
    status = _server().start()
    click.echo(status.describe())


@db.command()
def stop() -> None:
    """Stop the embedded server."""
    if _external_note():
        return
    click.echo(_server().stop().describe())


@db.command()
def status() -> None:
    """Say whether the embedded server runs (exit code 0) or not (exit code 3)."""
    if _external_note():
        return
    current = _server().status()
    click.echo(current.describe())
    if not current.running:
        sys.exit(3)


_ROLE_OPTION = click.option(
    "--role",
    type=click.Choice(ROLES),
    default="owner",
    show_default=True,
    help="Whose connection: owner runs dbt, analyst reads, scientist reads and writes landing.",
)


@db.command()
@_ROLE_OPTION
def url(role: str) -> None:
    """Print a libpq URL for a role (on the last line), without its password.

    psql and psycopg accept it as is: `psql "$(recdb db url --role analyst)"`.
    For the embedded server it names the password file
    ($RECDB_HOME/pgpass, readable by you only); for your own server libpq
    finds the password as usual (PGPASSWORD, ~/.pgpass).
    """
    from recdb.core.connection import connection_settings, write_client_files

    settings = connection_settings(role)
    if settings.home is not None:
        write_client_files(settings.home)
    click.echo(settings.client_url())


@db.command("env")
@_ROLE_OPTION
def env_command(role: str) -> None:
    """Print the shell exports that let plain psql connect as a role, no password in sight.

    eval "$(recdb db env --role analyst)" && psql

    Sets PGSERVICEFILE ($RECDB_HOME/pg_service.conf) and PGSERVICE
    (recdb_<role>); the password stays in $RECDB_HOME/pgpass. Embedded server
    only: with PGHOST set, your PG* variables already configure psql.
    """
    from recdb.core.connection import client_env, is_external
    from recdb.core.errors import ConnectionSettingsError

    if is_external():
        raise ConnectionSettingsError(
            "PGHOST is set: your PG* variables already configure psql for your own server "
            "(`recdb db url --role ROLE` prints the URL of a role)"
        )
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in client_env(role).items())
    click.echo(f"export {exports}")


_DURATION = re.compile(r"^\d+\s*(us|ms|s|min|h|d)?$")


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A PostgreSQL duration: a whole number with an optional unit (ms, s, min, h, d)."""
    if value is not None and not _DURATION.match(value.strip()):
        raise click.BadParameter(
            f"{value!r} is not a duration: a whole number and a unit, e.g. 30s, 5min, 1h "
            "(0: no limit)"
        )
    return value.strip() if value is not None else None


def _admin_settings():  # noqa: ANN202 - ConnectionSettings, imported lazily
    """A connection that may create roles and change their settings.

    Embedded: the bootstrap superuser. Your own server: the PG* variables
    (a superuser, or a role with CREATEROLE).
    """
    import os

    from recdb.core.connection import ConnectionSettings, external_port, is_external

    if not is_external():
        return _server().superuser_settings()
    return ConnectionSettings(
        host=os.environ["PGHOST"],
        port=external_port(),
        dbname=os.environ.get("PGDATABASE", "postgres"),
        user=os.environ.get("PGUSER", "postgres"),
        password=os.environ.get("PGPASSWORD"),
        sslmode=os.environ.get("PGSSLMODE"),
    )


@db.command()
@click.option(
    "--role",
    type=click.Choice(["analyst", "scientist"]),
    default=None,
    help="Whose limits to show or change (default: show both).",
)
@click.option(
    "--statement",
    callback=_duration,
    metavar="DURATION",
    help="statement_timeout: the longest a statement may run (e.g. 5min; 0: no limit).",
)
@click.option(
    "--idle-in-transaction",
    callback=_duration,
    metavar="DURATION",
    help="idle_in_transaction_session_timeout: the longest a session may sit idle inside "
    "a transaction before it is closed (e.g. 10min; 0: no limit).",
)
def timeouts(role: str | None, statement: str | None, idle_in_transaction: str | None) -> None:
    """Show or change the analyst's and scientist's session limits.

    Stored in PostgreSQL (ALTER ROLE ... SET): new sessions of the role get
    them. Defaults: analyst 5min per statement and 10min idle in a
    transaction, scientist 1h and 30min; the owner has none. A guardrail, not
    a lock: a session may SET its own. Changing them needs the superuser (the
    embedded server's, used for you) or, on your own server, a role with
    CREATEROLE in the PG* variables.
    """
    from recdb.warehouse.roles import READER_ROLES, role_timeouts, set_timeouts

    values = {
        setting: value
        for setting, value in (
            ("statement_timeout", statement),
            ("idle_in_transaction_session_timeout", idle_in_transaction),
        )
        if value is not None
    }
    if values and role is None:
        raise click.UsageError("give --role analyst or --role scientist: whose limits to change")
    with _admin_settings().connect(autocommit=True) as conn:
        if values:
            set_timeouts(conn, role, values)
        current = role_timeouts(conn)
    shown = [r for r in READER_ROLES if r in current and (role is None or r == role)]
    header = ("role", "statement_timeout", "idle_in_transaction_session_timeout")
    rows = [header] + [(r, *(current[r][s] or "unset" for s in header[1:])) for r in shown]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@db.command()
def init() -> None:
    """Create the schemas, landing tables and grants as the owner (idempotent).

    The embedded server does this at first start, and `recdb load` and
    `recdb build` before they run; on your own server, run it once before a
    plain `dbt build`.
    """
    from recdb.core.connection import connect
    from recdb.warehouse.roles import prepare_warehouse

    with connect("owner", autocommit=True) as conn:
        prepare_warehouse(conn)
    click.echo("schemas raw, staging, intermediate, marts, sim and recs are ready")


@db.command("create-roles")
def create_roles_command() -> None:
    """On your own server: create the owner, analyst and scientist roles (needs CREATEROLE).

    Connects with the PG* variables; passwords come from RECDB_OWNER_PASSWORD,
    RECDB_ANALYST_PASSWORD and RECDB_SCIENTIST_PASSWORD. The analyst and
    scientist get the default session limits (see `recdb db timeouts`) where
    they have none.
    """
    import os

    from recdb.core.connection import is_external
    from recdb.warehouse.roles import create_roles

    if not is_external():
        raise click.UsageError("the embedded server creates its roles itself at first start")
    missing = [r for r in ROLES if not os.environ.get(f"RECDB_{r.upper()}_PASSWORD")]
    if missing:
        names = ", ".join(f"RECDB_{r.upper()}_PASSWORD" for r in missing)
        raise click.UsageError(f"set {names} first")
    create_roles(_admin_settings(), {r: os.environ[f"RECDB_{r.upper()}_PASSWORD"] for r in ROLES})
    click.echo("roles ready: grant the database to the owner role, then run `recdb load`")


# -- catalogue ----------------------------------------------------------------
@main.group(cls=_RecdbGroup)
def catalog() -> None:
    """The project's own synthetic catalogue."""


@catalog.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--titles", type=click.IntRange(min=100), default=1200, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--layout",
    type=click.Choice(["seed", "kaggle"]),
    default="seed",
    show_default=True,
    help="seed: dbt-seed-ready files; kaggle: the Kaggle download's exact shape.",
)
def generate(out_dir: Path, titles: int, seed: int, layout: str) -> None:
    """Write a deterministic Kaggle-shaped catalogue (six CSV files) into --out."""
    from recdb.catalog.generate import generate_catalog

    written = generate_catalog(out_dir, titles=titles, seed=seed, layout=layout)
    for table, path in written.items():
        click.echo(f"{table}: {path}")


@main.command()
@click.option(
    "--from",
    "source_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder with the six catalogue CSV files (default: the project's own catalogue).",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Accept a file with a header and no rows (its table is emptied); refused by default.",
)
def load(source_dir: Path | None, allow_empty: bool) -> None:
    """Load the six catalogue files into schema raw, replacing what it held (all or nothing)."""
    from recdb.catalog.load import load_catalog

    report = load_catalog(source_dir, allow_empty=allow_empty)
    for table, rows in report.rows.items():
        click.echo(f"raw.{table}: {rows} rows")
    click.echo(f"loaded {report.source_dir} in {report.seconds:.2f} s")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Build the catalogue models too, even if raw and their files are unchanged.",
)
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def build(everything: bool, dbt_args: tuple[str, ...]) -> None:
    """Run `dbt build` as the owner, from what raw holds; extra arguments go to dbt.

    The catalogue models (tag catalog) are left out while neither raw nor their
    files changed since the last build; --all builds them anyway.
    """
    from recdb.warehouse.build import build as build_warehouse

    build_warehouse(dbt_args, everything=everything)


@main.command()
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
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file of knobs to change (see --print-config for every knob and its default).",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the default config, every knob documented, and exit.",
)
def simulate(users: int | None, seed: int, config_path: Path | None, print_config: bool) -> None:
    """Simulate new users, their hidden tastes, viewing sessions and ratings into sim.*.

    Reads the catalogue from the built marts (run `recdb build` first) and
    appends: new user and session ids continue after the largest ones in the
    warehouse. The same seed, config and warehouse state give the same rows.
    Everything is written in one transaction, as the scientist role.
    """
    from simulation import default_config_text, load_config
    from simulation import simulate as run_simulation

    if print_config:
        click.echo(default_config_text(), nl=False)
        return
    if users is None:
        raise click.UsageError("give --users N (how many users to simulate)")
    config = load_config(config_path)
    quiet = logging.getLogger().getEffectiveLevel() > logging.DEBUG
    previous = {}
    for name in ("simulation", "python_api"):
        previous[name] = logging.getLogger(name).level
        if quiet:
            logging.getLogger(name).setLevel(logging.WARNING)
    steps = 1000
    try:
        if not sys.stderr.isatty():  # no progress bar in logs and pipes
            report = run_simulation(users, seed, config)
        else:
            with click.progressbar(
                length=steps, label="simulating", show_percent=True, file=sys.stderr
            ) as bar:

                def progress(phase: str, fraction: float) -> None:
                    bar.label = f"{phase:<18}"
                    advance = int(fraction * steps) - bar.pos
                    if advance > 0:
                        bar.update(advance)
                    else:
                        bar.render_progress()

                report = run_simulation(users, seed, config, progress=progress)
                bar.label = f"{'done':<18}"
                bar.update(steps - bar.pos)
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
    click.echo(report.describe())


# -- recommender ----------------------------------------------------------------
def _quiet_libraries(names: tuple[str, ...]) -> dict[str, int]:
    """Silence libraries' INFO lines (one per batch written) unless --verbose."""
    previous = {}
    quiet = logging.getLogger().getEffectiveLevel() > logging.DEBUG
    for name in names:
        previous[name] = logging.getLogger(name).level
        if quiet:
            logging.getLogger(name).setLevel(logging.WARNING)
    return previous


def _run_with_progress(label: str, job):  # noqa: ANN001, ANN202 - job(progress) -> report
    """Run ``job(progress)`` with a progress bar on a terminal, without one in logs and pipes."""
    if not sys.stderr.isatty():
        return job(None)
    steps = 1000
    with click.progressbar(length=steps, label=label, show_percent=True, file=sys.stderr) as bar:

        def progress(phase: str, fraction: float) -> None:
            bar.label = f"{phase:<20}"
            advance = int(fraction * steps) - bar.pos
            if advance > 0:
                bar.update(advance)
            else:
                bar.render_progress()

        report = job(progress)
        bar.label = f"{'done':<20}"
        bar.update(steps - bar.pos)
    return report


@main.command()
@click.option(
    "--k",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Titles per user (with --similar-to: similar titles to show).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file of hyper-parameters to change (see --print-config).",
)
@click.option(
    "--run-id",
    default=None,
    help="Id of the run (default: a new one, als-<UTC time>-<random suffix>, never an id "
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
    run_id: str | None,
    user_id: int | None,
    title_id: str | None,
    print_config: bool,
    api_url: str | None,
) -> None:
    """Fit implicit ALS on the marts and write every user's top k to recs.recommendations.

    Reads fact_sessions, dim_users and dim_titles (run `recdb simulate` and
    `recdb build` first); users with sessions get their k best unseen titles,
    users without any the cold-start list (best-of lists, then popularity).
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
    previous = _quiet_libraries(("python_api", "recommender"))
    sink = None
    if api_url is not None:
        from web_api.client import RecdbClient

        sink = RecdbClient(api_url).recommendation_sink()
    try:
        report = _run_with_progress(
            "recommending",
            lambda progress: recommender.recommend(k, config, run_id, progress=progress, sink=sink),
        )
    finally:
        if sink is not None:
            sink.close()
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
    click.echo(report.describe())


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for evaluation.json and evaluation.png (created if missing).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file of recommender hyper-parameters (as for `recdb recommend`).",
)
@click.option(
    "--simulation-config",
    "simulation_config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The simulation config the users were simulated with, for the oracle "
    "(default: the simulation's defaults).",
)
def evaluate(out_dir: Path, config_path: Path | None, simulation_config_path: Path | None) -> None:
    """Score ALS against popularity, best-of lists and the oracle on a time-based hold-out.

    Trains on the earlier sessions and tests on the later ones
    (evaluation.holdout_share of them): precision@10, map@10, ndcg@10 and
    catalogue coverage for als, popularity, best_of and oracle (the
    simulation's hidden utility, the ceiling). Writes DIR/evaluation.json
    and DIR/evaluation.png and prints the table.
    """
    import recommender
    from simulation import TasteOracle

    config = recommender.load_config(config_path)
    oracle = TasteOracle(simulation_config_path)
    previous = _quiet_libraries(("python_api", "recommender", "simulation"))
    try:
        result = recommender.evaluate(out_dir, config, oracle=oracle)
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
    click.echo(result.table())
    click.echo(f"wrote {out_dir / 'evaluation.json'} and {out_dir / 'evaluation.png'}")


@main.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="Port to serve the docs on, at http://127.0.0.1:PORT (localhost only).",
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
def docs(port: int, out_dir: Path | None, erd: bool) -> None:
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
    server = docs_site.make_server(site, port)
    click.echo(f"serving the docs at http://127.0.0.1:{port}/ (Ctrl-C stops)")
    docs_site.serve(server)


DEMO_USERS = 2000
DEMO_RUN_ID = "demo"


@main.command()
@click.option(
    "--users",
    type=click.IntRange(min=0),
    default=DEMO_USERS,
    show_default=True,
    help="Users to simulate (with their sessions) when the warehouse has none yet; 0: none.",
)
def demo(users: int) -> None:
    """The main job: start the server, load the catalogue, build and test; on an empty
    warehouse, simulate a few thousand users and recommend to them, so every example of
    the README has data; then say how to connect."""
    import python_api
    from recdb.catalog.load import load_catalog
    from recdb.core.connection import connection_settings, is_external, write_client_files
    from recdb.warehouse.build import build as build_warehouse

    if not is_external():
        click.echo(_server().start().describe())
    report = load_catalog()
    click.echo(f"loaded {sum(report.rows.values())} catalogue rows in {report.seconds:.2f} s")
    build_warehouse()
    with python_api.connect(role="scientist") as warehouse:
        existing = int(warehouse.read("select count(*) as n from sim.users")["n"].iloc[0])
    if users and not existing:
        import recommender
        from simulation import simulate as run_simulation

        previous = _quiet_libraries(("python_api", "simulation", "recommender"))
        try:
            click.echo(run_simulation(users, seed=42).describe())
            build_warehouse()
            click.echo(recommender.recommend(k=10, run_id=DEMO_RUN_ID).describe())
        finally:
            for name, level in previous.items():
                logging.getLogger(name).setLevel(level)
        build_warehouse()
    elif existing:
        click.echo(f"sim.users holds {existing:,} users already: nothing simulated")
    analyst = connection_settings("analyst")
    if analyst.home is not None:
        write_client_files(analyst.home)
        where = f"libpq reads the password from {analyst.passfile}, readable by you only"
        alternative = '  or: eval "$(recdb db env --role analyst)" && psql'
    else:
        where = "libpq finds the password in PGPASSWORD or ~/.pgpass"
        alternative = "  (as the analyst: its password from RECDB_ANALYST_PASSWORD)"
    lines = [
        "",
        f"The warehouse is built. Connect as the read-only analyst ({where}):",
        f"  psql {shlex.quote(analyst.client_url())}",
        alternative,
        "  then e.g.: select * from marts.dim_titles where is_all_time_best limit 5;",
        "Every table and column is described in the docs: recdb docs (http://127.0.0.1:8080).",
        "Other roles: recdb db url --role owner|scientist. Stop with: recdb db stop",
    ]
    click.echo("\n".join(lines))


# -- the web API (its own module; FastAPI is imported only when it runs) -----------
from web_api.serve import serve  # noqa: E402 - registered after the commands above

main.add_command(serve)


if __name__ == "__main__":
    main()
