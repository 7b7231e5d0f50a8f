"""What every command shares: the group that turns recdb's errors into one line, quiet
libraries, and a progress bar on a terminal."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

from recdb.core.errors import EngineError, RecdbError
from recdb.core.spark import DEFAULT_ENGINE, ENGINES, on_spark

logger = logging.getLogger("recdb")

#: Told each phase of a long job and how far it is, from 0 to 1.
Progress = Callable[[str, float], None]
Report = TypeVar("Report")


class RecdbGroup(click.Group):
    """A click group that turns recdb's own errors into one line and exit code 1, and a
    misused option into one line (which option, what it allows) and exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RecdbError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(1)
        except click.UsageError as error:
            _usage_error(error, ctx.command_path)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """The top command's own options misused (``recdb --engine oracle``): one line too."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as error:
            if parent is not None:
                raise  # the parent's invoke says it
            _usage_error(error, info_name or "recdb")


def _usage_error(error: click.UsageError, command_path: str) -> NoReturn:
    where = error.ctx.command_path if error.ctx is not None else command_path
    message = " ".join(error.format_message().split())  # one line, always
    click.secho(f"error: {message} (see `{where} --help`)", fg="red", err=True)
    sys.exit(error.exit_code)


@click.group(cls=RecdbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    envvar="RECDB_ENGINE",
    default=DEFAULT_ENGINE,
    show_default=True,
    show_envvar=True,
    help="Where the warehouse runs: PostgreSQL, or Apache Spark (pip install -e '.[spark]').",
)
def main(verbose: bool, engine: str) -> None:
    """recdb: a dbt + PostgreSQL warehouse for a streaming catalogue.

    Runs on the project's embedded PostgreSQL (state in $RECDB_HOME, default:
    .recdb in the recdb project you are in, found from any of its folders), or
    on your own server when PGHOST and the other PG* variables are set; with
    --engine spark, on Apache Spark (RECDB_SPARK_MASTER, default local[2]).
    """
    os.environ["RECDB_ENGINE"] = engine  # read by the parts, and by dbt's profile
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


@contextmanager
def quiet_libraries(*names: str) -> Iterator[None]:
    """Silence these libraries' INFO lines (one per batch written) unless --verbose, for
    the block."""
    previous = {name: logging.getLogger(name).level for name in names}
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in names:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def run_with_progress(label: str, job: Callable[[Progress | None], Report]) -> Report:
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


def postgres_only(command: str) -> None:
    """Refuse, in one line, a command that does not run on Spark in this version."""
    if on_spark():
        raise EngineError(
            f"`recdb {command}` runs on PostgreSQL only in this version (on Spark: load, "
            "build, simulate, recommend, evaluate, publish, docs); run it with --engine postgres"
        )
