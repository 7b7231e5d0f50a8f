"""Benchmark: python_api's bulk write and read against psql's \\copy of the same rows.

    python bench/python_api_io.py [--rows 10000000] [--read-sql-rows 1000000] [--titles 100000]

One throwaway embedded server, the project's catalogue built, users written;
then, in the same run, for N session rows (7 columns) into sim.sessions:
* write: `psql \\copy sim.sessions from FILE` (reference) vs `python_api.write("sessions", df)`;
* read:  `psql \\copy (select ...) to FILE` + a pyarrow CSV parse into pandas (reference)
         vs `python_api.read("sim.sessions")`;
* context: `pandas.read_sql` and `DataFrame.to_sql`-free psycopg numbers are left out at
  10M rows (minutes); `pandas.read_sql` runs on --read-sql-rows rows;
* catalogue rows: --titles simulated titles (genres and countries as lists) into
  sim.titles, `psql \\copy` (reference) vs `python_api.write("titles", df)`, each
  checked by the same triggers (genres, countries, the catalogue's keys and names).
Prints seconds and ratios. Needs ~3 GB of memory at 10M rows.
"""

from __future__ import annotations

import argparse
import os
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from throwaway import throwaway_warehouse, timed

import python_api
from recdb.core.connection import connection_settings
from recdb.warehouse.server import _bin

SESSION_COLUMNS = (
    "session_id, user_id, title_id, started_at, ended_at, minutes_watched, completion_ratio"
)


def make_sessions(rows: int, users: int, title_ids: np.ndarray) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 365 * 86400, rows), unit="s"
    )
    minutes = rng.uniform(1, 120, rows).round(2)
    return pd.DataFrame(
        {
            "session_id": np.arange(1, rows + 1, dtype="int64"),
            "user_id": rng.integers(1, users + 1, rows),
            "title_id": pd.array(title_ids[rng.integers(0, len(title_ids), rows)], dtype="str"),
            "started_at": start,
            "ended_at": start + pd.to_timedelta(minutes, unit="m"),
            "minutes_watched": minutes,
            "completion_ratio": rng.uniform(0, 1, rows).round(4),
        }
    )


TITLE_COLUMNS = (
    "title_id", "title_name", "title_type", "release_year", "released_at", "genres",
    "production_countries", "runtime_minutes",
)  # fmt: skip


def make_titles(count: int, genres: list[str], countries: list[str]) -> pd.DataFrame:
    """``count`` simulated titles, each with two of ``genres`` and one of ``countries``."""
    rng = np.random.default_rng(11)
    picked = rng.choice(len(genres), size=(count, 2))
    picked[:, 1] = (picked[:, 0] + 1 + picked[:, 1] % (len(genres) - 1)) % len(genres)
    return pd.DataFrame(
        {
            "title_id": [f"bench-title-{i}" for i in range(count)],
            "title_name": [f"Bench Title {i}" for i in range(count)],
            "title_type": np.where(rng.random(count) < 0.7, "movie", "show"),
            "release_year": 2026,
            "released_at": pd.Timestamp("2026-06-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 180 * 86400, count), unit="s"),
            "genres": [[genres[a], genres[b]] for a, b in picked],
            "production_countries": [
                [countries[i]] for i in rng.integers(0, len(countries), count)
            ],
            "runtime_minutes": rng.integers(20, 180, count),
        }
    )


def make_users(count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.arange(1, count + 1, dtype="int64"),
            "signup_at": pd.Timestamp("2023-01-01", tz="UTC"),
            "birth_year": 1990,
            "gender": "undisclosed",
            "country_code": "US",
            "plan": "basic",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--read-sql-rows", type=int, default=1_000_000)
    parser.add_argument("--titles", type=int, default=100_000)
    args = parser.parse_args()

    results: list[tuple[str, float, float | None]] = []
    with throwaway_warehouse() as work:
        owner = connection_settings("owner")
        env = {**os.environ, **connection_settings("scientist").libpq_env()}
        psql = [str(_bin("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        wh = python_api.connect("scientist")
        wh.write("users", make_users(max(args.rows // 10, 1)))
        titles = wh.read("select title_id from marts.dim_titles").title_id.to_numpy()
        frame = make_sessions(args.rows, max(args.rows // 10, 1), titles)
        csv_file = work / "sessions.csv"
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), csv_file)

        def truncate() -> None:
            with owner.connect(autocommit=True) as conn:
                conn.execute("truncate sim.sessions cascade")

        copy_in = (
            f"\\copy sim.sessions ({SESSION_COLUMNS}) from '{csv_file}' "
            "with (format csv, header true)"
        )
        reference_write = timed(lambda: subprocess.run([*psql, "-c", copy_in], env=env, check=True))
        truncate()
        api_write = timed(lambda: wh.write("sessions", frame))
        results.append(("write: psql \\copy from file", reference_write, None))
        results.append(("write: python_api.write", api_write, api_write / reference_write))

        out_file = work / "out.csv"
        copy_out = (
            f"\\copy (select {SESSION_COLUMNS} from sim.sessions) to '{out_file}' "
            "with (format csv, header true)"
        )

        def reference_read() -> None:
            subprocess.run([*psql, "-c", copy_out], env=env, check=True)
            pacsv.read_csv(out_file).to_pandas()

        ref_read = timed(reference_read)
        api_read = timed(lambda: wh.read(f"select {SESSION_COLUMNS} from sim.sessions"))
        results.append(("read: psql \\copy to file + pyarrow parse", ref_read, None))
        results.append(("read: python_api.read", api_read, api_read / ref_read))
        if args.read_sql_rows:
            import psycopg

            query = f"select {SESSION_COLUMNS} from sim.sessions limit {args.read_sql_rows}"
            with psycopg.connect(connection_settings("scientist").url()) as conn:
                read_sql = timed(lambda: pd.read_sql(query, conn))
            api_small = timed(lambda: wh.read(query))
            results.append((f"read {args.read_sql_rows:,} rows: pandas.read_sql", read_sql, None))
            results.append(
                (
                    f"read {args.read_sql_rows:,} rows: python_api.read",
                    api_small,
                    api_small / read_sql,
                )
            )
        if args.titles:
            genres = wh.read("select genre_id from marts.dim_genres").genre_id.to_list()
            countries = wh.read("select country_code from raw.countries").country_code.to_list()
            titles_frame = make_titles(args.titles, genres, countries)
            titles_csv = work / "titles.csv"
            as_text = titles_frame.assign(
                genres=titles_frame.genres.map(lambda v: "{" + ",".join(v) + "}"),
                production_countries=titles_frame.production_countries.map(
                    lambda v: "{" + ",".join(v) + "}"
                ),
            )
            as_text.to_csv(titles_csv, index=False)

            def delete_titles() -> None:
                with owner.connect(autocommit=True) as conn:
                    conn.execute("delete from sim.titles")

            copy_titles = (
                f"\\copy sim.titles ({', '.join(TITLE_COLUMNS)}) from '{titles_csv}' "
                "with (format csv, header true)"
            )
            reference_titles = timed(
                lambda: subprocess.run([*psql, "-c", copy_titles], env=env, check=True)
            )
            delete_titles()
            api_titles = timed(lambda: wh.write("titles", titles_frame))
            delete_titles()
            results.append((f"write {args.titles:,} titles: psql \\copy", reference_titles, None))
            results.append(
                (
                    f"write {args.titles:,} titles: python_api.write",
                    api_titles,
                    api_titles / reference_titles,
                )
            )
        wh.close()

    table = "sim.sessions (primary key, checks, delete trigger)"
    print(f"\n{args.rows:,} sessions x 7 columns into and out of {table}")
    print(f"{'':<52}{'seconds':>9}{'ratio':>9}")
    for label, seconds, ratio in results:
        shown = f"{ratio:>8.2f}x" if ratio is not None else f"{'(ref)':>9}"
        print(f"{label:<52}{seconds:>9.2f}{shown}")


if __name__ == "__main__":
    main()
