"""Inserting many rows: one array per column, the same SQL for any row count."""

from __future__ import annotations

import uuid as uuid_module
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgbuild import (
    Database,
    DatabaseError,
    QueryError,
    Table,
    bigint,
    boolean,
    bytea,
    char,
    cidr,
    double_precision,
    inet,
    integer,
    interval,
    json,
    jsonb,
    numeric,
    pg_enum,
    real,
    smallint,
    sql,
    text,
    timestamp,
    uuid,
    varchar,
)
from pgbuild import (
    date as date_col,
)
from pgbuild import (
    time as time_col,
)

mood = pg_enum("bulk_mood", ["sad", "ok", "happy"])


class Wide(Table, name="bulk_wide"):
    id = integer().primary_key()
    s = text()
    v = varchar(5)
    c = char(3)
    i2 = smallint()
    i8 = bigint()
    b = boolean()
    r = real()
    d = double_precision()
    n = numeric(12, 4)
    day = date_col()
    at = time_col()
    ts = timestamp()
    naive = timestamp(with_timezone=False)
    span = interval()
    u = uuid()
    j = json()
    jb = jsonb()
    raw = bytea()
    ip = inet()
    net = cidr()
    feeling = mood()
    created_at = timestamp().default_now().not_null()


@pytest.fixture(scope="module", autouse=True)
def tables(db: Database) -> Iterator[None]:
    db.create_tables(Wide)
    yield


@pytest.fixture(autouse=True)
def empty(db: Database) -> None:
    db.execute(sql("TRUNCATE bulk_wide"))


def row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "s": f"it's {i} \\ % {{}}",
        "v": "abcde"[: i % 5 + 1],
        "c": "ab",
        "i2": i % 30000,
        "i8": 2**40 + i,
        "b": i % 2 == 0,
        "r": 0.5,
        "d": i / 3,
        "n": Decimal("1234.5678"),
        "day": date(2024, 1, 1) + timedelta(days=i % 300),
        "at": time(12, 30, i % 60),
        "ts": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
        "naive": datetime(2024, 1, 1) + timedelta(seconds=i),
        "span": timedelta(days=1, seconds=i),
        "u": uuid_module.UUID(int=i),
        "j": {"z": 1, "a": [i]},
        "jb": {"k": i, "nested": {"x": None}},
        "raw": bytes([i % 256, 0, 255]),
        "ip": IPv4Address("10.0.0.1"),
        "net": IPv4Network("10.0.0.0/8"),
        "feeling": ["sad", "ok", "happy"][i % 3],
    }


def test_many_rows_round_trip_every_type(db: Database) -> None:
    rows = [row(i) for i in range(3)] + [{**row(3), **{k: None for k in row(3) if k != "id"}}]
    back = db.insert(Wide).values(rows).returning().all()
    assert [{k: getattr(r, k) for k in rows[0]} for r in back] == [
        {**r, "c": None if r["c"] is None else r["c"] + " "} for r in rows
    ]
    assert all(r.created_at is not None for r in back)  # left out: its default


def test_ten_thousand_wide_rows_fit_in_one_statement(db: Database) -> None:
    # 10,000 rows x 22 columns would be 220,000 parameters as VALUES; the
    # server takes at most 65,535 per statement.
    assert db.insert(Wide).values([row(i) for i in range(10_000)]).execute() == 10_000
    assert db.count(Wide) == 10_000
    assert db.select(Wide.s).from_(Wide).where(sql("{c} = 9999", c=Wide.id)).all() == [
        ("it's 9999 \\ % {}",)
    ]


def test_the_statement_is_the_same_for_any_row_count(db: Database) -> None:
    two = db.insert(Wide).values([row(1), row(2)]).compile()
    many = db.insert(Wide).values([row(i) for i in range(500)]).compile()
    assert two.as_string() == many.as_string()
    assert len(many.params) == len(row(0))


def test_a_too_long_varchar_is_refused_not_truncated(db: Database) -> None:
    with pytest.raises(DatabaseError) as error:
        db.insert(Wide).values([row(1), {**row(2), "v": "toolong"}]).execute()
    assert error.value.sqlstate == "22001"  # string_data_right_truncation
    assert db.count(Wide) == 0


def test_rows_with_different_keys_use_defaults_for_the_missing_ones(db: Database) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    rows = [{"id": 1, "s": "a"}, {"id": 2, "s": "b", "created_at": old}]
    back = db.insert(Wide).values(rows).returning(Wide.id, Wide.created_at).all()
    assert back[1] == (2, datetime(2020, 1, 1, tzinfo=UTC))
    assert back[0][1] > datetime(2024, 1, 1, tzinfo=UTC)  # DEFAULT now()


# -- the fast path: plain dicts with the same keys, checked a column at a time,
# sent as binary arrays where psycopg has a binary form


def plain_row(i: int) -> dict[str, Any]:
    """A row without the json columns (their values are dumped in Python,
    which the fast path leaves to the general one)."""
    return {k: v for k, v in row(i).items() if k not in ("j", "jb")}


def test_plain_rows_round_trip_every_type_through_binary_arrays(db: Database) -> None:
    rows = [plain_row(i) for i in range(300)] + [
        {**plain_row(300), **{k: None for k in plain_row(300) if k != "id"}}
    ]
    compiled = db.insert(Wide).values(rows).compile().as_string()
    assert "%b::text[]" in compiled and "%b::timestamp with time zone[]" in compiled
    assert "%s::inet[]" in compiled  # no binary form used for these
    back = db.insert(Wide).values(rows).returning().all()
    assert [{k: getattr(r, k) for k in rows[0]} for r in back] == [
        {**r, "c": None if r["c"] is None else r["c"] + " "} for r in rows
    ]


def test_a_column_of_mixed_python_types_still_round_trips(db: Database) -> None:
    # psycopg's arrays take one Python type (it refuses [1, 2.5]): int beside
    # float or Decimal is widened, as the server would convert each value.
    rows = [{"id": 1, "d": 1, "n": Decimal("1.5"), "r": 2.5}, {"id": 2, "d": 0.25, "n": 3, "r": 1}]
    db.insert(Wide).values(rows).execute()
    got = db.select(Wide.d, Wide.n, Wide.r).from_(Wide).order_by(Wide.id).all()
    assert got == [(1.0, Decimal("1.5000"), 2.5), (0.25, Decimal("3.0000"), 1.0)]


def test_a_bad_value_in_plain_rows_names_its_column(db: Database) -> None:
    rows = [plain_row(i) for i in range(5)]
    rows[3]["i2"] = "7"
    with pytest.raises(QueryError, match=r"bulk_wide.*i2"):
        db.insert(Wide).values(rows)
    rows[3]["i2"] = 40_000  # out of smallint's range
    with pytest.raises(QueryError, match=r"out of range"):
        db.insert(Wide).values(rows)
    assert db.count(Wide) == 0


@settings(max_examples=25)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "s": st.none() | st.text(
                    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
                ),
                "i8": st.none() | st.integers(-(2**63), 2**63 - 1),
                "d": st.none() | st.floats(allow_nan=False),
                "n": st.none() | st.decimals(places=4, min_value=-(10**7), max_value=10**7),
                "ts": st.none() | st.datetimes(timezones=st.just(UTC)),
                "raw": st.none() | st.binary(),
            }
        ),
        min_size=2,
        max_size=40,
    )
)
def test_plain_rows_come_back_as_inserted(db: Database, values: list[Any]) -> None:
    db.execute(sql("TRUNCATE bulk_wide"))  # hypothesis runs the body many times per test
    rows = [{"id": i, **v} for i, v in enumerate(values)]
    db.insert(Wide).values(rows).execute()
    back = db.select().from_(Wide).order_by(Wide.id).all()
    assert [{k: getattr(r, k) for k in rows[0]} for r in back] == rows


def test_values_psycopg_cannot_put_in_one_array_take_the_values_form(
    db: Database
) -> None:
    # A date beside a datetime in a timestamptz column: no single array type,
    # so the rows go as VALUES, each value converted by the server.
    rows = [{"id": 1, "ts": date(2024, 1, 2)}, {"id": 2, "ts": datetime(2024, 1, 3, tzinfo=UTC)}]
    assert "VALUES" in db.insert(Wide).values(rows).compile().as_string()
    db.insert(Wide).values(rows).execute()
    got = db.select(Wide.ts).from_(Wide).order_by(Wide.id).all()
    assert [t.date() for (t,) in got] == [date(2024, 1, 2), date(2024, 1, 3)]


def test_dict_subclasses_with_defaults_do_not_invent_values(db: Database) -> None:
    # A defaultdict answers for keys it lacks: rows of different keys must
    # still get DEFAULT (here NULL) for the missing ones, never its default.
    rows = [defaultdict(str, {"id": 1, "s": "a"}), defaultdict(str, {"id": 2, "v": "b"})]
    db.insert(Wide).values(rows).execute()
    got = db.select(Wide.s, Wide.v).from_(Wide).order_by(Wide.id).all()
    assert got == [("a", None), (None, "b")]
