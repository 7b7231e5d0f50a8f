"""``recdb demo``: the main job in one command."""

from __future__ import annotations

import shlex

import click

from recdb.cli.base import postgres_only, quiet_libraries

DEMO_USERS = 2000
DEMO_RUN_ID = "demo"


@click.command()
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
    the README and the guides has data; then say how to connect."""
    postgres_only("demo")
    import python_api
    from recdb.catalog.load import load_catalog
    from recdb.core.connection import connection_settings, is_external, write_client_files
    from recdb.warehouse.build import build as build_warehouse

    if not is_external():
        from recdb.warehouse.server import EmbeddedServer

        click.echo(EmbeddedServer().start().describe())
    report = load_catalog()
    click.echo(f"loaded {sum(report.rows.values())} catalogue rows in {report.seconds:.2f} s")
    build_warehouse()
    with python_api.connect(role="scientist") as warehouse:
        existing = int(warehouse.read("select count(*) as n from sim.users")["n"].iloc[0])
    if users and not existing:
        import recommender
        from simulation import simulate as run_simulation

        with quiet_libraries("python_api", "simulation", "recommender"):
            click.echo(run_simulation(users, seed=42).describe())
            build_warehouse()
            click.echo(recommender.recommend(k=10, run_id=DEMO_RUN_ID).describe())
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
