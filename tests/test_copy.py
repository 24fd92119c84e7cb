"""db.copy_into: bulk loading over COPY, checked like insert, all or nothing."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from decimal import Decimal

import pytest

from pgbuild import (
    Database,
    IntegrityError,
    QueryError,
    Table,
    integer,
    jsonb,
    numeric,
    pg_enum,
    sql,
    text,
    timestamp,
)


class Mood(enum.Enum):
    SAD = "sad"
    HAPPY = "happy"


mood = pg_enum("copy_mood", Mood)


class Readings(Table, name="copy 100% readings"):
    id = integer().primary_key()
    label = text().not_null()
    amount = numeric(20, 6)
    data = jsonb()
    feeling = mood()
    tags = text().array()
    created_at = timestamp().default_now().not_null()


@pytest.fixture(scope="module", autouse=True)
def tables(db: Database) -> Iterator[None]:
    db.create_tables(Readings)
    yield


@pytest.fixture(autouse=True)
def empty(db: Database) -> None:
    db.execute(sql("TRUNCATE {t}", t=sql.identifier("copy 100% readings")))


def test_copy_into_loads_every_row_with_its_types(db: Database) -> None:
    rows = [
        {
            "id": i,
            "label": f"it's row {i}\twith\\tabs\nand newlines",
            "amount": Decimal("12345678.123456"),
            "data": {"n": i, "tags": ["a", None]},
            "feeling": Mood.HAPPY if i % 2 else Mood.SAD,
            "tags": ["x", "y z", None],
        }
        for i in range(1000)
    ]
    assert db.copy_into(Readings, rows) == 1000
    back = db.select().from_(Readings).order_by(Readings.id).all()
    assert [
        (r.id, r.label, r.amount, r.data, r.feeling, r.tags) for r in back
    ] == [
        (r["id"], r["label"], r["amount"], r["data"], r["feeling"], r["tags"]) for r in rows
    ]
    assert all(r.created_at is not None for r in back)  # left out: its default


def test_copy_into_takes_row_objects(db: Database) -> None:
    assert db.copy_into(Readings, [Readings(id=1, label="a"), Readings(id=2, label="b")]) == 2
    assert db.select(Readings.label).from_(Readings).order_by(Readings.id).all() == [
        ("a",),
        ("b",),
    ]


def test_a_failing_row_loads_nothing(db: Database) -> None:
    rows = [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}, {"id": 1, "label": "dup"}]
    with pytest.raises(IntegrityError) as error:
        db.copy_into(Readings, rows)
    assert error.value.sqlstate == "23505"
    assert db.count(Readings) == 0


def test_bad_rows_are_refused_before_the_server(db: Database) -> None:
    with pytest.raises(QueryError, match="has no column 'nope'"):
        db.copy_into(Readings, [{"id": 1, "label": "a", "nope": 1}])
    with pytest.raises(QueryError, match="'label' is NOT NULL"):
        db.copy_into(Readings, [{"id": 1}])
    with pytest.raises(QueryError, match="same columns in every row"):
        db.copy_into(Readings, [{"id": 1, "label": "a"}, {"id": 2, "label": "b", "amount": 1}])
    with pytest.raises(QueryError):
        db.copy_into(Readings, [])
    assert db.count(Readings) == 0


def test_plain_rows_take_the_fast_path_and_load_exactly(db: Database) -> None:
    rows = [{"id": i, "label": f"row {i} ' \\ %", "amount": Decimal(i) / 7} for i in range(500)]
    assert db.copy_into(Readings, rows) == 500
    back = db.select(Readings.id, Readings.label, Readings.amount).from_(Readings)
    assert back.order_by(Readings.id).all() == [
        (r["id"], r["label"], round(r["amount"], 6)) for r in rows
    ]


def test_a_none_in_a_not_null_column_is_refused_naming_the_row(db: Database) -> None:
    with pytest.raises(QueryError, match=r"row 1.*'label' is NOT NULL"):
        db.copy_into(Readings, [{"id": 1, "label": "a"}, {"id": 2, "label": None}])
    assert db.count(Readings) == 0
