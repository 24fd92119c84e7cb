"""More select (API.md §3 "more select", §5 "Queries", §8 "Subqueries"), and
more insert/update: distinct on, subqueries and CTEs, lateral joins, set
operations, row locks, table aliases, insert ... select, update ... from.

Every test runs on a real PostgreSQL and checks the rows that come back.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pgbuild import (
    Compound,
    Database,
    DatabaseError,
    JoinedRow,
    QueryError,
    Row,
    Table,
    alias,
    and_,
    count,
    desc,
    eq,
    except_,
    excluded,
    exists,
    gt,
    gte,
    in_,
    intersect,
    is_null,
    lt,
    max_,
    not_exists,
    not_in,
    pg_enum,
    placeholder,
    sql,
    text,
    union,
    union_all,
)

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import schema  # noqa: E402
from schema import AuditLogs, Sessions, Users  # noqa: E402
from tests.conftest import Twin  # noqa: E402

NOW = datetime.now(UTC)
SINCE = NOW - timedelta(days=7)


class Members(Table, name="members"):
    """A table that refers to itself: who invited whom."""

    id = text().primary_key()
    name = text().not_null()
    invited_by = text().references(lambda: Members.id)


Inviter = alias(Members, "inviter")


class Mood(enum.Enum):
    SAD = "sad"
    HAPPY = "happy"


class Feelings(Table, name="feelings"):
    id = text().primary_key()
    mood = pg_enum("select_more_mood", Mood)().not_null()


# -- fixtures


@pytest.fixture(scope="module", autouse=True)
def tables(db: Database) -> Iterator[None]:
    db.create_tables(*schema.TABLES, Members, Feelings)
    yield
    db.drop_tables(*schema.TABLES, Members, Feelings)


@pytest.fixture(autouse=True)
def empty_tables(db: Database) -> None:
    db.execute(
        sql(
            "TRUNCATE claude_code_users, claude_code_sessions, claude_code_prompts, audit_logs,"
            " members, feelings CASCADE"
        )
    )


def add_users(db: Database, *ids: str) -> None:
    db.insert(Users).values(
        [{"id": i, "email": f"{i}@example.com", "name": i.title()} for i in ids]
    ).execute()


def add_sessions(db: Database, *rows: tuple[str, str, datetime]) -> None:
    """(session id, user id, created_at) triples."""
    db.insert(Sessions).values(
        [{"id": s, "user_id": u, "title": f"title {s}", "created_at": at} for s, u, at in rows]
    ).execute()


@pytest.fixture
def people(db: Database) -> None:
    """ann and bob have sessions (bob's are old), cid has none."""
    add_users(db, "ann", "bob", "cid")
    add_sessions(
        db,
        ("a1", "ann", NOW - timedelta(days=3)),
        ("a2", "ann", NOW - timedelta(days=1)),
        ("a3", "ann", NOW - timedelta(days=2)),
        ("b1", "bob", NOW - timedelta(days=30)),
        ("b2", "bob", NOW - timedelta(days=20)),
    )


def ids(rows: list[Any]) -> list[Any]:
    return sorted(r[0] for r in rows)


# -- distinct


def test_select_distinct_returns_each_value_once(db: Database, people: None) -> None:
    rows = db.select_distinct(Sessions.user_id).from_(Sessions).order_by(Sessions.user_id).all()

    assert rows == [("ann",), ("bob",)]


def test_select_distinct_on_gives_the_newest_session_of_each_user(
    db: Database, people: None
) -> None:
    rows = (
        db.select_distinct_on(Sessions.user_id)
        .from_(Sessions)
        .order_by(Sessions.user_id, desc(Sessions.created_at))
        .all()
    )

    assert [(s.user_id, s.id) for s in rows] == [("ann", "a2"), ("bob", "b2")]
    assert all(isinstance(s, Sessions) for s in rows)


def test_select_distinct_on_with_fields_gives_tuples(db: Database, people: None) -> None:
    rows = (
        db.select_distinct_on(Sessions.user_id, Sessions.user_id, Sessions.id)
        .from_(Sessions)
        .order_by(Sessions.user_id, Sessions.created_at)
        .all()
    )

    assert rows == [("ann", "a1"), ("bob", "b1")]


def test_select_distinct_on_a_list_of_expressions(db: Database, people: None) -> None:
    db.insert(Sessions).values({"id": "a4", "user_id": "ann", "title": "title a1"}).execute()

    rows = (
        db.select_distinct_on([Sessions.user_id, Sessions.title], title=Sessions.title)
        .from_(Sessions)
        .order_by(Sessions.user_id, Sessions.title)
        .all()
    )

    assert [r.title for r in rows] == ["title a1", "title a2", "title a3", "title b1", "title b2"]


def test_group_by_having_keeps_only_busy_users(db: Database, people: None) -> None:
    rows = (
        db.select(user_id=Sessions.user_id, n=count())
        .from_(Sessions)
        .group_by(Sessions.user_id)
        .having(gt(count(), 2))
        .all()
    )

    assert rows == [Row({"user_id": "ann", "n": 3})]


# -- subqueries


def test_derived_table_columns_are_attributes(db: Database, people: None) -> None:
    recent = (
        db.select(Sessions.user_id).from_(Sessions).where(gte(Sessions.created_at, SINCE))
    ).as_("recent")

    rows = db.select_distinct(recent.user_id).from_(recent).all()

    assert rows == [("ann",)]


def test_whole_rows_of_a_derived_table_keep_its_shape(db: Database, people: None) -> None:
    named = db.select().from_(Users).where(eq(Users.name, "Bob")).as_("named")

    rows = db.select().from_(named).all()

    assert [(type(u), u.id, u.email) for u in rows] == [(Users, "bob", "bob@example.com")]


def test_derived_table_in_a_join(db: Database, people: None) -> None:
    counts = (
        db.select(user_id=Sessions.user_id, n=count())
        .from_(Sessions)
        .group_by(Sessions.user_id)
        .as_("counts")
    )

    rows = (
        db.select(Users.email, counts.n)
        .from_(Users)
        .inner_join(counts, eq(counts.user_id, Users.id))
        .order_by(Users.email)
        .all()
    )

    assert rows == [("ann@example.com", 3), ("bob@example.com", 2)]


def test_whole_row_join_with_a_derived_table_gives_its_rows_by_name(
    db: Database, people: None
) -> None:
    counts = (
        db.select(user_id=Sessions.user_id, n=count())
        .from_(Sessions)
        .group_by(Sessions.user_id)
        .as_("counts")
    )

    rows = (
        db.select()
        .from_(Users)
        .left_join(counts, eq(counts.user_id, Users.id))
        .order_by(Users.id)
        .all()
    )

    assert [(r[Users].id, r.counts and r.counts.n) for r in rows] == [
        ("ann", 3),
        ("bob", 2),
        ("cid", None),
    ]
    assert isinstance(rows[0], JoinedRow)
    assert rows[0]["counts"] == Row({"user_id": "ann", "n": 3})


def test_subquery_column_with_a_different_attribute_name(db: Database, people: None) -> None:
    sub = db.select(Users.id, Users.name.as_("label")).from_(Users).as_("sub")

    rows = db.select(sub.id, sub.label).from_(sub).where(eq(sub.id, "cid")).all()

    assert rows == [("cid", "Cid")]


def test_a_named_subquery_is_not_a_value(db: Database) -> None:
    sub = db.select(count()).from_(Users).as_("n")

    with pytest.raises(AttributeError, match="named table"):
        db.select(Users.id, sub).from_(Users).compile()  # type: ignore[call-overload]


def test_values_decode_through_a_derived_table(db: Database) -> None:
    feelings = [{"id": "f1", "mood": Mood.SAD}, {"id": "f2", "mood": Mood.HAPPY}]
    db.insert(Feelings).values(feelings).execute()
    sub = db.select(Feelings.id, Feelings.mood).from_(Feelings).as_("sub")

    rows = db.select(sub.mood).from_(sub).where(eq(sub.id, "f2")).all()
    whole = db.select().from_(sub).where(eq(sub.id, "f1")).all()

    assert rows == [(Mood.HAPPY,)]
    assert whole == [("f1", Mood.SAD)]


def test_unknown_subquery_column_names_the_known_ones(db: Database) -> None:
    sub = db.select(Users.id, Users.email).from_(Users).as_("sub")

    with pytest.raises(AttributeError, match=r"subquery 'sub' has no column 'nme'.*'email'"):
        sub.nme  # noqa: B018


def test_one_column_select_is_a_scalar_operand(db: Database, people: None) -> None:
    owner = db.select(Sessions.user_id).from_(Sessions).where(eq(Sessions.id, "b1"))

    rows = db.select(Users.id).from_(Users).where(eq(Users.id, owner)).all()

    assert rows == [("bob",)]


def test_correlated_scalar_subquery_as_a_selected_field(db: Database, people: None) -> None:
    sessions = db.select(count()).from_(Sessions).where(eq(Sessions.user_id, Users.id))

    rows = db.select(id=Users.id, n=sessions).from_(Users).order_by(Users.id).all()

    assert [(r.id, r.n) for r in rows] == [("ann", 3), ("bob", 2), ("cid", 0)]


def test_in_subquery(db: Database, people: None) -> None:
    recent = db.select(Sessions.user_id).from_(Sessions).where(gte(Sessions.created_at, SINCE))

    rows = db.select(Users.id).from_(Users).where(in_(Users.id, recent)).all()

    assert rows == [("ann",)]


def test_not_in_subquery(db: Database, people: None) -> None:
    recent = db.select(Sessions.user_id).from_(Sessions).where(gte(Sessions.created_at, SINCE))

    rows = db.select(Users.id).from_(Users).where(not_in(Users.id, recent)).all()

    assert ids(rows) == ["bob", "cid"]


def test_exists_correlated_subquery(db: Database, people: None) -> None:
    has_sessions = db.select(sql("1")).from_(Sessions).where(eq(Sessions.user_id, Users.id))

    rows = db.select(Users.id).from_(Users).where(exists(has_sessions)).all()

    assert ids(rows) == ["ann", "bob"]


def test_not_exists_correlated_subquery(db: Database, people: None) -> None:
    has_sessions = db.select(sql("1")).from_(Sessions).where(eq(Sessions.user_id, Users.id))

    rows = db.select(Users.id).from_(Users).where(not_exists(has_sessions)).all()

    assert rows == [("cid",)]


# -- CTEs


def test_cte_example_from_the_guide(db: Database, people: None) -> None:
    since = SINCE
    recent = (
        db.select(Sessions.user_id).from_(Sessions).where(gte(Sessions.created_at, since))
    ).as_("recent")

    rows = (
        db.with_(recent)
        .select()
        .from_(Users)
        .where(in_(Users.id, db.select(recent.user_id).from_(recent)))
        .all()
    )

    assert [(type(u), u.id) for u in rows] == [(Users, "ann")]


def test_cte_is_referenced_by_name_not_repeated(db: Database) -> None:
    recent = db.select(Sessions.user_id).from_(Sessions).as_("recent")

    statement = db.with_(recent).select(recent.user_id).from_(recent).compile().as_string(None)

    assert statement.startswith('WITH "recent" AS (SELECT')
    assert statement.endswith('SELECT "recent"."user_id" FROM "recent"')


def test_a_cte_can_use_the_ones_before_it(db: Database, people: None) -> None:
    recent = (
        db.select(Sessions.user_id).from_(Sessions).where(gte(Sessions.created_at, SINCE))
    ).as_("recent")
    active = db.select(Users.id, Users.email).from_(Users).where(
        in_(Users.id, db.select(recent.user_id).from_(recent))
    ).as_("active")

    rows = db.with_(recent, active).select(active.email).from_(active).all()

    assert rows == [("ann@example.com",)]


def test_whole_rows_of_a_cte(db: Database, people: None) -> None:
    old = db.select().from_(Sessions).where(gte(Sessions.created_at, SINCE)).as_("new_sessions")

    rows = db.with_(old).select().from_(old).order_by(old.id).all()

    assert [(type(s), s.id) for s in rows] == [(Sessions, "a1"), (Sessions, "a2"), (Sessions, "a3")]


def test_with_before_insert(db: Database, people: None) -> None:
    stale = db.select(Users.id).from_(Users).where(
        not_in(Users.id, db.select(Sessions.user_id).from_(Sessions))
    ).as_("stale")

    db.with_(stale).insert(AuditLogs).select(
        db.select(
            id=sql("'log_' || {i}", i=stale.id),
            user_id=stale.id,
            action=sql("'flag'"),
            table_name=sql("'claude_code_users'"),
        ).from_(stale)
    ).execute()

    assert db.select(AuditLogs.id, AuditLogs.user_id).from_(AuditLogs).all() == [
        ("log_cid", "cid")
    ]


def test_with_before_update(db: Database, people: None) -> None:
    latest = (
        db.select(user_id=Sessions.user_id, at=max_(Sessions.created_at))
        .from_(Sessions)
        .group_by(Sessions.user_id)
        .as_("latest")
    )

    rows = (
        db.with_(latest)
        .update(Users)
        .set({"last_login_at": latest.at})
        .from_(latest)
        .where(eq(Users.id, latest.user_id))
        .returning(Users.id, Users.last_login_at)
        .all()
    )

    assert sorted(rows) == [("ann", NOW - timedelta(days=1)), ("bob", NOW - timedelta(days=20))]


def test_with_before_delete(db: Database, people: None) -> None:
    old = db.select(Sessions.id).from_(Sessions).where(lt(Sessions.created_at, SINCE)).as_("old")

    deleted = (
        db.with_(old)
        .delete(Sessions)
        .where(in_(Sessions.id, db.select(old.id).from_(old)))
        .returning(Sessions.id)
        .all()
    )

    assert ids(deleted) == ["b1", "b2"]
    assert ids(db.select(Sessions.id).from_(Sessions).all()) == ["a1", "a2", "a3"]


def test_with_of_a_compound_is_visible_to_every_member(db: Database, people: None) -> None:
    recent = (
        db.select(Sessions.user_id).from_(Sessions).where(gte(Sessions.created_at, SINCE))
    ).as_("recent")

    rows = (
        db.with_(recent)
        .select(recent.user_id)
        .from_(recent)
        .union(db.select(Users.id).from_(Users).where(
            not_in(Users.id, db.select(recent.user_id).from_(recent))))
        .order_by(recent.user_id)
        .all()
    )

    assert rows == [("ann",), ("bob",), ("cid",)]


def test_with_rejects_an_unnamed_query(db: Database) -> None:
    with pytest.raises(QueryError, match="named queries"):
        db.with_(db.select(Users.id).from_(Users))  # type: ignore[arg-type]


# -- lateral joins


def test_left_join_lateral_gives_each_users_latest_session(db: Database, people: None) -> None:
    latest = (
        db.select(Sessions.id, Sessions.created_at)
        .from_(Sessions)
        .where(eq(Sessions.user_id, Users.id))
        .order_by(desc(Sessions.created_at))
        .limit(1)
        .as_("latest")
    )

    rows = db.select().from_(Users).left_join_lateral(latest).order_by(Users.id).all()

    assert [(r[Users].id, r.latest and r.latest[0]) for r in rows] == [
        ("ann", "a2"),
        ("bob", "b2"),
        ("cid", None),
    ]


def test_inner_join_lateral_drops_rows_without_a_match(db: Database, people: None) -> None:
    top2 = (
        db.select(Sessions.id)
        .from_(Sessions)
        .where(eq(Sessions.user_id, Users.id))
        .order_by(desc(Sessions.created_at))
        .limit(2)
        .as_("top2")
    )

    rows = (
        db.select(Users.id, top2.id)
        .from_(Users)
        .inner_join_lateral(top2, sql("true"))
        .order_by(Users.id, top2.id)
        .all()
    )

    assert rows == [("ann", "a2"), ("ann", "a3"), ("bob", "b1"), ("bob", "b2")]


def test_lateral_join_of_a_table_is_refused(db: Database) -> None:
    with pytest.raises(QueryError, match="LATERAL takes a subquery"):
        db.select().from_(Users).left_join_lateral(Sessions)  # type: ignore[call-overload]


# -- set operations


def _user_ids(db: Database) -> Any:
    return db.select(Users.id).from_(Users)


def _session_users(db: Database) -> Any:
    return db.select(Sessions.user_id).from_(Sessions)


def test_union_removes_duplicates(db: Database, people: None) -> None:
    rows = _user_ids(db).union(_session_users(db)).all()

    assert ids(rows) == ["ann", "bob", "cid"]


def test_union_example_from_the_guide(db: Database, people: None) -> None:
    rows = db.select(Users.id).from_(Users).union(db.select(Sessions.user_id).from_(Sessions)).all()

    assert ids(rows) == ["ann", "bob", "cid"]


def test_union_all_keeps_duplicates(db: Database, people: None) -> None:
    rows = _user_ids(db).union_all(_session_users(db)).all()

    assert ids(rows) == ["ann"] * 4 + ["bob"] * 3 + ["cid"]


def test_intersect_keeps_rows_in_both(db: Database, people: None) -> None:
    rows = _user_ids(db).intersect(_session_users(db)).all()

    assert ids(rows) == ["ann", "bob"]


def test_intersect_all_keeps_the_smaller_multiplicity(db: Database, people: None) -> None:
    rows = _session_users(db).intersect_all(_session_users(db).where(
        gte(Sessions.created_at, NOW - timedelta(days=2)))).all()

    assert ids(rows) == ["ann", "ann"]


def test_except_removes_rows_of_the_other(db: Database, people: None) -> None:
    rows = _user_ids(db).except_(_session_users(db)).all()

    assert rows == [("cid",)]


def test_except_all_subtracts_multiplicities(db: Database, people: None) -> None:
    rows = _session_users(db).except_all(_user_ids(db)).all()

    assert ids(rows) == ["ann", "ann", "bob"]


def test_order_by_limit_offset_apply_to_the_whole_compound(db: Database, people: None) -> None:
    compound = _user_ids(db).union_all(_session_users(db))

    rows = compound.order_by(desc(Users.id)).limit(3).offset(1).all()

    assert rows == [("bob",), ("bob",), ("bob",)]


def test_members_keep_their_own_order_by_and_limit(db: Database, people: None) -> None:
    first_user = _user_ids(db).order_by(Users.id).limit(1)
    last_user = _user_ids(db).order_by(desc(Users.id)).limit(1)

    rows = first_user.union_all(last_user).all()

    assert ids(rows) == ["ann", "cid"]


def test_union_function_takes_many_queries(db: Database, people: None) -> None:
    rows = union(
        _user_ids(db).where(eq(Users.id, "ann")),
        _user_ids(db).where(eq(Users.id, "bob")),
        _user_ids(db).where(eq(Users.id, "ann")),
    ).all()

    assert ids(rows) == ["ann", "bob"]


def test_union_all_intersect_and_except_functions(db: Database, people: None) -> None:
    everyone = _user_ids(db)

    assert len(union_all(everyone, everyone, everyone).all()) == 9
    bob = everyone.where(eq(Users.id, "bob"))
    assert ids(intersect(everyone, _session_users(db), bob).all()) == ["bob"]
    assert except_(everyone, _session_users(db)).all() == [("cid",)]


def test_chained_set_operations_apply_left_to_right(db: Database, people: None) -> None:
    ann = _user_ids(db).where(eq(Users.id, "ann"))
    cid = _user_ids(db).where(eq(Users.id, "cid"))

    rows = ann.union(cid).intersect(cid).all()  # (ann UNION cid) INTERSECT cid

    assert rows == [("cid",)]


def test_compound_rows_keep_the_first_querys_shape(db: Database, people: None) -> None:
    rows = (
        db.select()
        .from_(Users)
        .where(eq(Users.id, "ann"))
        .union(db.select().from_(Users).where(eq(Users.id, "cid")))
        .order_by(Users.id)
        .all()
    )

    assert [(type(u), u.id) for u in rows] == [(Users, "ann"), (Users, "cid")]


def test_compound_as_a_subquery(db: Database, people: None) -> None:
    some = _user_ids(db).where(eq(Users.id, "ann")).union(_user_ids(db).where(eq(Users.id, "cid")))

    in_rows = db.select(Users.email).from_(Users).where(in_(Users.id, some)).all()
    named = some.as_("some")
    from_rows = db.select(named.id).from_(named).all()

    assert sorted(in_rows) == [("ann@example.com",), ("cid@example.com",)]
    assert ids(from_rows) == ["ann", "cid"]
    assert isinstance(some, Compound)


def test_ctes_and_set_operations_can_be_prepared(db: Database, people: None) -> None:
    mine = db.select(Sessions.id).from_(Sessions).where(
        eq(Sessions.user_id, placeholder("who"))
    ).as_("mine")
    prepared = (
        db.with_(mine)
        .select(mine.id)
        .from_(mine)
        .union(db.select(Sessions.id).from_(Sessions).where(eq(Sessions.id, placeholder("also"))))
        .order_by(mine.id)
        .prepare()
    )

    assert prepared.all(who="bob", also="a1") == [("a1",), ("b1",), ("b2",)]
    assert prepared.all(who="cid", also="a2") == [("a2",)]


# -- row locks


def test_for_update_returns_the_locked_row(db: Database, people: None) -> None:
    with db.transaction() as tx:
        user = (
            tx.select().from_(Users).where(eq(Users.id, "ann")).for_update(skip_locked=True).first()
        )

    assert user is not None and user.id == "ann"


def test_skip_locked_leaves_out_rows_another_transaction_locked(
    db: Database, people: None
) -> None:
    with db.transaction() as holder:
        holder.select().from_(Users).where(eq(Users.id, "ann")).for_update().one()
        with db.transaction() as other:
            rows = other.select(Users.id).from_(Users).for_update(skip_locked=True).all()

    assert ids(rows) == ["bob", "cid"]


def test_nowait_on_a_locked_row_raises_lock_not_available(db: Database, people: None) -> None:
    with db.transaction() as holder:
        holder.select().from_(Users).where(eq(Users.id, "ann")).for_update().one()
        with pytest.raises(DatabaseError) as caught, db.transaction() as other:
            other.select().from_(Users).where(eq(Users.id, "ann")).for_update(nowait=True).all()

    assert caught.value.sqlstate == "55P03"


def test_share_locks_do_not_conflict(db: Database, people: None) -> None:
    with db.transaction() as holder:
        holder.select().from_(Users).where(eq(Users.id, "ann")).for_share().one()
        with db.transaction() as other:
            rows = other.select(Users.id).from_(Users).for_share(nowait=True).all()

    assert ids(rows) == ["ann", "bob", "cid"]


def test_key_share_does_not_conflict_with_no_key_update(db: Database, people: None) -> None:
    with db.transaction() as holder:
        holder.select().from_(Users).where(eq(Users.id, "ann")).for_("no key update").one()
        with db.transaction() as other:
            rows = (
                other.select(Users.id)
                .from_(Users)
                .where(eq(Users.id, "ann"))
                .for_("key share", nowait=True)
                .all()
            )

    assert rows == [("ann",)]


def test_for_update_of_locks_only_the_named_table(db: Database, people: None) -> None:
    with db.transaction() as holder:
        holder.select(Sessions.id).from_(Sessions).inner_join(
            Users, eq(Users.id, Sessions.user_id)
        ).where(eq(Sessions.id, "b1")).for_update(of=Sessions).one()
        with db.transaction() as other:
            users = other.select(Users.id).from_(Users).for_update(nowait=True).all()
            sessions = other.select(Sessions.id).from_(Sessions).for_update(skip_locked=True).all()

    assert ids(users) == ["ann", "bob", "cid"]
    assert "b1" not in ids(sessions) and len(sessions) == 4


def test_lock_options_are_checked(db: Database) -> None:
    q = db.select().from_(Users)

    with pytest.raises(QueryError, match="not both"):
        q.for_update(nowait=True, skip_locked=True)
    with pytest.raises(QueryError, match="unknown lock strength"):
        q.for_("exclusive")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="is not a table"):
        q.for_update(of="claude_code_users")  # type: ignore[arg-type]


# -- table aliases


@pytest.fixture
def members(db: Database) -> None:
    db.insert(Members).values(
        [
            {"id": "m1", "name": "Ann"},
            {"id": "m2", "name": "Bob", "invited_by": "m1"},
            {"id": "m3", "name": "Cid", "invited_by": "m2"},
        ]
    ).execute()


def test_self_join_through_an_alias(db: Database, members: None) -> None:
    rows = (
        db.select(Members.name, Inviter.name)
        .from_(Members)
        .left_join(Inviter, eq(Members.invited_by, Inviter.id))
        .order_by(Members.id)
        .all()
    )

    assert rows == [("Ann", None), ("Bob", "Ann"), ("Cid", "Bob")]


def test_whole_row_self_join_gives_rows_of_the_original_table(
    db: Database, members: None
) -> None:
    rows = (
        db.select()
        .from_(Members)
        .inner_join(Inviter, eq(Members.invited_by, Inviter.id))
        .order_by(Members.id)
        .all()
    )

    assert [(r.members.name, r.inviter.name) for r in rows] == [("Bob", "Ann"), ("Cid", "Bob")]
    assert type(rows[0][Inviter]) is Members and type(rows[0][Members]) is Members


def test_select_from_an_alias_alone_gives_original_rows(db: Database, members: None) -> None:
    rows = db.select().from_(Inviter).where(is_null(Inviter.invited_by)).all()

    assert rows == [Members(id="m1", name="Ann", invited_by=None)]


def test_alias_renders_its_name(db: Database) -> None:
    statement = db.select(Inviter.id).from_(Inviter).compile().as_string(None)

    assert statement == 'SELECT "inviter"."id" FROM "members" AS "inviter"'


def test_a_table_joined_twice_through_two_aliases(db: Database, members: None) -> None:
    grand = alias(Members, "grand")

    rows = (
        db.select(Members.name, grand.name)
        .from_(Members)
        .inner_join(Inviter, eq(Members.invited_by, Inviter.id))
        .inner_join(grand, eq(Inviter.invited_by, grand.id))
        .all()
    )

    assert rows == [("Cid", "Ann")]


# -- insert ... select, update ... from, returning, upsert


def test_insert_select_maps_columns_by_attribute(db: Database, people: None) -> None:
    class Archive(Table, name="users_archive"):
        id = text().primary_key()
        email = text()

    db.create_tables(Archive)
    try:
        inserted = db.insert(Archive).select(
            db.select(Users.id, Users.email).from_(Users).where(eq(Users.id, "bob"))
        ).execute()
        rows = db.select().from_(Archive).all()
    finally:
        db.drop_tables(Archive)

    assert inserted == 1
    assert rows == [Archive(id="bob", email="bob@example.com")]


def test_insert_select_with_keyword_fields(db: Database, people: None) -> None:
    db.insert(AuditLogs).select(
        db.select(
            id=sql("'log_' || {i}", i=Users.id),
            user_id=Users.id,
            action=sql("'signup'"),
            table_name=sql("'claude_code_users'"),
        ).from_(Users)
    ).execute()

    rows = db.select(AuditLogs.id, AuditLogs.user_id, AuditLogs.action).from_(AuditLogs).all()
    assert sorted(rows) == [
        ("log_ann", "ann", "signup"),
        ("log_bob", "bob", "signup"),
        ("log_cid", "cid", "signup"),
    ]


def test_insert_select_with_labelled_fields_and_columns(db: Database, people: None) -> None:
    db.insert(AuditLogs).select(
        db.select(
            sql("'log_' || {i}", i=Users.id).as_("x"),
            Users.id,
            sql("'login'"),
            sql("'claude_code_users'"),
        ).from_(Users).where(eq(Users.id, "ann")),
        columns=[AuditLogs.id, AuditLogs.record_id, AuditLogs.action, AuditLogs.table_name],
    ).execute()

    rows = db.select(AuditLogs.id, AuditLogs.record_id, AuditLogs.action).from_(AuditLogs).all()
    assert rows == [("log_ann", "ann", "login")]


def test_insert_select_of_an_unnamed_field_asks_for_columns(db: Database) -> None:
    with pytest.raises(QueryError, match=r"has no name.*columns="):
        db.insert(AuditLogs).select(db.select(Users.id, sql("'x'")).from_(Users))


def test_insert_select_counts_columns(db: Database) -> None:
    with pytest.raises(QueryError, match="2 columns but the select gives 1"):
        db.insert(AuditLogs).select(
            db.select(Users.id).from_(Users), columns=[AuditLogs.id, AuditLogs.action]
        )


def test_insert_select_from_a_union(db: Database, people: None) -> None:
    labels = db.select(id=Users.id, action=sql("'user'"), table_name=sql("'t'")).from_(Users)
    more = db.select(
        id=Sessions.id, action=sql("'session'"), table_name=sql("'t'")
    ).from_(Sessions)

    db.insert(AuditLogs).select(labels.union_all(more)).execute()

    assert db.count(AuditLogs) == 8


def test_update_from_another_table(db: Database, people: None) -> None:
    rows = (
        db.update(Users)
        .set({"name": Sessions.title})
        .from_(Sessions)
        .where(and_(eq(Users.id, Sessions.user_id), eq(Sessions.id, "b2")))
        .returning(Users.id, Users.name)
        .all()
    )

    assert rows == [("bob", "title b2")]


def test_update_from_a_derived_table(db: Database, people: None) -> None:
    counts = (
        db.select(user_id=Sessions.user_id, n=count())
        .from_(Sessions)
        .group_by(Sessions.user_id)
        .as_("counts")
    )

    db.update(Users).set({"name": sql("{n}::text || ' sessions'", n=counts.n)}).from_(
        counts
    ).where(eq(Users.id, counts.user_id)).execute()

    assert db.select(Users.id, Users.name).from_(Users).order_by(Users.id).all() == [
        ("ann", "3 sessions"),
        ("bob", "2 sessions"),
        ("cid", "Cid"),
    ]


def test_returning_chosen_columns_gives_tuples(db: Database) -> None:
    rows = (
        db.insert(Users)
        .values([{"id": "u1", "email": "u1@example.com"}, {"id": "u2", "email": "u2@example.com"}])
        .returning(Users.id, Users.email)
        .all()
    )

    assert rows == [("u1", "u1@example.com"), ("u2", "u2@example.com")]


def test_upsert_sets_the_excluded_value(db: Database) -> None:
    add_users(db, "ann")

    user = (
        db.insert(Users)
        .values({"id": "ann", "email": "other@example.com", "name": "Annie"})
        .on_conflict_do_update(target=Users.id, set={"name": excluded(Users.name)})
        .returning()
        .one()
    )

    assert (user.id, user.email, user.name) == ("ann", "ann@example.com", "Annie")


# -- the same features on AsyncDatabase (the twin fixture runs each body on both)


def test_twin_cte_distinct_on_and_union(twin: Twin, people: None) -> None:
    async def body(t: Twin) -> None:
        recent = (
            t.db.select(Sessions.user_id).from_(Sessions).where(gte(Sessions.created_at, SINCE))
        ).as_("recent")
        in_recent = in_(Users.id, t.db.select(recent.user_id).from_(recent))
        users = await t.r(t.db.with_(recent).select().from_(Users).where(in_recent).all())
        newest = await t.r(
            t.db.select_distinct_on(Sessions.user_id, Sessions.id)
            .from_(Sessions)
            .order_by(Sessions.user_id, desc(Sessions.created_at))
            .all()
        )
        both = await t.r(
            t.db.select(Users.id).from_(Users).union(
                t.db.select(Sessions.user_id).from_(Sessions)
            ).order_by(desc(Users.id)).all()
        )
        assert [u.id for u in users] == ["ann"]
        assert newest == [("a2",), ("b2",)]
        assert both == [("cid",), ("bob",), ("ann",)]

    twin.run(body)


def test_twin_lateral_join_and_alias(twin: Twin, people: None, members: None) -> None:
    async def body(t: Twin) -> None:
        latest = (
            t.db.select(Sessions.id)
            .from_(Sessions)
            .where(eq(Sessions.user_id, Users.id))
            .order_by(desc(Sessions.created_at))
            .limit(1)
            .as_("latest")
        )
        rows = await t.r(
            t.db.select(Users.id, latest.id).from_(Users).left_join_lateral(latest)
            .order_by(Users.id).all()
        )
        pairs = await t.r(
            t.db.select(Members.name, Inviter.name).from_(Members)
            .inner_join(Inviter, eq(Members.invited_by, Inviter.id)).order_by(Members.id).all()
        )
        assert rows == [("ann", "a2"), ("bob", "b2"), ("cid", None)]
        assert pairs == [("Bob", "Ann"), ("Cid", "Bob")]

    twin.run(body)


def test_twin_skip_locked_and_nowait(twin: Twin, people: None) -> None:
    async def body(t: Twin) -> None:
        async with t.transaction(t.db) as holder:
            await t.r(holder.select().from_(Users).where(eq(Users.id, "ann")).for_update().one())
            async with t.transaction(t.db) as other:
                free = await t.r(
                    other.select(Users.id).from_(Users).for_update(skip_locked=True).all()
                )
            with pytest.raises(DatabaseError) as caught:
                async with t.transaction(t.db) as other:
                    await t.r(other.select().from_(Users).for_update(nowait=True).all())
        assert ids(free) == ["bob", "cid"]
        assert caught.value.sqlstate == "55P03"

    twin.run(body)


def test_twin_with_before_insert_update_and_delete(twin: Twin, people: None) -> None:
    async def body(t: Twin) -> None:
        old = t.db.select(Sessions.id, Sessions.user_id).from_(Sessions).where(
            lt(Sessions.created_at, SINCE)
        ).as_("old")
        logged = await t.r(
            t.db.with_(old).insert(AuditLogs).select(
                t.db.select(id=old.id, user_id=old.user_id, action=sql("'purge'"),
                            table_name=sql("'claude_code_sessions'")).from_(old)
            ).execute()
        )
        renamed = await t.r(
            t.db.with_(old).update(Users).set({"name": sql("'stale'")}).from_(old)
            .where(eq(Users.id, old.user_id)).returning(Users.id).all()
        )
        deleted = await t.r(
            t.db.with_(old).delete(Sessions)
            .where(in_(Sessions.id, t.db.select(old.id).from_(old))).execute()
        )
        assert (logged, deleted) == (2, 2)
        assert renamed == [("bob",)]

    twin.run(body)
