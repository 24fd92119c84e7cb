"""JSONB operators, ANY, window functions, CASE and CAST on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from pgbuild import (
    Database,
    QueryError,
    Table,
    and_,
    any_,
    case_,
    cast,
    count,
    dense_rank,
    desc,
    eq,
    gt,
    integer,
    json_get,
    json_get_text,
    jsonb,
    jsonb_contains,
    jsonb_has_key,
    lag,
    lead,
    ne,
    numeric,
    rank,
    row_number,
    sql,
    sum_,
    text,
)


class Orders(Table, name="fn_orders"):
    id = integer().primary_key()
    customer = text().not_null()
    total = numeric(10, 2).not_null()
    tags = text().array()
    meta = jsonb()


ORDERS = [
    {
        "id": 1,
        "customer": "ann",
        "total": Decimal("50.00"),
        "tags": ["new"],
        "meta": {"device": {"os": "ios", "v": 17}, "items": [10, 20], "gift": True},
    },
    {
        "id": 2,
        "customer": "ann",
        "total": Decimal("150.00"),
        "tags": ["vip", "new"],
        "meta": {"device": {"os": "android"}, "items": [30]},
    },
    {
        "id": 3,
        "customer": "bob",
        "total": Decimal("150.00"),
        "tags": [],
        "meta": {"device": {"os": "ios"}},
    },
    {"id": 4, "customer": "bob", "total": Decimal("75.50"), "tags": ["vip"], "meta": None},
    {
        "id": 5,
        "customer": "cid",
        "total": Decimal("10.00"),
        "tags": None,
        "meta": {"it's": "quoted ' key"},
    },
]


@pytest.fixture(scope="module", autouse=True)
def orders(db: Database) -> Iterator[None]:
    db.create_tables(Orders)
    db.insert(Orders).values(ORDERS).execute()
    yield


def ids(rows: list[tuple[int]]) -> list[int]:
    return [r[0] for r in rows]


def test_json_get_reads_nested_members_as_json(db: Database) -> None:
    got = (
        db.select(Orders.id, json_get(Orders.meta, "device", "os"))
        .from_(Orders)
        .order_by(Orders.id)
        .all()
    )
    assert got == [(1, "ios"), (2, "android"), (3, "ios"), (4, None), (5, None)]


def test_json_get_takes_array_indexes(db: Database) -> None:
    got = db.select(json_get(Orders.meta, "items", 1)).from_(Orders).where(eq(Orders.id, 1))
    assert got.scalar() == 20


def test_json_get_text_filters_by_a_member(db: Database) -> None:
    rows = (
        db.select(Orders.id)
        .from_(Orders)
        .where(eq(json_get_text(Orders.meta, "device", "os"), "ios"))
        .order_by(Orders.id)
        .all()
    )
    assert ids(rows) == [1, 3]


def test_json_keys_are_parameters_even_with_quotes(db: Database) -> None:
    got = db.select(json_get_text(Orders.meta, "it's")).from_(Orders).where(eq(Orders.id, 5))
    assert got.scalar() == "quoted ' key"
    assert "it's" not in got.compile().as_string()


def test_jsonb_contains_and_has_key(db: Database) -> None:
    contains = (
        db.select(Orders.id)
        .from_(Orders)
        .where(jsonb_contains(Orders.meta, {"device": {"os": "ios"}}))
        .order_by(Orders.id)
    )
    assert ids(contains.all()) == [1, 3]
    has_gift = db.select(Orders.id).from_(Orders).where(jsonb_has_key(Orders.meta, "gift"))
    assert ids(has_gift.all()) == [1]


def test_any_matches_an_element_of_an_array_column(db: Database) -> None:
    rows = (
        db.select(Orders.id).from_(Orders).where(eq(any_(Orders.tags), "vip")).order_by(Orders.id)
    )
    assert ids(rows.all()) == [2, 4]
    value_first = (
        db.select(Orders.id)
        .from_(Orders)
        .where(eq(sql("{v}::text", v="new"), any_(Orders.tags)))
        .order_by(Orders.id)
    )
    assert ids(value_first.all()) == [1, 2]


def test_row_number_over_a_partition(db: Database) -> None:
    rn = row_number().over(partition_by=Orders.customer, order_by=desc(Orders.total))
    rows = db.select(Orders.id, rn).from_(Orders).order_by(Orders.id).all()
    assert rows == [(1, 2), (2, 1), (3, 1), (4, 2), (5, 1)]


def test_rank_and_dense_rank_treat_ties(db: Database) -> None:
    order = desc(Orders.total)
    rows = (
        db.select(Orders.id, rank().over(order_by=order), dense_rank().over(order_by=order))
        .from_(Orders)
        .order_by(Orders.id)
        .all()
    )
    assert rows == [(1, 4, 3), (2, 1, 1), (3, 1, 1), (4, 3, 2), (5, 5, 4)]


def test_lag_and_lead_look_at_neighbouring_rows(db: Database) -> None:
    rows = (
        db.select(
            Orders.id,
            lag(Orders.id).over(order_by=Orders.id),
            lead(Orders.id, 2, 0).over(order_by=Orders.id),
        )
        .from_(Orders)
        .order_by(Orders.id)
        .all()
    )
    assert rows == [(1, None, 3), (2, 1, 4), (3, 2, 5), (4, 3, 0), (5, 4, 0)]


def test_an_aggregate_over_a_window(db: Database) -> None:
    rows = (
        db.select(
            Orders.id,
            sum_(Orders.total).over(partition_by=Orders.customer),
            count().over(),
        )
        .from_(Orders)
        .order_by(Orders.id)
        .all()
    )
    assert rows[0] == (1, Decimal("200.00"), 5)
    assert rows[3] == (4, Decimal("225.50"), 5)


def test_case_labels_rows_with_bound_values(db: Database) -> None:
    size = case_((gt(Orders.total, 100), "big"), (gt(Orders.total, 50), "medium"), else_="small")
    rows = db.select(Orders.id, size).from_(Orders).order_by(Orders.id).all()
    assert rows == [(1, "small"), (2, "big"), (3, "big"), (4, "medium"), (5, "small")]
    assert "big" not in size.compile().as_string()


def test_case_without_else_is_null(db: Database) -> None:
    got = db.select(case_((eq(Orders.customer, "zed"), 1))).from_(Orders).where(eq(Orders.id, 1))
    assert got.scalar() is None


def test_cast_converts_types(db: Database) -> None:
    got = (
        db.select(cast(Orders.total, "integer"), cast(Orders.id, "text"))
        .from_(Orders)
        .where(eq(Orders.id, 4))
    )
    assert got.one() == (76, "4")


def test_cast_refuses_what_is_not_a_type_name(db: Database) -> None:
    for bad in ("integer); DROP TABLE fn_orders; --", "text'", ""):
        with pytest.raises(QueryError):
            cast(Orders.id, bad)
    assert db.count(Orders) == 5


def test_as_labels_a_field_and_sql_join_builds_fragments(db: Database) -> None:
    total = sum_(Orders.total).as_("spent")
    rows = (
        db.select(Orders.customer, total)
        .from_(Orders)
        .group_by(Orders.customer)
        .order_by(Orders.customer)
        .all()
    )
    assert rows == [
        ("ann", Decimal("200.00")),
        ("bob", Decimal("225.50")),
        ("cid", Decimal("10.00")),
    ]
    parts = sql.join(
        [sql("{c}", c=Orders.customer), sql("{t}::text", t=Orders.total)], " || ':' || "
    )
    got = (
        db.select(parts).from_(Orders).where(and_(eq(Orders.id, 1), ne(Orders.id, 2), sql.empty()))
    )
    assert got.scalar() == "ann:50.00"


def test_map_with_decodes_a_raw_fragment(db: Database) -> None:
    upper = sql("{c}", c=Orders.customer).map_with(str.upper)
    assert db.select(upper).from_(Orders).where(eq(Orders.id, 3)).all() == [("BOB",)]


def test_parameters_keep_their_order_in_a_window(db: Database) -> None:
    # lag's offset and default, then a CASE in the window's ORDER BY: four values.
    later_first = case_((gt(Orders.total, 100), 0), else_=1)
    lagged = lag(Orders.id, 1, -1).over(partition_by=Orders.customer, order_by=later_first)
    rows = db.select(Orders.id, lagged).from_(Orders).order_by(Orders.id).all()
    assert rows == [(1, 2), (2, -1), (3, -1), (4, 3), (5, -1)]
