"""What every command shares: the group that turns recdb's errors into one line, quiet
libraries, and a progress bar on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

from recdb.core.errors import RecdbError

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
            where = error.ctx.command_path if error.ctx is not None else ctx.command_path
            message = " ".join(error.format_message().split())  # one line, always
            click.secho(f"error: {message} (see `{where} --help`)", fg="red", err=True)
            sys.exit(error.exit_code)


@click.group(cls=RecdbGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
