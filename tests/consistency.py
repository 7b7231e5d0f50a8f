"""The randomised consistency check of issue 11: the marts always equal what the landing
tables say, whatever interleaving of writers, deletes and builds came before.

One module of logic for two front ends: the CI test
(``tests/integration/test_marts_consistency.py``, a few steps) and the long run
(``bench/marts_consistency.py``, hundreds). It uses the public interfaces only, so it
does not depend on how the incremental models work inside:

* writes through python_api (``Warehouse``: write, update, delete, transaction,
  replace_run) and through the web API (``recdb serve`` with a scientist key);
* builds with the ``recdb build`` command line;
* "from scratch" is dbt's own SQL of each mart, compiled once with ``dbt compile
  --full-refresh`` (the select a full build runs) and run against the landing data of
  the moment, as the owner.

Each step plans a random mix of operations (numpy's generator seeded with the run's seed
and the step number, so a seed and a landing state give the same operations), runs them
from several threads while an incremental ``recdb build`` runs, beside one python_api
transaction written before the build starts and committed after it ended (every other
step: the issue's reproduction) or while it runs. A build that waits for that
transaction is caught waiting (PostgreSQL's lock graph) and reported: a build must read
its snapshot without waiting for writers. Then, with every writer committed, one more
``recdb build``, and each mart is compared with its from-scratch SQL both ways (``except
all``), on its contract columns. The web API's view is
checked too: the run a user is served exists in ``recs.recommendations`` with that
user's titles.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

import python_api
from recdb.core.connection import ConnectionSettings
from recdb.core.landing import USERS
from recdb.warehouse.transform import run_dbt

PROJECT_DIR = Path(__file__).resolve().parent.parent

#: The marts compared: every model of these folders that dbt builds as a relation.
MART_FOLDERS = ("models/marts/engagement", "models/marts/recommendations")
#: Marts the comparison must find there (a rename must not drop one silently).
REQUIRED_MARTS = ("dim_users", "fact_sessions", "fact_recommendations")
#: The users' snapshot: its current versions equal, on the columns they share, that model
#: from scratch (a snapshot taken from scratch holds one version per user, with the user's
#: values of the moment; a deleted user's versions are all ended).
SNAPSHOT = "users_snapshot"
SNAPSHOT_FROM = "dim_users"
#: How many differing rows a mismatch shows, each way.
SHOWN_ROWS = 5
#: The longest a held transaction waits for the build to end before committing anyway (a
#: safety net: a build that waits for it is seen waiting long before).
HOLD_LIMIT_S = 600

_PLANS = USERS.column("plan").allowed
_GENDERS = USERS.column("gender").allowed
_COUNTRIES = ("FR", "US", "DE", "GB", "JP", "BR", "IN")
_EPOCH = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
_TIMESTAMP_COLUMNS = frozenset({"signup_at", "churned_at", "started_at", "ended_at", "rated_at"})


class ConsistencyError(AssertionError):
    """A step left a mart different from its from-scratch build, a build failed, or an
    operation answered other than planned; the message says which and how to replay it."""


# -- where it runs -------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A running warehouse and its web API.

    ``env``: the environment of ``recdb`` subprocesses (RECDB_HOME, and DBT_TARGET_PATH so
    dbt writes its artifacts somewhere of the run's own); ``target_path``: that folder.
    """

    env: Mapping[str, str]
    owner: ConnectionSettings
    scientist: ConnectionSettings
    api_url: str
    api_key: str
    target_path: Path


@dataclass(frozen=True)
class BuildResult:
    """One ``recdb build``: its wall seconds, exit status and output."""

    seconds: float
    returncode: int
    output: str

    def tail(self, lines: int = 30) -> str:
        """The last lines of its output, without terminal colours."""
        plain = re.sub(r"\x1b\[[0-9;]*m", "", self.output)
        return "\n".join(plain.splitlines()[-lines:])


def recdb_build(target: Target, on_start: Callable[[], None] | None = None) -> BuildResult:
    """``recdb build`` as a subprocess, as a user runs it; ``on_start`` is called once the
    process is started."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "recdb.cli", "build"],
        env=dict(target.env),
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if on_start is not None:
        on_start()
    output, _ = process.communicate(timeout=900)
    return BuildResult(time.perf_counter() - started, process.returncode, output)


def recdb(target: Target, *args: str) -> str:
    """Any other ``recdb`` command; its output, or a ConsistencyError when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "recdb.cli", *args],
        env=dict(target.env),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if done.returncode:
        raise ConsistencyError(f"recdb {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# -- marts from scratch --------------------------------------------------------------
@dataclass(frozen=True)
class ScratchModel:
    """A built relation and the SQL that computes it from scratch.

    ``current_filter``: which of the relation's rows the SQL computes (all when empty);
    ``columns``: the columns compared (all the SQL's but the bookkeeping when empty).
    """

    name: str
    schema: str
    identifier: str
    sql: str
    current_filter: str = ""
    columns: tuple[str, ...] = ()

    @property
    def relation(self) -> str:
        """``schema.identifier``."""
        return f"{self.schema}.{self.identifier}"


def compile_from_scratch(owner: ConnectionSettings, target_path: Path) -> list[ScratchModel]:
    """``dbt compile --full-refresh`` of the engagement and recommendation marts, once: each
    mart's compiled select (read from the manifest dbt writes to ``target_path``), and the
    users' snapshot's current versions against :data:`SNAPSHOT_FROM`'s.

    Runs dbt in this process: call it before any thread starts (dbt's profile is read from
    environment variables set for the call).
    """
    selectors = [f"path:{folder}" for folder in MART_FOLDERS]
    run_dbt(
        ["compile", "--full-refresh", "--select", *selectors, "--target-path", str(target_path)],
        settings=owner,
    )
    manifest = json.loads((target_path / "manifest.json").read_text(encoding="utf-8"))
    nodes = manifest["nodes"].values()
    marts = {
        node["name"]: ScratchModel(
            node["name"],
            node["schema"],
            node["alias"],
            node["compiled_code"].strip().rstrip(";"),
        )
        for node in nodes
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith(MART_FOLDERS)
        and node["config"]["materialized"] != "ephemeral"
    }
    missing = [name for name in REQUIRED_MARTS if name not in marts]
    if missing:
        raise ConsistencyError(f"dbt compiled no mart called {missing} in {MART_FOLDERS}")
    snapshots = [n for n in nodes if n["resource_type"] == "snapshot" and n["name"] == SNAPSHOT]
    if len(snapshots) != 1:
        raise ConsistencyError(f"the dbt project has no snapshot called {SNAPSHOT!r}")
    snapshot = snapshots[0]
    with owner.connect() as conn:
        columns = _columns(conn, snapshot["schema"], snapshot["alias"])
        scratch = _select_columns(conn, marts[SNAPSHOT_FROM].sql)
    # The current versions: one per user that exists, and none for a deleted user (ended,
    # dbt_valid_to set; or, with hard_deletes: new_record, a current version marked deleted).
    current_filter = "dbt_valid_to is null"
    if "dbt_is_deleted" in columns:
        current_filter += " and coalesce(dbt_is_deleted, 'False') <> 'True'"
    current = ScratchModel(
        SNAPSHOT,
        snapshot["schema"],
        snapshot["alias"],
        marts[SNAPSHOT_FROM].sql,
        current_filter=current_filter,
        columns=tuple(c for c in columns if c in scratch),
    )
    return [*sorted(marts.values(), key=lambda m: m.name), current]


def _columns(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    """A relation's columns and their types, in table order."""
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute as a "
        "join pg_class as c on c.oid = a.attrelid join pg_namespace as n on n.oid = "
        "c.relnamespace where n.nspname = %s and c.relname = %s and a.attnum > 0 "
        "and not a.attisdropped order by a.attnum",
        (schema, table),
    ).fetchall()
    return dict(rows)


def _select_columns(conn: psycopg.Connection, query: str) -> list[str]:
    """The column names a query returns (planned, not run)."""
    cursor = conn.execute(sql.SQL("select * from ({}) as scratch limit 0").format(sql.SQL(query)))
    return [column.name for column in cursor.description or ()]


@dataclass(frozen=True)
class Mismatch:
    """A mart that differs from its from-scratch SQL: rows it lacks, rows it should not have
    (a few of each, with the counts), or columns that differ."""

    model: str
    problem: str
    columns: tuple[str, ...] = ()
    missing: tuple[tuple[Any, ...], ...] = ()
    missing_count: int = 0
    extra: tuple[tuple[Any, ...], ...] = ()
    extra_count: int = 0

    def __str__(self) -> str:
        lines = [f"{self.model}: {self.problem}"]
        if self.columns:
            lines.append(f"  columns: {', '.join(self.columns)}")
        for label, rows, count in (
            (f"missing from {self.model} (there from scratch)", self.missing, self.missing_count),
            (f"in {self.model}, not from scratch", self.extra, self.extra_count),
        ):
            if count:
                lines.append(f"  {count} row(s) {label}, e.g.:")
                lines.extend(f"    {row}" for row in rows)
        return "\n".join(lines)


def compare(conn: psycopg.Connection, model: ScratchModel) -> Mismatch | None:
    """The mart against its from-scratch SQL, both ways, on the compared columns (the SQL's
    values cast to the mart's column types, as a build's insert does); None when equal."""
    built = _columns(conn, model.schema, model.identifier)
    if not built:
        return Mismatch(model.relation, "the relation does not exist")
    scratch = _select_columns(conn, model.sql)
    columns = list(model.columns)
    if not columns:
        ours, theirs = list(built), list(scratch)
        if sorted(ours) != sorted(theirs):
            return Mismatch(
                model.relation,
                f"columns differ: the mart has {ours}, the from-scratch SQL {theirs}",
            )
        columns = ours
    expected = sql.SQL("select {} from ({}) as scratch").format(
        sql.SQL(", ").join(
            sql.SQL("cast({} as {}) as {}").format(
                sql.Identifier(c), sql.SQL(built[c]), sql.Identifier(c)
            )
            for c in columns
        ),
        sql.SQL(model.sql),
    )
    actual = sql.SQL("select {} from {}{}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(model.schema, model.identifier),
        sql.SQL(f" where {model.current_filter}" if model.current_filter else ""),
    )
    found: dict[str, tuple[tuple[tuple[Any, ...], ...], int]] = {}
    for label, left, right in (("missing", expected, actual), ("extra", actual, expected)):
        rows = conn.execute(
            sql.SQL(
                "select count(*) over () as differing, difference.* from "
                "({} except all {}) as difference order by {} limit {}"
            ).format(
                left,
                right,
                sql.SQL(", ").join(sql.SQL(str(i + 2)) for i in range(len(columns))),
                sql.Literal(SHOWN_ROWS),
            )
        ).fetchall()
        found[label] = (tuple(tuple(r[1:]) for r in rows), rows[0][0] if rows else 0)
    (missing, missing_count), (extra, extra_count) = found["missing"], found["extra"]
    if not missing_count and not extra_count:
        return None
    return Mismatch(
        model.relation,
        "rows differ from a build from scratch",
        tuple(columns),
        missing,
        missing_count,
        extra,
        extra_count,
    )


def compare_all(owner: ConnectionSettings, models: Sequence[ScratchModel]) -> list[Mismatch]:
    """Every model compared in one repeatable-read snapshot, as the owner."""
    with owner.connect() as conn:
        conn.execute("set transaction isolation level repeatable read, read only")
        found = [compare(conn, model) for model in models]
    return [m for m in found if m is not None]


# -- the landing data a step plans from ----------------------------------------------
@dataclass
class LandingState:
    """What the landing tables hold at a step's start: enough to plan valid operations."""

    users: dict[int, dt.datetime]  # user_id -> signup_at
    sessions: dict[int, tuple[int, bool]]  # session_id -> (user_id, rated)
    runs: dict[str, set[int]]  # run_id -> its users
    titles: list[str]
    next_user_id: int
    next_session_id: int

    @classmethod
    def read(cls, owner: ConnectionSettings, titles: list[str]) -> LandingState:
        """The state now, read as the owner."""
        with owner.connect() as conn:
            users = dict(conn.execute("select user_id, signup_at from sim.users").fetchall())
            sessions = {
                s: (u, rated)
                for s, u, rated in conn.execute(
                    "select s.session_id, s.user_id, r.session_id is not null "
                    "from sim.sessions as s left join sim.ratings as r using (session_id)"
                ).fetchall()
            }
            runs: dict[str, set[int]] = {}
            for run_id, user_id in conn.execute(
                "select distinct run_id, user_id from recs.recommendations"
            ).fetchall():
                runs.setdefault(run_id, set()).add(user_id)
        return cls(
            users,
            sessions,
            runs,
            titles,
            max(users, default=0) + 1,
            max(sessions, default=0) + 1,
        )


def catalogue_titles(owner: ConnectionSettings) -> list[str]:
    """The built catalogue's title ids, sorted."""
    with owner.connect() as conn:
        rows = conn.execute("select title_id from marts.dim_titles order by title_id").fetchall()
    return [r[0] for r in rows]


# -- operations ----------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One operation: what it does (``kind``), through which interface (``via``:
    python_api or http), its rows (plain values), and whether it should be refused.

    ``at``: when it starts, as a share of a build's duration after the step's build
    started (spreading the writes over the build).
    """

    via: str
    kind: str
    data: Mapping[str, Any]
    refused: bool = False
    at: float = 0.0

    def __str__(self) -> str:
        shown = []
        for key, value in self.data.items():
            if key in ("users", "sessions", "ratings", "rows"):
                ids = sorted({_row_key(key, row) for row in value}, key=str)
                shown.append(f"{key}={ids}")
            elif key == "ops":
                shown.append("[" + "; ".join(value) + "]")
            elif key == "changes":
                shown.append(f"changes={[dict(c) for c in value]}")
            else:
                shown.append(f"{key}={value}")
        expectation = " (should be refused)" if self.refused else ""
        return f"{self.via} {self.kind} {' '.join(shown)}{expectation}"


def _row_key(kind: str, row: Mapping[str, Any]) -> Any:
    return row["session_id"] if kind in ("sessions", "ratings") else row["user_id"]


@dataclass
class Plan:
    """A step's operations: free lanes (each a thread running its operations in order),
    the held transaction (python_api, written before the build starts, committed after
    it ended when ``hold`` is None, else ``hold`` builds' durations after it started or
    when it ends), and users whose served list is checked."""

    step: int
    lanes: list[list[Op]]
    held: list[Op]
    hold: float | None
    check_users: list[int]


class Planner:
    """Plans a step's operations from a landing state, so that the operations of one step
    commute: no two touch the same user, session or run in ways whose order matters (a
    user being deleted is referenced by nothing else; a session or run is claimed by one
    operation), and so each has one right answer whatever the interleaving."""

    def __init__(self, state: LandingState, rng: np.random.Generator, step: int) -> None:
        self.state = state
        self.rng = rng
        self.step = step
        self.referenced: set[int] = set()  # users others refer to: not deletable this step
        self.deleting: set[int] = set()  # users deleted (or refused) this step
        self.updating: set[int] = set()  # users changed this step: by one operation only
        self.claimed_sessions: set[int] = set()
        self.claimed_runs: set[str] = set()
        self.new_runs = 0
        self.sessions_of: dict[int, list[int]] = {}
        for session_id, (user_id, _) in sorted(state.sessions.items()):
            self.sessions_of.setdefault(user_id, []).append(session_id)

    # -- picking ---------------------------------------------------------------------
    def choose(self, items: Sequence[Any], count: int = 1) -> list[Any]:
        """Up to ``count`` distinct items, in their order."""
        if not items:
            return []
        count = min(count, len(items))
        picked = self.rng.choice(len(items), size=count, replace=False)
        return [items[int(i)] for i in sorted(picked)]

    def _usable_users(self) -> list[int]:
        return [u for u in sorted(self.state.users) if u not in self.deleting]

    def _refer(self, count: int, *, exclusive: bool = False) -> list[int]:
        """Users to refer to (``exclusive``: to change, by this operation alone)."""
        usable = [u for u in self._usable_users() if not (exclusive and u in self.updating)]
        users = self.choose(usable, count)
        self.referenced.update(users)
        if exclusive:
            self.updating.update(users)
        return users

    def _claim_sessions(self, count: int, *, rated: bool | None) -> list[int]:
        free = [
            s
            for s, (u, is_rated) in sorted(self.state.sessions.items())
            if s not in self.claimed_sessions
            and u not in self.deleting
            and (rated is None or is_rated == rated)
        ]
        picked = self.choose(free, count)
        self.claimed_sessions.update(picked)
        self.referenced.update(self.state.sessions[s][0] for s in picked)
        return picked

    def _claim_run(self) -> str | None:
        free = [
            r
            for r, users in sorted(self.state.runs.items())
            if r not in self.claimed_runs and not users & self.deleting
        ]
        picked = self.choose(free)
        if not picked:
            return None
        self.claimed_runs.add(picked[0])
        return picked[0]

    # -- rows ------------------------------------------------------------------------
    def _new_user(self) -> dict[str, Any]:
        user_id = self.state.next_user_id
        self.state.next_user_id += 1
        # Not added to the state: no other operation of this step may refer to it (it
        # exists only once its own operation committed).
        signup = _EPOCH + dt.timedelta(days=int(self.rng.integers(0, 365)))
        return {
            "user_id": user_id,
            "signup_at": signup,
            "birth_year": int(self.rng.integers(1950, 2006)),
            "gender": str(self.rng.choice(_GENDERS)),
            "country_code": str(self.rng.choice(_COUNTRIES)),
            "plan": str(self.rng.choice(_PLANS)),
            "churned_at": None,
        }

    def _new_sessions(
        self, user_id: int, signup: dt.datetime, count: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        sessions, ratings = [], []
        for _ in range(count):
            session_id = self.state.next_session_id
            self.state.next_session_id += 1
            started = signup + dt.timedelta(minutes=int(self.rng.integers(60, 500_000)))
            minutes = float(self.rng.integers(1, 180))
            sessions.append(
                {
                    "session_id": session_id,
                    "user_id": user_id,
                    "title_id": str(self.rng.choice(self.state.titles)),
                    "started_at": started,
                    "ended_at": started + dt.timedelta(minutes=minutes),
                    "minutes_watched": minutes,
                    "completion_ratio": round(float(self.rng.uniform(0, 1)), 3),
                }
            )
            if self.rng.random() < 0.5:
                ratings.append(self._rating(session_id, sessions[-1]["ended_at"]))
        return sessions, ratings

    def _rating(self, session_id: int, when: dt.datetime) -> dict[str, Any]:
        return {"session_id": session_id, "rating": int(self.rng.integers(1, 6)), "rated_at": when}

    def run_rows(self, users: Sequence[int]) -> list[dict[str, Any]]:
        """A run's rows for these users: 1 to 3 distinct titles each, ranked."""
        k = int(self.rng.integers(1, 4))
        rows = []
        for user_id in users:
            titles = self.choose(self.state.titles, k)
            cold = bool(self.rng.random() < 0.2)
            for rank, title in enumerate(titles, start=1):
                score = round(float(self.rng.uniform(0, 1)) / rank, 6)
                rows.append(
                    {
                        "user_id": user_id,
                        "title_id": title,
                        "rank": rank,
                        "score": score,
                        "is_cold_start": cold,
                    }
                )
        return rows

    def _run_id(self) -> str:
        self.new_runs += 1
        return f"s{self.step}-{self.new_runs}"

    def _change(self, user_id: int) -> dict[str, Any]:
        """A plan or churn change: the columns the users' snapshot versions."""
        signup = self.state.users[user_id]
        draw = self.rng.random()
        if draw < 0.5:
            return {"user_id": user_id, "plan": str(self.rng.choice(_PLANS))}
        if draw < 0.8:
            churned = signup + dt.timedelta(days=int(self.rng.integers(1, 400)))
            return {"user_id": user_id, "churned_at": churned}
        return {"user_id": user_id, "churned_at": None}

    # -- operations ------------------------------------------------------------------
    def op(self, via: str, kind: str) -> Op | None:
        """One operation of ``kind`` through ``via``; None when the state has nothing it
        could act on (no free session to rate, no run to replace)."""
        rng = self.rng
        at = float(rng.uniform(0.0, 1.2))
        if kind == "add_users":
            if via == "http":  # POST /v1/users takes one user
                return Op(via, kind, {"users": [self._new_user()]}, at=at)
            users = [self._new_user() for _ in range(int(rng.integers(1, 4)))]
            sessions, ratings = [], []
            for user in users:  # with their first sessions, in the same transaction
                more = self._new_sessions(
                    user["user_id"], user["signup_at"], int(rng.integers(0, 4))
                )
                sessions += more[0]
                ratings += more[1]
            data = {"users": users, "sessions": sessions, "ratings": ratings}
            return Op(via, kind, data, at=at)
        if kind == "add_sessions":
            (user_id,) = self._refer(1) or [None]
            if user_id is None:
                return None
            sessions, ratings = self._new_sessions(
                user_id, self.state.users[user_id], int(rng.integers(1, 5))
            )
            return Op(via, kind, {"sessions": sessions, "ratings": ratings}, at=at)
        if kind == "add_ratings":
            picked = self._claim_sessions(int(rng.integers(1, 4)), rated=False)
            if not picked:
                return None
            ratings = [self._rating(s, _EPOCH + dt.timedelta(days=800)) for s in picked]
            return Op(via, kind, {"ratings": ratings}, at=at)
        if kind == "update_users":
            users = self._refer(1 if via == "http" else int(rng.integers(1, 4)), exclusive=True)
            if not users:
                return None
            return Op(via, kind, {"changes": [self._change(u) for u in users]}, at=at)
        if kind == "delete_sessions":
            picked = self._claim_sessions(int(rng.integers(1, 4)), rated=None)
            if not picked:
                return None
            rated = [s for s in picked if self.state.sessions[s][1]]
            return Op(via, kind, {"session_ids": picked, "rated": rated}, at=at)
        if kind == "delete_ratings":
            picked = self._claim_sessions(int(rng.integers(1, 3)), rated=True)
            if not picked:
                return None
            return Op(via, kind, {"session_ids": picked}, at=at)
        if kind == "delete_user":
            free = [u for u in self._usable_users() if u not in self.referenced]
            (user_id,) = self.choose(free) or [None]
            if user_id is None:
                return None
            self.deleting.add(user_id)
            sessions = self.sessions_of.get(user_id, [])
            rated = [s for s in sessions if self.state.sessions[s][1]]
            data = {"user_id": user_id, "session_ids": sessions, "rated": rated}
            if via == "http" or (sessions and rng.random() < 0.3):
                # A user with sessions: the API (409) and a bare python_api delete refuse.
                data = {"user_id": user_id, "session_ids": [], "rated": []}
                return Op(via, kind, data, refused=bool(sessions), at=at)
            return Op(via, kind, data, at=at)
        if kind == "write_run":
            users = self._refer(int(rng.integers(2, 9)))
            if not users:
                return None
            return Op(via, kind, {"run_id": self._run_id(), "rows": self.run_rows(users)}, at=at)
        if kind == "replace_run":
            run_id = self._claim_run()
            if run_id is None:
                return None
            rows = self.run_rows(self._refer(int(rng.integers(2, 9))))
            return Op(via, kind, {"run_id": run_id, "rows": rows}, at=at)
        if kind == "delete_run":
            run_id = self._claim_run()
            if run_id is None:
                return None
            return Op(via, kind, {"run_id": run_id}, at=at)
        raise ValueError(f"no operation {kind!r}")


#: Kinds (and weights) each lane draws from.
PYTHON_API_KINDS = {
    "add_users": 2,
    "add_sessions": 3,
    "add_ratings": 2,
    "update_users": 3,
    "delete_sessions": 2,
    "delete_ratings": 1,
    "delete_user": 2,
    "write_run": 1,
    "replace_run": 2,
    "delete_run": 1,
}
HTTP_KINDS = {
    "add_users": 2,
    "add_sessions": 3,
    "update_users": 3,
    "delete_user": 2,
    "write_run": 1,
    "replace_run": 1,
    "delete_run": 1,
}
#: The held transaction: python_api only, nothing that should be refused (a refusal
#: would roll the whole transaction back).
HELD_KINDS = {
    "add_users": 1,
    "add_sessions": 2,
    "add_ratings": 1,
    "update_users": 2,
    "delete_sessions": 2,
    "delete_ratings": 1,
    "write_run": 1,
    "replace_run": 2,
    "delete_run": 1,
}


def plan_step(
    state: LandingState,
    seed: int,
    step: int,
    *,
    python_api_lanes: int = 2,
    http_lanes: int = 1,
    ops_per_lane: int = 3,
) -> Plan:
    """A step's operations, from the seed, the step number and the landing state only."""
    rng = np.random.default_rng([seed, step])
    planner = Planner(state, rng, step)

    def draw(via: str, kinds: Mapping[str, int], count: int) -> list[Op]:
        names = sorted(kinds)
        weights = np.array([kinds[n] for n in names], dtype=float)
        ops: list[Op] = []
        for _ in range(count * 4):  # kinds with nothing to act on are drawn again
            if len(ops) == count:
                break
            kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
            op = planner.op(via, kind)
            if op is not None:
                ops.append(op)
        return sorted(ops, key=lambda o: o.at)

    held = draw("python_api", HELD_KINDS, int(rng.integers(1, 4)))
    lanes = [draw("python_api", PYTHON_API_KINDS, ops_per_lane) for _ in range(python_api_lanes)]
    lanes += [draw("http", HTTP_KINDS, ops_per_lane) for _ in range(http_lanes)]
    # Every other step commits after the build ended (the reproduction); the others
    # at a random moment of it.
    hold = None if step % 2 == 0 else float(rng.uniform(0.1, 1.0))
    survivors = [u for u in sorted(state.users) if u not in planner.deleting]
    check_users = planner.choose(survivors, 3)
    return Plan(step, lanes, held, hold, check_users)


# -- running operations --------------------------------------------------------------
def _frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as python_api takes them: timestamps as UTC datetimes, even a column of nulls."""
    frame = pd.DataFrame(list(rows))
    for column in frame.columns:
        if column in _TIMESTAMP_COLUMNS:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _run_frame(run_id: str, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return _frame([{"run_id": run_id, **row} for row in rows])


def apply_python_api(op: Op, wh: python_api.Warehouse, *, in_transaction: bool) -> None:
    """Run one operation through python_api, as one transaction of its own (or as part of
    the caller's, when ``in_transaction``)."""
    data = op.data

    def body() -> None:
        if op.kind in ("add_users", "add_sessions", "add_ratings"):
            for table in ("users", "sessions", "ratings"):
                if data.get(table):
                    wh.write(table, _frame(data[table]))
        elif op.kind == "update_users":
            for change in data["changes"]:  # one row each: the columns differ between rows
                wh.update("users", _frame([change]))
        elif op.kind == "delete_ratings":
            wh.delete("ratings", data["session_ids"])
        elif op.kind in ("delete_sessions", "delete_user"):
            # A session's rating refers to it, a user's sessions to the user: python_api
            # refuses to delete a row still referenced, so the referring rows go first.
            if data["rated"]:
                wh.delete("ratings", data["rated"])
            if data["session_ids"]:
                wh.delete("sessions", data["session_ids"])
            if op.kind == "delete_user":
                wh.delete("users", [data["user_id"]])
        elif op.kind in ("write_run", "replace_run"):  # a new run id, or an existing one
            wh.replace_run(data["run_id"])
            wh.write("recommendations", _run_frame(data["run_id"], data["rows"]))
        elif op.kind == "delete_run":
            wh.delete("runs", [data["run_id"]])  # with its rows
        else:
            raise ValueError(f"python_api has no operation {op.kind!r}")

    if in_transaction:
        body()
    else:
        with wh.transaction():
            body()


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _body(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _json(v) for k, v in row.items()} for row in rows]


def http_requests(op: Op) -> list[tuple[str, str, Any, int]]:
    """The web API requests of an operation: (method, path, JSON body, the status it
    should answer), sent in order."""
    data = op.data
    if op.kind == "add_users":
        return [("POST", "/v1/users", _body(data["users"])[0], 201)]
    if op.kind == "add_sessions":
        ratings = {r["session_id"]: r for r in data["ratings"]}
        sessions = [
            {
                **s,
                "rating": ratings.get(s["session_id"], {}).get("rating"),
                "rated_at": ratings.get(s["session_id"], {}).get("rated_at"),
            }
            for s in data["sessions"]
        ]
        return [("POST", "/v1/sessions", _body(sessions), 201)]
    if op.kind == "update_users":
        (change,) = data["changes"]
        fields = {k: _json(v) for k, v in change.items() if k != "user_id"}
        return [("PATCH", f"/v1/users/{change['user_id']}", fields, 200)]
    if op.kind == "delete_user":
        return [("DELETE", f"/v1/users/{data['user_id']}", None, 409 if op.refused else 204)]
    if op.kind == "delete_run":
        return [("DELETE", f"/v1/recommendations/{data['run_id']}", None, 200)]
    if op.kind in ("write_run", "replace_run"):
        run_id = data["run_id"]
        rows = ("POST", "/v1/recommendations", {"run_id": run_id, "rows": _body(data["rows"])}, 201)
        # Begin (a new run, or an existing one again: its rows are dropped), write, publish.
        return [
            ("POST", "/v1/runs", {"run_id": run_id}, 201),
            rows,
            ("POST", f"/v1/runs/{run_id}/publish", None, 200),
        ]
    raise ValueError(f"the web API has no operation {op.kind!r}")


def _send(client: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    """One request; a 503 (a lock held too long, or the database away for a moment: nothing
    was kept) is sent again after its Retry-After, as a client should, for up to 2 minutes."""
    deadline = time.monotonic() + 120
    while True:
        response = client.request(method, path, json=body)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 2.0))


@dataclass
class Outcome:
    """What an operation answered, and whether that is what it should have answered."""

    op: Op
    answer: str
    expected: bool
    lane: str = ""


def _python_api_outcome(op: Op, action: Callable[[], None]) -> Outcome:
    # A deadlock between two writers is PostgreSQL's to break, and python_api kept
    # nothing of the loser: a client runs it again.
    for _ in range(5):
        try:
            action()
        except python_api.ValidationError as error:
            refused = op.refused and type(error) is python_api.ValidationError
            return Outcome(op, f"{type(error).__name__}: {error}", refused)
        except python_api.ApiError as error:
            if "deadlock" in str(error):
                continue
            return Outcome(op, f"{type(error).__name__}: {error}", False)
        return Outcome(op, "ok", not op.refused)
    return Outcome(op, "deadlocked 5 times", False)


def _http_outcome(op: Op, client: httpx.Client) -> Outcome:
    """Send an operation's requests, stopping at the first that answers other than it
    should."""
    statuses = []
    for method, path, body, wanted in http_requests(op):
        response = _send(client, method, path, body)
        statuses.append(str(response.status_code))
        if response.status_code != wanted:
            answer = f"HTTP {' '.join(statuses)} ({method} {path}: {response.text[:300]})"
            return Outcome(op, answer, False)
    return Outcome(op, f"HTTP {' '.join(statuses)}", True)


@dataclass
class StepReport:
    """What a step did and found."""

    plan: Plan
    outcomes: list[Outcome]
    concurrent_build: BuildResult
    build: BuildResult | None
    mismatches: list[Mismatch] = field(default_factory=list)
    api_problems: list[str] = field(default_factory=list)
    held_committed: str = ""  # when the held transaction committed
    build_waited: str | None = None  # the build's statement that waited for it, if one did

    @property
    def problems(self) -> list[str]:
        """Everything that went wrong, one entry each (empty: the step passed)."""
        found = [
            f"{o.lane}: {o.op} answered {o.answer}, not what it should have"
            for o in self.outcomes
            if not o.expected
        ]
        if self.build_waited is not None:
            found.append(
                "the build beside the writers waited for the held transaction (open since "
                "before the build started), at: "
                + " ".join(self.build_waited.split())[:300]
                + "\nA build must read its snapshot without waiting for writers (and new "
                "writers queue behind such a wait); a commit after the build ended, the race "
                "this step was to run, could not happen"
            )
        if self.concurrent_build.returncode:
            found.append(
                "the recdb build running beside the writers failed:\n"
                + self.concurrent_build.tail()
            )
        if self.build is not None and self.build.returncode:
            found.append(
                "the recdb build after every writer committed failed:\n" + self.build.tail()
            )
        found += [str(m) for m in self.mismatches]
        found += self.api_problems
        return found

    def summary(self) -> str:
        """One line: the step, its operations by kind, the builds' seconds, the verdict."""
        kinds: dict[str, int] = {}
        for outcome in self.outcomes:
            kinds[outcome.op.kind] = kinds.get(outcome.op.kind, 0) + 1
        ops = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        builds = f"builds {self.concurrent_build.seconds:.1f} s"
        if self.build is not None:
            builds += f" + {self.build.seconds:.1f} s"
        held = f"; held transaction committed {self.held_committed}" if self.held_committed else ""
        verdict = "consistent" if not self.problems else f"{len(self.problems)} problem(s)"
        return (
            f"step {self.plan.step}: {len(self.outcomes)} operations ({ops}); {builds}{held}; "
            f"{verdict}"
        )


# -- a step --------------------------------------------------------------------------
_WAITING_FOR = """
with recursive waits (pid, blocker) as (
    select activity.pid, blocker
    from pg_stat_activity as activity
    cross join lateral unnest(pg_blocking_pids(activity.pid)) as blocker
    where activity.usename = current_user and activity.pid <> pg_backend_pid()
    union
    select waits.pid, further
    from waits
    cross join lateral unnest(pg_blocking_pids(waits.blocker)) as further
)
select activity.query
from waits
inner join pg_stat_activity as activity on waits.pid = activity.pid
where waits.blocker = %s
limit 1
"""


def _waiting_for(watcher: psycopg.Connection, pid: int) -> str | None:
    """The statement of an owner's session (the build's) that waits for backend ``pid``,
    directly or behind another session that does; None when none does."""
    row = watcher.execute(_WAITING_FOR, (pid,)).fetchone()
    return row[0] if row else None


def run_step(target: Target, plan: Plan, build_seconds: float) -> StepReport:
    """Run a step's operations beside an incremental build, then build once more and
    compare; ``build_seconds`` (a recent build's duration) scales the operations' start
    times and the held transaction's commit."""
    held_ready = threading.Event()
    build_started = threading.Event()
    build_done = threading.Event()
    started_at: list[float] = []
    held: dict[str, str] = {}  # when the held transaction committed; what waited for it

    def wait_until(share: float) -> None:
        build_started.wait(timeout=300)
        if not started_at:  # the build never started: go on at once
            return
        due = started_at[0] + share * build_seconds
        time.sleep(max(0.0, due - time.monotonic()))

    def python_api_lane(ops: list[Op]) -> list[Outcome]:
        outcomes = []
        with python_api.Warehouse("scientist", settings=target.scientist) as wh:
            for op in ops:
                wait_until(op.at)
                outcomes.append(
                    _python_api_outcome(
                        op, lambda op=op: apply_python_api(op, wh, in_transaction=False)
                    )
                )
        return outcomes

    def http_lane(ops: list[Op]) -> list[Outcome]:
        headers = {"X-API-Key": target.api_key}
        with httpx.Client(base_url=target.api_url, headers=headers, timeout=120) as client:
            outcomes = []
            for op in ops:
                wait_until(op.at)
                outcomes.append(_http_outcome(op, client))
        return outcomes

    def held_lane() -> list[Outcome]:
        # Written before the build starts, committed after it ended (hold None) or while
        # it runs: rows committed after a build started must reach the marts at a later
        # build. A build that waits for this transaction is caught in the act (see
        # _waiting_for): it must read its snapshot without waiting for writers, and the
        # race could not be run beside it.
        def action() -> None:
            with (
                python_api.Warehouse("scientist", settings=target.scientist) as wh,
                wh.transaction(),
            ):
                for op in plan.held:
                    apply_python_api(op, wh, in_transaction=True)
                held_pid = int(wh.read("select pg_backend_pid() as pid")["pid"].iloc[0])
                held_ready.set()
                build_started.wait(timeout=300)
                hold = HOLD_LIMIT_S if plan.hold is None else plan.hold * build_seconds
                due = time.monotonic() + hold
                with target.owner.connect(autocommit=True) as watcher:
                    while not build_done.wait(timeout=0.2):
                        query = _waiting_for(watcher, held_pid)
                        if query is not None:
                            held["waited"] = query
                            break
                        if time.monotonic() >= due:
                            if plan.hold is None:  # a wait this query does not see
                                held["waited"] = f"(none seen; it ran {hold:.0f} s and more)"
                            break
                held["when"] = (
                    "after the build ended"
                    if build_done.is_set()
                    else "when the build waited for it"
                    if "waited" in held
                    else "during the build"
                )

        try:
            if not plan.held:
                return []
            combined = Op("python_api", "transaction", {"ops": [str(o) for o in plan.held]})
            outcome = _python_api_outcome(combined, action)
            outcome.lane = f"held, committed {held.get('when', '')}"
            return [outcome]
        finally:
            held_ready.set()

    def build() -> BuildResult:
        held_ready.wait(timeout=300)

        def on_start() -> None:
            started_at.append(time.monotonic())
            build_started.set()

        try:
            return recdb_build(target, on_start)
        finally:
            build_started.set()
            build_done.set()

    lanes = len(plan.lanes) + 2
    with concurrent.futures.ThreadPoolExecutor(max_workers=lanes) as pool:
        building = pool.submit(build)
        holding = pool.submit(held_lane)
        running = [
            pool.submit(
                python_api_lane if lane and lane[0].via == "python_api" else http_lane, lane
            )
            for lane in plan.lanes
        ]
        outcomes = []
        for number, future in enumerate(running):
            for outcome in future.result():
                outcome.lane = f"lane {number}"
                outcomes.append(outcome)
        outcomes += holding.result()
        concurrent_build = building.result()
    report = StepReport(plan, outcomes, concurrent_build, None)
    report.held_committed = held.get("when", "")
    report.build_waited = held.get("waited")
    report.build = recdb_build(target)
    return report


def check_api(target: Target, users: Sequence[int], k: int = 10) -> list[str]:
    """Each user's served list: 200, and either the cold-start list or a run that exists
    in recs.recommendations with these titles for this user, in rank order."""
    problems = []
    headers = {"X-API-Key": target.api_key}
    with (
        httpx.Client(base_url=target.api_url, headers=headers, timeout=60) as client,
        target.owner.connect() as conn,
    ):
        for user_id in users:
            response = client.get(f"/v1/users/{user_id}/recommendations", params={"k": k})
            if response.status_code != 200:
                problems.append(
                    f"GET /v1/users/{user_id}/recommendations: HTTP {response.status_code} "
                    f"{response.text[:200]}"
                )
                continue
            body = response.json()
            if body["run_id"] is None:
                if not body["is_cold_start"]:
                    problems.append(f"user {user_id}: no run and not the cold-start list")
                continue
            listed = conn.execute(
                "select title_ids[1:%s] from recs.recommendations where run_id = %s "
                "and user_id = %s",
                (k, body["run_id"], user_id),
            ).fetchone()
            landing = listed[0] if listed else []
            served = [item["title_id"] for item in body["items"]]
            if served != landing:
                problems.append(
                    f"GET /v1/users/{user_id}/recommendations serves run {body['run_id']!r} "
                    f"titles {served}; recs.recommendations has {landing} for that run and user"
                )
    return problems


# -- a whole run ---------------------------------------------------------------------
@dataclass
class Consistency:
    """A run of steps over one target: plan, run, build, compare, one step at a time."""

    target: Target
    seed: int
    users: int
    python_api_lanes: int = 2
    http_lanes: int = 1
    ops_per_lane: int = 3
    models: list[ScratchModel] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    build_seconds: float = 5.0

    def prepare(self) -> None:
        """On a warehouse with its catalogue built: simulate ``users`` users, write two
        recommendation runs, build, compile the marts from scratch, and check that they
        agree before any step."""
        self.titles = catalogue_titles(self.target.owner)
        recdb(self.target, "simulate", "--users", str(self.users), "--seed", str(self.seed))
        self._write_first_runs()
        first = recdb_build(self.target)
        if first.returncode:
            raise ConsistencyError("recdb build after the simulation failed:\n" + first.tail())
        self.build_seconds = first.seconds
        self.models = compile_from_scratch(self.target.owner, self.target.target_path)
        mismatches = compare_all(self.target.owner, self.models)
        if mismatches:
            raise ConsistencyError(
                "the marts differ from scratch before any step:\n" + "\n".join(map(str, mismatches))
            )

    def _write_first_runs(self) -> None:
        """Two recommendation runs, so that the first steps have runs to replace and
        delete: one for every user, one for every other user (written second: newer)."""
        state = LandingState.read(self.target.owner, self.titles)
        planner = Planner(state, np.random.default_rng([self.seed, 1_000_000]), step=0)
        users = sorted(state.users)
        with python_api.Warehouse("scientist", settings=self.target.scientist) as wh:
            for run_id, chosen in (("first-all", users), ("first-half", users[::2])):
                op = Op(
                    "python_api", "write_run", {"run_id": run_id, "rows": planner.run_rows(chosen)}
                )
                apply_python_api(op, wh, in_transaction=False)

    def steps(self, count: int) -> Iterator[StepReport]:
        """Run ``count`` steps, yielding each one's report (a failed step is yielded too;
        the caller decides whether to go on)."""
        for step in range(count):
            state = LandingState.read(self.target.owner, self.titles)
            plan = plan_step(
                state,
                self.seed,
                step,
                python_api_lanes=self.python_api_lanes,
                http_lanes=self.http_lanes,
                ops_per_lane=self.ops_per_lane,
            )
            report = run_step(self.target, plan, self.build_seconds)
            if report.build is not None and not report.build.returncode:
                self.build_seconds = report.build.seconds
            # Compared after a failed build too: what it left is what readers see.
            report.mismatches = compare_all(self.target.owner, self.models)
            report.api_problems = check_api(self.target, plan.check_users)
            yield report

    def failure(self, report: StepReport) -> str:
        """The message of a failed step: seed, step, how to replay, its operations and
        answers, and what differs."""
        replay = (
            f"python bench/marts_consistency.py --seed {self.seed} --users {self.users} "
            f"--steps {report.plan.step + 1} --lanes {self.python_api_lanes} "
            f"--http-lanes {self.http_lanes} --ops {self.ops_per_lane}"
        )
        answers = "\n".join(f"  {o.lane}: {o.op} -> {o.answer}" for o in report.outcomes)
        problems = "\n".join(report.problems)
        return (
            f"step {report.plan.step} of seed {self.seed} left the warehouse inconsistent "
            f"(replay: {replay})\n"
            f"operations and their answers:\n{answers}\n"
            f"problems:\n{problems}"
        )
