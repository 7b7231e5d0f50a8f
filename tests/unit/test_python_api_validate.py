"""python_api's checks before anything is sent: pure, no database."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from python_api.client import bind_parameters
from python_api.errors import ConflictError, ValidationError
from python_api.validate import to_arrow_table
from recdb.core.landing import LANDING_TABLES, RECOMMENDATION_ROWS

USERS = LANDING_TABLES["users"]
SESSIONS = LANDING_TABLES["sessions"]
RATINGS = LANDING_TABLES["ratings"]
TASTES = LANDING_TABLES["user_tastes"]
RECS = RECOMMENDATION_ROWS  # what callers write: one row per title


def users(n: int = 3, **overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": np.arange(1, n + 1),
            "signup_at": pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
            "birth_year": [1990] * n,
            "gender": ["female"] * n,
            "country_code": ["US"] * n,
            "plan": ["basic"] * n,
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def sessions(n: int = 3, **overrides) -> pd.DataFrame:
    start = pd.date_range("2024-02-01", periods=n, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "session_id": np.arange(1, n + 1),
            "user_id": [1] * n,
            "title_id": ["tm1"] * n,
            "started_at": start,
            "ended_at": start + pd.Timedelta(minutes=30),
            "minutes_watched": [30.0] * n,
            "completion_ratio": [0.5] * n,
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_valid_users_become_arrow_of_the_table_types():
    table = to_arrow_table(USERS, users())
    assert table.schema.field("user_id").type == pa.int64()
    assert table.schema.field("birth_year").type == pa.int16()
    assert table.schema.field("signup_at").type == pa.timestamp("us", tz="UTC")
    assert table.num_rows == 3


def test_nullable_columns_may_be_left_out_and_floats_with_whole_values_are_integers():
    frame = users(user_id=[1.0, 2.0, 3.0])
    assert to_arrow_table(USERS, frame).column("user_id").to_pylist() == [1, 2, 3]


@pytest.mark.parametrize(
    "frame, column, fragment, row",
    [
        (users(plan=["basic", "gold", "basic"]), "plan", "not one of", 1),
        (users(birth_year=[1990, 1800, 1990]), "birth_year", "below the minimum", 1),
        (users(birth_year=[1990, 1990.5, 1990]), "birth_year", "not a whole number", 1),
        (users(birth_year=["1990", "x", "1990"]), "birth_year", "expected whole numbers", 0),
        (users(user_id=[1, None, 3]), "user_id", "null", 1),
        (users(country_code=["US", "usa", "FR"]), "country_code", "pattern", 1),
        (users(gender=["female", 3, "male"]), "gender", "expected text", 1),
        (users(signup_at=pd.date_range("2024-01-01", periods=3)), "signup_at", "time zone", None),
        (users(signup_at=["2024-01-01"] * 3), "signup_at", "UTC timestamps", None),
        (sessions(minutes_watched=[30.0, -1.0, 3.0]), "minutes_watched", "below the minimum 0", 1),
        (sessions(completion_ratio=[0.5, 0.5, 1.5]), "completion_ratio", "above the maximum 1", 2),
        (sessions(minutes_watched=[1.0, np.inf, 2.0]), "minutes_watched", "infinite", 1),
        (sessions(title_id=["tm1", None, "tm2"]), "title_id", "null", 1),
        (sessions(session_id=[1, 2**63 // 2, 3], user_id=[1, 2**40, 3]), None, None, None),
    ],
)
def test_bad_values_name_the_column_and_show_the_row(frame, column, fragment, row):
    if column is None:  # a valid frame, as a control: large bigint values are fine
        to_arrow_table(SESSIONS, frame)
        return
    with pytest.raises(ValidationError) as caught:
        to_arrow_table(USERS if "plan" in frame else SESSIONS, frame)
    error = caught.value
    assert error.column == column
    assert fragment in str(error)
    assert error.row_number == row
    if row is not None:
        assert repr(error.row) == repr(frame.iloc[row].to_dict())
        assert f"row {row}:" in str(error)


def test_a_session_ending_before_it_starts_is_refused():
    frame = sessions()
    frame.loc[1, "ended_at"] = frame.loc[1, "started_at"] - pd.Timedelta(minutes=1)
    with pytest.raises(ValidationError, match="ended_at >= started_at") as caught:
        to_arrow_table(SESSIONS, frame)
    assert caught.value.row_number == 1


def test_smallint_overflow_and_rating_scale():
    frame = pd.DataFrame(
        {
            "session_id": [1, 2],
            "rating": [5, 6],
            "rated_at": pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )
    with pytest.raises(ValidationError, match="above the maximum 5"):
        to_arrow_table(RATINGS, frame)
    with pytest.raises(ValidationError, match="outside the smallint range"):
        to_arrow_table(RATINGS, frame.assign(rating=[1, 70000]))


def test_unknown_missing_repeated_and_managed_columns():
    with pytest.raises(ValidationError, match=r"unknown columns \['age'\]"):
        to_arrow_table(USERS, users(age=30))
    with pytest.raises(ValidationError, match=r"missing columns \['plan'\]"):
        to_arrow_table(USERS, users().drop(columns="plan"))
    with pytest.raises(ValidationError, match=r"unknown columns \['xmin'\]"):
        to_arrow_table(USERS, users(xmin=1))  # PostgreSQL's own, not a column to write
    with pytest.raises(ValidationError, match="repeated columns"):
        to_arrow_table(USERS, pd.concat([users(), users()[["plan"]]], axis=1))


def test_repeated_keys_in_the_batch_are_a_conflict():
    with pytest.raises(ConflictError, match="repeated within the DataFrame") as caught:
        to_arrow_table(USERS, users(user_id=[1, 2, 1]))
    assert caught.value.row_number == 0


def test_composite_and_extra_unique_keys():
    frame = pd.DataFrame(
        {
            "run_id": "r1",
            "user_id": [1, 1],
            "title_id": ["tm1", "tm1"],
            "rank": [1, 2],
            "score": [0.9, 0.8],
            "is_cold_start": [False, False],
        }
    )
    with pytest.raises(ConflictError, match=r"run_id, user_id, title_id"):
        to_arrow_table(RECS, frame)
    with pytest.raises(ValidationError, match="pattern"):
        to_arrow_table(RECS, frame.assign(run_id="bad id; drop", title_id=["a", "b"]))


def test_taste_vectors():
    good = pd.DataFrame(
        {"user_id": [1, 2], "genre_affinities": [[0.5, 0.5], np.array([1.0, 0.0])],
         "popularity_bias": [0.0, 1.0]}
    )  # fmt: skip
    table = to_arrow_table(TASTES, good)
    assert table.column("genre_affinities").to_pylist() == [[0.5, 0.5], [1.0, 0.0]]
    with pytest.raises(ValidationError, match="below the minimum") as caught:
        to_arrow_table(TASTES, good.assign(genre_affinities=[[0.5, 0.5], [1.0, -0.1]]))
    assert caught.value.row_number == 1
    with pytest.raises(ValidationError, match="NaN"):
        to_arrow_table(TASTES, good.assign(genre_affinities=[[np.nan], [1.0]]))


def test_not_a_dataframe():
    with pytest.raises(ValidationError, match="expected a pandas DataFrame"):
        to_arrow_table(USERS, [{"user_id": 1}])


@pytest.mark.parametrize(
    "query, params, text, values",
    [
        ("select %s, %s", [1, "a"], "select $1, $2", (1, "a")),
        ("select %(a)s, %(b)s, %(a)s", {"a": 1, "b": 2}, "select $1, $2, $1", (1, 2)),
        ("select 'x%%' like %s", ["x%"], "select 'x%' like $1", ("x%",)),
        ("select 1", None, "select 1", ()),
    ],
)
def test_parameters_are_bound_by_the_server(query, params, text, values):
    assert bind_parameters(query, params) == (text, values)


@pytest.mark.parametrize(
    "query, params, fragment",
    [
        ("select %s, %s", [1], "more %s placeholders"),
        ("select %s", [1, 2], "2 params given"),
        ("select %(a)s", {"b": 1}, "no value given"),
        ("select %(a)s", [1], "pass params as a dict"),
        ("select %s", {"a": 1}, "pass params as a list"),
        ("select %s, %(a)s", {"a": 1}, "pass params as a list"),
        ("select %s", "1", "params must be"),
    ],
)
def test_parameter_mistakes_are_clear(query, params, fragment):
    with pytest.raises(ValidationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        bind_parameters(query, params)


# -- exact integers (issue 10, item 11) -------------------------------------------------

BEYOND_FLOAT = 2**53 + 1  # the first integer float64 cannot hold: it rounds to 2**53


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([BEYOND_FLOAT, 2**63 - 1, -(2**63)], dtype=object),  # Python ints
        pd.Series([np.int64(BEYOND_FLOAT), np.uint64(2**63 - 1), 7], dtype=object),
        pd.Series([BEYOND_FLOAT, 2**63 - 1, 0], dtype="uint64"),
        pd.Series([BEYOND_FLOAT, 2**63 - 1, -(2**63)], dtype="Int64"),
        pd.Series([BEYOND_FLOAT, 2**63 - 1, 0], dtype="UInt64"),
        pd.Series([BEYOND_FLOAT, 2**63 - 1, -(2**63)], dtype="int64[pyarrow]"),
        pd.Series([BEYOND_FLOAT, 2**63 - 1, 5], dtype="category"),
        pd.Series([Decimal(BEYOND_FLOAT), Decimal("7.000"), 1], dtype=object),
    ],
    ids=["object", "object-numpy", "uint64", "Int64", "UInt64", "arrow", "category", "decimal"],
)
def test_integers_of_every_dtype_are_stored_exactly(values):
    frame = sessions(user_id=values)
    got = to_arrow_table(SESSIONS, frame).column("user_id").to_pylist()
    assert got == [int(v) for v in values]


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([2.0**53 - 1, -(2.0**53 - 1), 3.0]),
        pd.Series([2.0**24, 1.0, 3.0], dtype="float32"),
        pd.Series([2.0**53 - 1, 1.0, 3.0], dtype="Float64"),
        pd.Series([float(2**53 - 1), 1.0, 3], dtype=object),
    ],
    ids=["float64", "float32", "Float64", "object"],
)
def test_whole_floats_up_to_2_53_are_exact_integers(values):
    got = to_arrow_table(SESSIONS, sessions(user_id=values)).column("user_id").to_pylist()
    assert got == [int(v) for v in values]


@pytest.mark.parametrize(
    "values, fragment",
    [
        (pd.Series([1, 2**63, 3], dtype=object), "outside the bigint range"),
        (pd.Series([1, -(2**63) - 1, 3], dtype=object), "outside the bigint range"),
        (pd.Series([1, 2**70, 3], dtype=object), "outside the bigint range"),
        (pd.Series([1, 2**63, 3], dtype="uint64"), "outside the bigint range"),
        (pd.Series([1, 2**63, 3], dtype="UInt64"), "outside the bigint range"),
        (pd.Series([1.0, 2.0**63, 3.0]), "outside the bigint range"),
        (pd.Series([1.0, 2.0**53, 3.0]), "2^53"),
        (pd.Series([1.0, float(BEYOND_FLOAT + 1), 3.0]), "2^53"),
        (pd.Series([1.0, -(2.0**60), 3.0]), "2^53"),
        (pd.Series([1, 2.0**53, 3], dtype=object), "2^53"),
        (pd.Series([1, 1.5, 3], dtype=object), "not a whole number"),
        (pd.Series([1, Decimal("1.5"), 3], dtype=object), "not a whole number"),
        (pd.Series([1.0, 2.5, 3.0], dtype="Float64"), "not a whole number"),
        (pd.Series([1, "2", 3], dtype=object), "expected whole numbers"),
        (pd.Series([1, True, 3], dtype=object), "expected whole numbers"),
        (pd.Series([1, None, 3], dtype=object), "null"),
        (pd.Series([1, None, 3], dtype="Int64"), "null"),
    ],
)
def test_integers_that_cannot_be_stored_exactly_are_refused_at_their_row(values, fragment):
    frame = sessions(user_id=values)
    with pytest.raises(ValidationError) as caught:
        to_arrow_table(SESSIONS, frame)
    error = caught.value
    assert (error.table, error.column, error.row_number) == ("sim.sessions", "user_id", 1)
    assert fragment in str(error)
    assert "row 1:" in str(error)


def test_a_smallint_column_refuses_a_big_python_int_at_its_row():
    frame = users(birth_year=pd.Series([1990, 2**40, 1990], dtype=object))
    with pytest.raises(ValidationError, match="outside the smallint range") as caught:
        to_arrow_table(USERS, frame)
    assert (caught.value.column, caught.value.row_number) == ("birth_year", 1)
