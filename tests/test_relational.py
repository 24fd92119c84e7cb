"""Relational queries (API.md §3 "relational queries", §5, §8 "Relational options").

``db.query(Users).find_first(...)`` / ``find_many(...)`` return rows with
their related rows as attributes, built by ONE SQL statement. Each level of
``with_`` takes where / order_by / limit / offset / columns / extras, and
nested values come back with the Python types a top-level select gives.

Every test runs on a real PostgreSQL: the guide's tables (``schema``), plus a
few small tables declared here for types, many-to-many, two relations to one
table and a self-relation.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from ipaddress import ip_address, ip_network
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo

import schema
from pgbuild import (
    Database,
    PgbuildError,
    QueryError,
    SchemaError,
    Table,
    alias,
    asc,
    bigint,
    boolean,
    bytea,
    char,
    cidr,
    date,
    desc,
    double_precision,
    eq,
    inet,
    integer,
    interval,
    jsonb,
    macaddr,
    many,
    numeric,
    one,
    pg_enum,
    placeholder,
    real,
    relations,
    sql,
    text,
    time,
    timestamp,
    uuid,
)
from schema import Prompts, Sessions, Users
from tests.conftest import Twin

T0 = datetime(2024, 1, 1, tzinfo=UTC)


# -- tables declared for these tests


class Mood(enum.Enum):
    SAD = "sad"
    OK = "ok"
    HAPPY = "happy"


mood = pg_enum("rel_mood", Mood)


class Owners(Table, name="rel_owners"):
    id = integer().primary_key()


class Things(Table, name="rel_things"):
    """One column of each type whose nested value must match a top-level select."""

    id = integer().primary_key()
    owner_id = integer().not_null().references(lambda: Owners.id)
    at = timestamp()
    amount = numeric(40, 10)
    uid = uuid()
    blob = bytea()
    doc = jsonb()
    feeling = mood()
    numbers = integer().array()
    feelings = mood().array()
    moments = timestamp().array()
    flag = boolean()
    ratio = double_precision()
    code = char(3)
    address = inet()
    day = date()
    span = interval()
    big = bigint()
    single = real()
    words = text().array()
    grid = integer().array(dimensions=2)
    docs = jsonb().array()
    net = cidr()
    clock = time()
    mac = macaddr()
    local = timestamp(with_timezone=False)


class Posts(Table, name="rel_posts"):
    id = integer().primary_key()


class Tags(Table, name="rel_tags"):
    id = integer().primary_key()
    label = text().not_null()


class PostTags(Table, name="rel_post_tags"):
    post_id = integer().not_null().references(lambda: Posts.id)
    tag_id = integer().not_null().references(lambda: Tags.id)


class People(Table, name="rel_people"):
    id = integer().primary_key()
    name = text().not_null()
    mentor_id = integer().references(lambda: People.id)


class Letters(Table, name="rel_letters"):
    id = integer().primary_key()
    sender_id = integer().not_null().references(lambda: People.id)
    recipient_id = integer().not_null().references(lambda: People.id)


relations(Owners, things=many(Things))
relations(Posts, tags=many(Tags, through=PostTags))
relations(
    People,
    mentor=one(People, fields=[People.mentor_id], references=[People.id], relation_name="mentor"),
    mentees=many(People, relation_name="mentor"),
    sent=many(Letters, relation_name="sent"),
    received=many(Letters, relation_name="received"),
    letters=many(Letters),  # ambiguous on purpose: which of the two?
)
relations(
    Letters,
    sender=one(People, fields=[Letters.sender_id], references=[People.id], relation_name="sent"),
    recipient=one(
        People, fields=[Letters.recipient_id], references=[People.id], relation_name="received"
    ),
)

OWN_TABLES = (Owners, Things, Posts, Tags, PostTags, People, Letters)


# -- fixtures and helpers


@pytest.fixture(scope="module", autouse=True)
def tables(db: Database) -> Iterator[None]:
    db.create_tables(*schema.TABLES, *OWN_TABLES)
    yield
    db.drop_tables(*schema.TABLES, *OWN_TABLES)


@pytest.fixture(autouse=True)
def empty(db: Database) -> None:
    """Every test starts from empty tables."""
    truncate(db)


def truncate(db: Database) -> None:
    db.execute(
        sql(
            "TRUNCATE claude_code_users, claude_code_sessions, claude_code_prompts, rel_owners,"
            " rel_things, rel_posts, rel_tags, rel_post_tags, rel_people, rel_letters CASCADE"
        )
    )


def add_user(db: Database, uid: str, sessions: int = 0, prompts: int = 0) -> None:
    """A user with ``sessions`` sessions created an hour apart (ids ``<uid>-s0``,
    ``<uid>-s1``, ... oldest first), each with ``prompts`` prompts."""
    db.insert(Users).values({"id": uid, "email": f"{uid}@example.com", "name": uid}).execute()
    if sessions:
        db.insert(Sessions).values(
            [
                {"id": f"{uid}-s{i}", "user_id": uid, "created_at": T0 + timedelta(hours=i)}
                for i in range(sessions)
            ]
        ).execute()
    if sessions and prompts:
        db.insert(Prompts).values(
            [
                {
                    "id": f"{uid}-s{i}-p{j}",
                    "session_id": f"{uid}-s{i}",
                    "user_id": uid,
                    "content": f"prompt {j}",
                    "created_at": T0 + timedelta(minutes=j),
                }
                for i in range(sessions)
                for j in range(prompts)
            ]
        ).execute()


def ids(rows: list[Any]) -> list[str]:
    return [row.id for row in rows]


def plain(value: Any) -> Any:
    """Rows as nested dicts, to compare whole trees."""
    if isinstance(value, Table):
        return {k: plain(v) for k, v in value.__dict__.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# -- the guide's example


def test_find_first_returns_the_user_with_their_ten_latest_sessions(db: Database) -> None:
    add_user(db, "u1", sessions=12)
    add_user(db, "u2", sessions=3)

    user = db.query(Users).find_first(
        where=eq(Users.id, "u1"),
        with_={"sessions": {"order_by": desc(Sessions.created_at), "limit": 10}},
    )

    assert isinstance(user, Users)
    assert (user.id, user.email) == ("u1", "u1@example.com")
    assert ids(user.sessions) == [f"u1-s{i}" for i in range(11, 1, -1)]
    assert all(isinstance(s, Sessions) for s in user.sessions)
    assert user.sessions[0] == db.select().from_(Sessions).where(eq(Sessions.id, "u1-s11")).one()


@pytest.mark.parametrize(
    "order",
    [
        [desc(Sessions.title, nulls="last"), asc(Sessions.id)],
        [asc(Sessions.title, nulls="first"), desc(Sessions.id)],
        [desc(Sessions.title), Sessions.id],
    ],
    ids=["desc-nulls-last", "asc-nulls-first", "desc-default"],
)
def test_nested_rows_keep_their_order_with_nulls_and_ties(db: Database, order: Any) -> None:
    add_user(db, "u1")
    titles = ["b", None, "a", "b", None, "c"]
    db.insert(Sessions).values(
        [{"id": f"s{i}", "user_id": "u1", "title": t} for i, t in enumerate(titles)]
    ).execute()

    user = db.query(Users).find_first(
        where=eq(Users.id, "u1"), with_={"sessions": {"order_by": order, "limit": 5}}
    )

    expected = db.select(Sessions.id).from_(Sessions).order_by(*order).limit(5).all()
    assert user is not None
    assert ids(user.sessions) == [i for (i,) in expected]


def test_nested_timestamps_equal_a_plain_select_in_a_zone_with_odd_offsets(
    database_url: str, db: Database
) -> None:
    # Asia/Kolkata's early offsets have seconds (+05:53:28 local mean time,
    # +05:21:10 in 1870); years near both ends of Python's range.
    add_user(db, "u1")
    moments = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1870, 1, 1, tzinfo=UTC),
        datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(9999, 12, 31, 12, 0, tzinfo=UTC),
    ]
    db.insert(Sessions).values(
        [{"id": f"s{i}", "user_id": "u1", "created_at": m} for i, m in enumerate(moments)]
    ).execute()
    url = make_conninfo(database_url, options="-c TimeZone=Asia/Kolkata")
    with Database(url, min_size=1, max_size=1) as kolkata:
        user = kolkata.query(Users).find_first(with_={"sessions": {"order_by": Sessions.id}})
        plain = kolkata.select(Sessions.created_at).from_(Sessions).order_by(Sessions.id).all()
    assert user is not None
    nested = [s.created_at for s in user.sessions]
    assert nested == [t for (t,) in plain] == moments
    assert [t.tzinfo for t in nested] == [t.tzinfo for (t,) in plain]
    assert nested[0].utcoffset() == timedelta(hours=5, minutes=53, seconds=28)
    assert nested[1].utcoffset() == timedelta(hours=5, minutes=21, seconds=10)


def test_the_whole_tree_is_fetched_by_one_statement(database_url: str, db: Database) -> None:
    add_user(db, "u1", sessions=3, prompts=2)
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("pgbuild.tests.relational")
    logger.setLevel(logging.DEBUG)
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign,assignment]
    logger.addHandler(handler)
    try:
        with Database(database_url, min_size=1, max_size=1, logger=logger) as logged:
            user = logged.query(Users).find_first(
                where=eq(Users.id, "u1"),
                with_={"sessions": {"limit": 10, "with_": {"prompts": True, "user": True}}},
            )
    finally:
        logger.removeHandler(handler)

    assert len(user.sessions) == 3 and all(len(s.prompts) == 2 for s in user.sessions)
    assert len(records) == 1
    assert records[0].getMessage().startswith("SELECT ")


def test_both_executors_give_the_same_tree(twin: Twin, db: Database) -> None:
    add_user(db, "u1", sessions=2, prompts=1)

    async def body(t: Twin) -> Any:
        return await t.r(
            t.db.query(Users).find_many(
                with_={"sessions": {"order_by": Sessions.id, "with_": {"prompts": True}}}
            )
        )

    users = twin.run(body)

    assert plain(users) == plain(
        db.query(Users).find_many(
            with_={"sessions": {"order_by": Sessions.id, "with_": {"prompts": True}}}
        )
    )
    assert [ids(u.sessions) for u in users] == [["u1-s0", "u1-s1"]]


# -- levels, order and limits


def test_three_levels_each_with_its_own_order_and_limit(db: Database) -> None:
    add_user(db, "u1", sessions=4, prompts=3)

    user = db.query(Users).find_first(
        with_={
            "sessions": {
                "order_by": desc(Sessions.created_at),
                "limit": 2,
                "with_": {"prompts": {"order_by": desc(Prompts.created_at), "limit": 2}},
            }
        }
    )

    assert ids(user.sessions) == ["u1-s3", "u1-s2"]
    assert [ids(s.prompts) for s in user.sessions] == [
        ["u1-s3-p2", "u1-s3-p1"],
        ["u1-s2-p2", "u1-s2-p1"],
    ]


def test_a_limit_in_with_applies_per_parent_row(db: Database) -> None:
    add_user(db, "u1", sessions=3)
    add_user(db, "u2", sessions=3)

    users = db.query(Users).find_many(
        order_by=Users.id,
        with_={"sessions": {"order_by": desc(Sessions.created_at), "limit": 2}},
    )

    assert [(u.id, ids(u.sessions)) for u in users] == [
        ("u1", ["u1-s2", "u1-s1"]),
        ("u2", ["u2-s2", "u2-s1"]),
    ]


def test_offset_in_with_skips_rows_per_parent(db: Database) -> None:
    add_user(db, "u1", sessions=4)

    user = db.query(Users).find_first(
        with_={"sessions": {"order_by": Sessions.created_at, "offset": 1, "limit": 2}}
    )

    assert ids(user.sessions) == ["u1-s1", "u1-s2"]


def test_find_many_filters_orders_and_pages_the_top_level(db: Database) -> None:
    for uid in ["a", "b", "c", "d", "e"]:
        add_user(db, uid)

    users = db.query(Users).find_many(
        where=eq(Users.name, Users.name), order_by=[desc(Users.id)], limit=2, offset=1
    )

    assert ids(users) == ["d", "c"]


def test_where_in_with_filters_the_related_rows(db: Database) -> None:
    add_user(db, "u1", sessions=3)

    user = db.query(Users).find_first(
        with_={"sessions": {"where": eq(Sessions.id, "u1-s1")}}
    )

    assert ids(user.sessions) == ["u1-s1"]


def test_a_nested_where_may_refer_to_the_levels_above(db: Database) -> None:
    add_user(db, "u1", sessions=1, prompts=2)
    db.update(Prompts).set({"content": "u1"}).where(eq(Prompts.id, "u1-s0-p1")).execute()

    user = db.query(Users).find_first(
        with_={"sessions": {"with_": {"prompts": {"where": eq(Prompts.content, Users.name)}}}}
    )

    assert ids(user.sessions[0].prompts) == ["u1-s0-p1"]


def test_find_first_with_no_match_is_none(db: Database) -> None:
    add_user(db, "u1", sessions=1)

    found = db.query(Users).find_first(where=eq(Users.id, "nobody"), with_={"sessions": True})

    assert found is None


def test_find_many_with_no_match_is_an_empty_list(db: Database) -> None:
    assert db.query(Users).find_many(with_={"sessions": True}) == []


# -- shapes: many, one, columns, extras


def test_a_many_relation_without_rows_is_an_empty_list(db: Database) -> None:
    add_user(db, "u1")

    user = db.query(Users).find_first(with_={"sessions": {"with_": {"prompts": True}}})

    assert user.sessions == []


def test_a_one_relation_is_the_related_row(db: Database) -> None:
    add_user(db, "u1", sessions=1, prompts=1)

    prompt = db.query(Prompts).find_first(with_={"session": {"with_": {"user": True}}})

    assert isinstance(prompt.session, Sessions) and prompt.session.id == "u1-s0"
    assert isinstance(prompt.session.user, Users) and prompt.session.user.id == "u1"


def test_a_one_relation_without_a_row_is_none(db: Database) -> None:
    db.insert(People).values(
        [{"id": 1, "name": "Ann"}, {"id": 2, "name": "Bo", "mentor_id": 1}]
    ).execute()

    people = db.query(People).find_many(order_by=People.id, with_={"mentor": True})

    assert [(p.name, p.mentor and p.mentor.name) for p in people] == [("Ann", None), ("Bo", "Ann")]


def test_columns_true_selects_only_those_columns(db: Database) -> None:
    add_user(db, "u1", sessions=1)

    user = db.query(Users).find_first(
        columns={"id": True, "email": True},
        with_={"sessions": {"columns": {"id": True}}},
    )

    assert user.to_dict() == {
        "id": "u1",
        "email": "u1@example.com",
        "sessions": [Sessions(id="u1-s0")],
    }


def test_columns_false_leaves_those_columns_out(db: Database) -> None:
    add_user(db, "u1", sessions=1)

    user = db.query(Users).find_first(
        columns={"refresh_token": False, "metadata": False},
        with_={"sessions": {"columns": {"title": False}}},
    )

    assert set(user.to_dict()) == {
        "id", "email", "name", "created_at", "last_login_at", "deleted_at", "sessions",
    }
    assert set(user.sessions[0].to_dict()) == {"id", "user_id", "created_at", "last_active_at"}
    with pytest.raises(AttributeError):
        user.refresh_token  # noqa: B018


def test_extras_add_computed_fields_at_every_level(db: Database) -> None:
    add_user(db, "u1", sessions=2, prompts=3)

    user = db.query(Users).find_first(
        extras={
            "shout": sql("upper({name})", name=Users.name),
            "session_count": sql(
                "(SELECT count(*) FROM claude_code_sessions s WHERE s.user_id = {id})",
                id=Users.id,
            ),
        },
        with_={
            "sessions": {
                "order_by": Sessions.id,
                "extras": {"prompt_count": sql(
                    "(SELECT count(*) FROM claude_code_prompts p WHERE p.session_id = {id})",
                    id=Sessions.id,
                )},
            }
        },
    )

    assert (user.shout, user.session_count) == ("U1", 2)
    assert [(s.id, s.prompt_count) for s in user.sessions] == [("u1-s0", 3), ("u1-s1", 3)]


def test_extras_values_are_bound_parameters(db: Database) -> None:
    add_user(db, "u1", sessions=1)
    nasty = "'); DROP TABLE claude_code_users; --"

    user = db.query(Users).find_first(
        with_={"sessions": {"extras": {"echo": sql("{v}::text", v=nasty)}}}
    )
    compiled = db.query(Users).compile(
        with_={"sessions": {"extras": {"echo": sql("{v}::text", v=nasty)}}}
    )

    assert user.sessions[0].echo == nasty
    assert nasty not in compiled.as_string() and nasty in compiled.params


def test_a_nested_row_of_more_than_100_values_still_decodes(db: Database) -> None:
    add_user(db, "u1", sessions=1)
    extras = {f"n{i}": sql("{i}::int", i=i) for i in range(60)}  # 2 values each, + 5 columns

    user = db.query(Users).find_first(with_={"sessions": {"extras": extras}})

    assert [getattr(user.sessions[0], f"n{i}") for i in range(60)] == list(range(60))
    assert user.sessions[0].id == "u1-s0"


# -- nested values keep their types


def add_things(db: Database) -> None:
    db.insert(Owners).values({"id": 1}).execute()
    db.insert(Things).values(
        [
            {
                "id": 1,
                "owner_id": 1,
                "at": datetime(2024, 2, 29, 23, 59, 59, 123456, timezone(timedelta(hours=5))),
                "amount": Decimal("123456789012345678901234567890.0123456789"),
                "uid": UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                "blob": b"\x00\xff'\"\\{}",
                "doc": {"a": [1, 2.5, None, True], "b": {"c": "é \" ' \\"}},
                "feeling": Mood.HAPPY,
                "numbers": [1, -2, None, 2**31 - 1],
                "feelings": [Mood.SAD, Mood.OK],
                "moments": [T0, None],
                "flag": False,
                "ratio": float("inf"),
                "code": "ab",
                "address": ip_address("192.168.0.1"),
                "day": datetime(2024, 2, 29).date(),
                "span": timedelta(days=1, seconds=3, microseconds=5),
                "big": 2**63 - 1,
                "single": 0.1,
                "words": ['a "quoted", {braced} word', "NULL", None, ""],
                "grid": [[1, 2], [3, None]],
                "docs": [{"k": [1]}, None],
                "net": ip_network("10.0.0.0/8"),
                "clock": datetime(2024, 1, 1, 12, 30, 15, 250).time(),
                "mac": "08:00:2b:01:02:03",
                "local": datetime(2024, 5, 6, 7, 8, 9, 10),
            },
            {"id": 2, "owner_id": 1},  # every other column NULL
        ]
    ).execute()


def typed(row: Any) -> dict[str, Any]:
    """Each column's value with its type (and a datetime's tzinfo)."""
    return {
        c.attr: (type(v), v, getattr(v, "tzinfo", None))
        for c in Things.__table__.columns
        for v in [getattr(row, c.attr)]
    }


def test_nested_values_have_the_types_of_a_top_level_select(db: Database) -> None:
    add_things(db)

    owner = db.query(Owners).find_first(with_={"things": {"order_by": Things.id}})
    top = db.select().from_(Things).order_by(Things.id).all()

    assert [typed(t) for t in owner.things] == [typed(t) for t in top]
    assert top[0].feeling is Mood.HAPPY and top[0].amount == Decimal(
        "123456789012345678901234567890.0123456789"
    )


def test_nested_extras_have_the_types_of_top_level_extras(db: Database) -> None:
    add_things(db)
    extras = {
        "double": sql("{a} * 2", a=Things.amount),
        "late": sql("{t} > {when}", t=Things.at, when=T0),
        "next_day": sql("{t} + interval '1 day'", t=Things.at),
        "tags": sql("ARRAY['x', NULL]"),
        "nothing": sql("NULL::int"),
        "mood": Things.feeling,
        "moods": Things.feelings,
    }

    owner = db.query(Owners).find_first(
        with_={"things": {"extras": extras, "where": eq(Things.id, 1)}}
    )
    top = db.query(Things).find_first(extras=extras, where=eq(Things.id, 1))

    nested = owner.things[0]
    assert {k: (type(getattr(nested, k)), getattr(nested, k)) for k in extras} == {
        k: (type(getattr(top, k)), getattr(top, k)) for k in extras
    }
    assert (top.late, top.mood, top.moods, top.nothing) == (
        True, Mood.HAPPY, [Mood.SAD, Mood.OK], None
    )


def test_nested_timestamps_carry_the_session_time_zone(database_url: str, db: Database) -> None:
    add_things(db)
    url = make_conninfo(database_url, options="-c TimeZone=Asia/Kolkata")

    with Database(url, min_size=1, max_size=1) as kolkata:
        owner = kolkata.query(Owners).find_first(with_={"things": {"where": eq(Things.id, 1)}})
        top = kolkata.select().from_(Things).where(eq(Things.id, 1)).one()

    assert owner.things[0].at == top.at
    assert owner.things[0].at.tzinfo == top.at.tzinfo
    assert owner.things[0].at.utcoffset() == timedelta(hours=5, minutes=30)
    assert owner.things[0].moments[0].utcoffset() == timedelta(hours=5, minutes=30)



def test_a_time_zone_set_in_a_transaction_reaches_its_nested_timestamps(db: Database) -> None:
    # The zone is read from the connection (the server reports each change),
    # not fixed when the query was built or the connection opened.
    add_things(db)
    with db.transaction() as tx:
        tx.execute(sql("SET LOCAL TIME ZONE 'Asia/Tokyo'"))
        owner = tx.query(Owners).find_first(with_={"things": {"where": eq(Things.id, 1)}})
        top = tx.select().from_(Things).where(eq(Things.id, 1)).one()

    assert owner.things[0].at == top.at
    assert owner.things[0].at.tzinfo == top.at.tzinfo
    assert owner.things[0].at.utcoffset() == timedelta(hours=9)


# -- relations: many-to-many, names, self-relations, aliases


def test_many_through_a_junction_table(db: Database) -> None:
    db.insert(Posts).values([{"id": 1}, {"id": 2}]).execute()
    db.insert(Tags).values([{"id": 1, "label": "x"}, {"id": 2, "label": "y"}]).execute()
    db.insert(PostTags).values(
        [{"post_id": 1, "tag_id": 1}, {"post_id": 1, "tag_id": 2}, {"post_id": 2, "tag_id": 2}]
    ).execute()

    posts = db.query(Posts).find_many(
        order_by=Posts.id, with_={"tags": {"order_by": desc(Tags.label)}}
    )

    assert [(p.id, [t.label for t in p.tags]) for p in posts] == [(1, ["y", "x"]), (2, ["y"])]


def add_people(db: Database) -> None:
    db.insert(People).values(
        [
            {"id": 1, "name": "Ann"},
            {"id": 2, "name": "Bo", "mentor_id": 1},
            {"id": 3, "name": "Cy", "mentor_id": 1},
        ]
    ).execute()
    db.insert(Letters).values(
        [
            {"id": 10, "sender_id": 1, "recipient_id": 2},
            {"id": 11, "sender_id": 2, "recipient_id": 1},
            {"id": 12, "sender_id": 3, "recipient_id": 1},
        ]
    ).execute()


def test_relation_name_tells_two_relations_to_the_same_table_apart(db: Database) -> None:
    add_people(db)

    ann = db.query(People).find_first(
        where=eq(People.id, 1),
        with_={
            "sent": {"order_by": Letters.id},
            "received": {"order_by": Letters.id, "with_": {"sender": True}},
        },
    )

    assert [letter.id for letter in ann.sent] == [10]
    assert [(letter.id, letter.sender.name) for letter in ann.received] == [(11, "Bo"), (12, "Cy")]


def test_a_table_can_appear_at_several_levels(db: Database) -> None:
    add_people(db)

    ann = db.query(People).find_first(
        where=eq(People.name, "Ann"),
        with_={
            "mentees": {
                "order_by": desc(People.name),
                "where": eq(People.mentor_id, 1),
                "with_": {"mentor": {"columns": {"name": True}}},
            }
        },
    )

    assert ann.name == "Ann"
    assert [(p.name, p.mentor.name) for p in ann.mentees] == [("Cy", "Ann"), ("Bo", "Ann")]


def test_a_table_alias_can_be_queried_with_its_relations(db: Database) -> None:
    add_people(db)
    mentor = alias(People, "m")

    found = db.query(mentor).find_first(
        where=eq(mentor.name, "Ann"), with_={"mentees": {"order_by": People.id}}
    )

    assert isinstance(found, People)
    assert [p.name for p in found.mentees] == ["Bo", "Cy"]


# -- prepared


def test_prepare_takes_placeholders_at_every_level(db: Database) -> None:
    add_user(db, "u1", sessions=3)
    add_user(db, "u2", sessions=3)

    latest = db.query(Users).prepare(
        where=eq(Users.id, placeholder("id")),
        with_={"sessions": {"order_by": desc(Sessions.created_at), "limit": placeholder("n")}},
    )

    assert ids(latest.first(id="u1", n=1).sessions) == ["u1-s2"]
    assert ids(latest.first(id="u2", n=2).sessions) == ["u2-s2", "u2-s1"]


# -- mistakes are clear errors


def test_an_unknown_relation_names_the_table_and_the_relation(db: Database) -> None:
    with pytest.raises(QueryError, match=r"claude_code_users has no relation 'posts'.*sessions"):
        db.query(Users).find_many(with_={"posts": True})


def test_an_unknown_column_names_the_table_and_the_column(db: Database) -> None:
    with pytest.raises(QueryError, match=r"claude_code_sessions has no column 'nope'"):
        db.query(Users).find_many(with_={"sessions": {"columns": {"nope": True}}})


def test_an_unknown_option_is_an_error(db: Database) -> None:
    with pytest.raises(QueryError, match=r"relation 'sessions' of claude_code_users.*'limt'"):
        db.query(Users).find_many(with_={"sessions": {"limt": 3}})


def test_an_ambiguous_relation_is_a_schema_error(db: Database) -> None:
    with pytest.raises(SchemaError, match=r"relation 'letters' of rel_people is ambiguous"):
        db.query(People).find_many(with_={"letters": True})


def test_a_one_relation_takes_no_limit(db: Database) -> None:
    with pytest.raises(QueryError, match=r"relation 'user' of claude_code_sessions"):
        db.query(Sessions).find_many(with_={"user": {"limit": 2}})


def test_relations_reject_columns_of_other_tables() -> None:
    with pytest.raises(SchemaError, match=r"'owner' of rel_tags.*not a column of rel_tags"):
        relations(Tags, owner=one(Owners, fields=[Things.owner_id], references=[Owners.id]))


# -- the property: one statement agrees with N+1 plain queries

TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8)


@st.composite
def datasets(draw: st.DrawFn) -> list[tuple[dict[str, Any], list[tuple[dict[str, Any], int]]]]:
    """Users, each with sessions, each with a number of prompts."""
    users = []
    for u in range(draw(st.integers(0, 3))):
        sessions = []
        for s in range(draw(st.integers(0, 4))):
            created = T0 + timedelta(microseconds=draw(st.integers(0, 10**12)))
            session = {"id": f"u{u}s{s}", "user_id": f"u{u}", "title": draw(TEXT),
                       "created_at": created}
            sessions.append((session, draw(st.integers(0, 3))))
        users.append(({"id": f"u{u}", "email": f"u{u}@x", "name": draw(TEXT)}, sessions))
    return users


@given(data=datasets(), limit=st.none() | st.integers(0, 3))
def test_find_many_equals_n_plus_one_plain_queries(
    db: Database, data: list[Any], limit: int | None
) -> None:
    truncate(db)
    for user, sessions in data:
        db.insert(Users).values(user).execute()
        for session, n_prompts in sessions:
            db.insert(Sessions).values(session).execute()
            for p in range(n_prompts):
                db.insert(Prompts).values(
                    {"id": f"{session['id']}p{p}", "session_id": session["id"],
                     "user_id": user["id"], "content": f"{p}"}
                ).execute()

    found = db.query(Users).find_many(
        order_by=Users.id,
        with_={"sessions": {"with_": {"prompts": True}, "order_by": Sessions.id, "limit": limit}},
    )

    expected = []
    for user in db.select().from_(Users).order_by(Users.id).all():
        sessions = (
            db.select().from_(Sessions).where(eq(Sessions.user_id, user.id))
            .order_by(Sessions.id).limit(limit).all()
        )
        for session in sessions:
            prompts = db.select().from_(Prompts).where(eq(Prompts.session_id, session.id)).all()
            session.__dict__["prompts"] = plain(prompts)
        user.__dict__["sessions"] = plain(sessions)
        expected.append(plain(user))
    for user in found:
        for session in user.sessions:
            session.prompts.sort(key=lambda p: p.id)
    for user in expected:
        for session in user["sessions"]:
            session["prompts"].sort(key=lambda p: p["id"])
    assert plain(found) == expected


def test_a_nested_timestamp_python_cannot_hold_fails_as_in_a_plain_select(db: Database) -> None:
    add_user(db, "u1", sessions=1)
    db.execute(sql("UPDATE claude_code_sessions SET created_at = 'infinity'"))

    with pytest.raises(PgbuildError) as plain:
        db.select(Sessions.created_at).from_(Sessions).all()
    with pytest.raises(PgbuildError) as nested:
        db.query(Users).find_first(with_={"sessions": True})

    assert type(nested.value) is type(plain.value)
    assert "timestamp too large (after year 10K): 'infinity'" in str(nested.value)
