"""Benchmark: loading the catalogue through recdb's COPY loader vs `psql \\copy` vs `dbt seed`.

    python bench/load_catalog.py [--from DIR] [--repeat 5] [--skip-seed]

Starts a throwaway embedded server, then, in the same run:
* reference: one `psql` session that `\\copy`s the six files into tables of the
  files' own shape (all text columns, in one transaction);
* recdb: `load_catalog(DIR)`, the fast path (same files into the typed raw tables);
* dbt seed: the same rows as seeds (`dbt seed --full-refresh`), once.
Prints medians and ratios against the reference. DIR defaults to the real
catalogue in ../shared/data/netflix, else a generated one of the same size.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from recdb.catalog.generate import generate_catalog
from recdb.catalog.load import find_catalog_files, load_catalog
from recdb.warehouse.server import EmbeddedServer, _bin, free_port
from recdb.warehouse.transform import run_dbt

PROJECT_DIR = Path(__file__).resolve().parent.parent
REAL_DIR = PROJECT_DIR.parent / "shared" / "data" / "netflix"


def psql_copy_script(source_dir: Path) -> tuple[str, str]:
    """SQL to create file-shaped text tables, and a psql script that \\copies every file."""
    files = find_catalog_files(source_dir)
    create, copy = ["create schema if not exists bench;"], ["begin;"]
    for name, catalog_file in files.items():
        columns = ", ".join(f'"{c or "index"}" text' for c in catalog_file.header)
        create.append(f"drop table if exists bench.{name}; create table bench.{name} ({columns});")
        copy.append(f"truncate bench.{name};")
        path = str(catalog_file.path).replace("'", "''")
        copy.append(f"\\copy bench.{name} from '{path}' with (format csv, header true)")
    copy.append("commit;")
    return "\n".join(create), "\n".join(copy) + "\n"


def to_seed_layout(source_dir: Path, out_dir: Path) -> None:
    """The same rows as dbt-seed-ready files: no index column, lower-case, integers."""
    for name, catalog_file in find_catalog_files(source_dir).items():
        integer_columns = {c.name for c in catalog_file.table.columns if c.is_integer}
        with (
            open(catalog_file.path, encoding="utf-8-sig", newline="") as src,
            open(out_dir / f"{name}.csv", "w", encoding="utf-8", newline="") as dst,
        ):
            reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
            header = next(reader)
            skip = 1 if catalog_file.has_index_column else 0
            names = [h.strip().lower() for h in header[skip:]]
            order = [names.index(c) for c in catalog_file.table.column_names]
            writer.writerow(catalog_file.table.column_names)
            for row in reader:
                values = row[skip:]
                out = []
                for position in order:
                    value = values[position]
                    if names[position] in integer_columns and value.endswith(".0"):
                        value = value[:-2]
                    out.append(value)
                writer.writerow(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source_dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="recdb-bench-"))
    source_dir = args.source_dir
    if source_dir is None:
        if (REAL_DIR / "raw_titles.csv").exists():
            source_dir = REAL_DIR
        else:
            source_dir = work / "catalog"
            generate_catalog(source_dir, titles=5806, seed=1, layout="kaggle")
    os.environ["RECDB_PORT"] = str(free_port())
    server = EmbeddedServer(work / "home")
    server.start()
    try:
        from recdb.core.connection import connection_settings

        owner = connection_settings("owner", home=server.home)
        create_sql, copy_script = psql_copy_script(source_dir)
        env = {**os.environ, **owner.libpq_env()}
        psql = [str(_bin("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        subprocess.run([*psql, "-c", create_sql], env=env, check=True)
        (work / "copy.sql").write_text(copy_script)

        reference, recdb = [], []
        os.environ["RECDB_HOME"] = str(server.home)
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([*psql, "-f", str(work / "copy.sql")], env=env, check=True)
            reference.append(time.perf_counter() - started)
            started = time.perf_counter()  # connecting counts, as it does for psql
            report = load_catalog(source_dir)
            recdb.append(time.perf_counter() - started)
        rows = sum(report.rows.values())

        seed_seconds = None
        if not args.skip_seed:
            project = work / "project"
            shutil.copytree(
                PROJECT_DIR,
                project,
                ignore=shutil.ignore_patterns(".venv", "target", "logs", ".recdb", ".git", "bench"),
            )
            for old in (project / "seeds" / "netflix").glob("*.csv"):
                old.unlink()
            to_seed_layout(source_dir, project / "seeds" / "netflix")
            os.environ["RECDB_PROJECT_DIR"] = str(project)
            started = time.perf_counter()
            run_dbt(
                ["seed", "--full-refresh", "--vars", "{load_source_data: true}", "--quiet"],
                settings=owner,
            )
            seed_seconds = time.perf_counter() - started
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    ref = statistics.median(reference)
    fast = statistics.median(recdb)
    print(f"\ncatalogue: {source_dir} ({rows} rows in 6 files), median of {args.repeat} runs")
    header = ("method", "seconds", "vs psql \\copy")
    print("{:<34}{:>10}{:>16}".format(*header))
    table = [("psql \\copy (reference)", ref), ("recdb load (COPY loader)", fast)]
    if seed_seconds is not None:
        table.append(("dbt seed (once)", seed_seconds))
    for method, seconds in table:
        print(f"{method:<34}{seconds:>10.3f}{seconds / ref:>15.2f}x")


if __name__ == "__main__":
    main()
