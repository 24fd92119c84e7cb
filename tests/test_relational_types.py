"""Nested values of a relational query have exactly the values and types a
plain select gives: a hypothesis property over every column type."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgbuild import (
    Database,
    Table,
    bigint,
    bigserial,
    boolean,
    bytea,
    char,
    cidr,
    date,
    double_precision,
    eq,
    inet,
    integer,
    interval,
    json,
    jsonb,
    macaddr,
    many,
    numeric,
    real,
    relations,
    smallint,
    text,
    time,
    timestamp,
    uuid,
    varchar,
)
from tests.test_roundtrip import ARRAY_VALUES, SCALAR_VALUES, maybe_null, mood, weather


class Owners(Table, name="rtn_owners"):
    id = bigserial().primary_key()


class Kids(Table, name="rtn_kids"):
    """Every scalar column type of tests/test_roundtrip.py, plus arrays and
    enums, under a foreign key, so they travel through ``with_``."""

    id = bigserial().primary_key()
    owner_id = bigint().not_null().references(lambda: Owners.id)
    txt = text()
    vchar = varchar(12)
    fixed = char(6)
    small = smallint()
    medium = integer()
    big = bigint()
    flag = boolean()
    single = real()
    double = double_precision()
    money = numeric(12, 4)
    exact = numeric()
    day = date()
    clock = time()
    moment = timestamp()
    local_moment = timestamp(with_timezone=False)
    span = interval()
    uid = uuid()
    doc_json = json()
    doc_jsonb = jsonb()
    blob = bytea()
    address = inet()
    network = cidr()
    mac = macaddr()
    numbers = integer().array()
    words = text().array()
    grid = integer().array(dimensions=2)
    uids = uuid().array()
    amounts = numeric(10, 2).array()
    moments = timestamp().array()
    docs = jsonb().array()
    feeling = mood()
    sky = weather()
    feelings = mood().array()


relations(Owners, kids=many(Kids))

SKIP = {"counter", "big_counter", "flags"}  # not columns of Kids
VALUES = {
    **{k: v for k, v in SCALAR_VALUES.items() if k not in SKIP},
    **{k: v for k, v in ARRAY_VALUES.items() if k not in SKIP},
    "feeling": maybe_null(st.sampled_from(["sad", "ok", "happy"])),
    "sky": maybe_null(st.sampled_from(list(weather.python or []))),
    "feelings": maybe_null(st.lists(maybe_null(st.sampled_from(["sad", "ok"])), max_size=3)),
}


@pytest.fixture(scope="module", autouse=True)
def tables(db: Database) -> Iterator[None]:
    db.create_tables(Owners, Kids)
    yield


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (float and Decimal) and types compared too."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, Decimal) and a.is_nan():
        return b.is_nan()
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@given(values=st.fixed_dictionaries(VALUES))
def test_nested_values_equal_a_plain_select_for_every_column_type(
    db: Database, values: dict[str, Any]
) -> None:
    owner = db.insert(Owners).values({}).returning().one()
    kid = db.insert(Kids).values({**values, "owner_id": owner.id}).returning().one()
    plain = db.select().from_(Kids).where(eq(Kids.id, kid.id)).one()
    tree = db.query(Owners).find_first(where=eq(Owners.id, owner.id), with_={"kids": True})
    (nested,) = tree.kids
    different = {
        attr: (getattr(plain, attr), getattr(nested, attr))
        for attr in Kids.__table__.by_attr
        if not same(getattr(plain, attr), getattr(nested, attr))
    }
    assert different == {}
