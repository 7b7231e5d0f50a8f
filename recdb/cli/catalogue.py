"""``recdb catalog generate``, ``recdb load`` and ``recdb build``: from catalogue files to
the tested marts."""

from __future__ import annotations

from pathlib import Path

import click

from recdb.cli.base import RecdbGroup


# -- catalogue ----------------------------------------------------------------
@click.group(cls=RecdbGroup)
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


@click.command()
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


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
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
