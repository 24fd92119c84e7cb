"""Properties: predicates compile to SQL that means what they say, and raw
``sql(...)`` templates carry any value through untouched.

The main property builds random predicate trees (comparisons, LIKE and ILIKE,
IN lists, NULL tests, BETWEEN, combined with AND / OR / NOT), evaluates each
one in Python with SQL's three-valued logic, and checks that PostgreSQL keeps
exactly the rows the Python model keeps. Trees are plain tuples such as
``("and", (("eq", "n", 3), ("like", "s", "a%")))`` so that a failing example
reads as the predicate it stands for.

The text column is ``COLLATE "C"``: ordering is then by code point (as Python
compares strings) and ILIKE folds case with ``lower()`` of the C locale,
which maps only the ASCII letters A-Z. Under a linguistic collation (ICU,
glibc, or the builtin ``C.UTF-8``) folding characters such as ``İ``, ``ß`` or
``ǅ`` differs from Python's ``str.lower`` and between providers, so the model
could not be exact; pinning the collation lets the ILIKE patterns and the
values keep their unicode characters instead of being restricted to ASCII.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgbuild import (
    Database,
    Table,
    and_,
    between,
    boolean,
    eq,
    gt,
    gte,
    ilike,
    in_,
    integer,
    is_not_null,
    is_null,
    like,
    lt,
    lte,
    ne,
    not_,
    not_between,
    not_ilike,
    not_in,
    not_like,
    or_,
    sql,
    text,
)


class Items(Table, name="items"):
    id = integer().primary_key()
    n = integer()
    s = text()
    f = boolean()


# ----------------------------------------------------------------- the data

N_VALUES: list[int | None] = [None, None, -3, 0, 0, 1, 2, 2, 5, 7, 7, 7, 10, 42, 1000]

S_VALUES: list[str | None] = [
    None,
    None,
    "",
    "a",
    "A",
    "a",
    "abc",
    "ABC",
    "aBc",
    "abcabc",
    "b",
    "100%",
    "50% off",
    "a_b",
    "a%b",
    "_x_",
    "it's",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "two\nlines",
    "Über",
    "über",
    "straße",
    "İstanbul",
    "ǅemal",
    "日本語",
    "🙂 smile",
    "  padded ",
]

# Values that appear in no row, to compare against as well.
ABSENT_N = [-100, -1, 3, 6, 8, 999, 1001, 2**40]
ABSENT_S = ["zzz", "ab", "Z", "ü", "ÜBER", "%", "_", "\\", "a%", "日"]


def _draw_rows() -> list[dict[str, Any]]:
    """About 30 rows, drawn once with a fixed seed: every run sees the same table."""
    rng = random.Random(20240917)
    rows = []
    for i in range(1, 31):
        rows.append(
            {
                "id": i,
                "n": rng.choice(N_VALUES),
                "s": S_VALUES[i - 1] if i <= len(S_VALUES) else rng.choice(S_VALUES),
                "f": rng.choice([True, False, None]),
            }
        )
    return rows


ROWS = _draw_rows()


@pytest.fixture(scope="module")
def items(db: Database) -> list[dict[str, Any]]:
    """The ``items`` table, created and filled once for this module."""
    db.create_tables(Items)
    # Pin the collation: see the module docstring.
    db.execute(sql('ALTER TABLE items ALTER COLUMN s TYPE text COLLATE "C"'))
    db.insert(Items).values(ROWS).execute()
    stored = db.select().from_(Items).order_by(Items.id).all()
    assert [row.to_dict() for row in stored] == ROWS
    return ROWS


# ----------------------------------------------------------- the Python model

Tri = bool | None  # SQL's true / false / unknown (NULL)


def _and(values: Sequence[Tri]) -> Tri:
    if any(v is False for v in values):
        return False
    if any(v is None for v in values):
        return None
    return True


def _or(values: Sequence[Tri]) -> Tri:
    if any(v is True for v in values):
        return True
    if any(v is None for v in values):
        return None
    return False


def _not(value: Tri) -> Tri:
    return None if value is None else not value


def like_regex(pattern: str) -> re.Pattern[str]:
    """PostgreSQL LIKE as a regular expression: ``%`` is any run of characters,
    ``_`` exactly one character, and a backslash (LIKE's default escape) makes
    the next character literal."""
    out = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "\\":
            out.append(re.escape(next(chars)))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def ascii_lower(value: str) -> str:
    """``lower()`` under ``COLLATE "C"``: only A-Z change."""
    return value.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _compare(op: str, left: Any, right: Any) -> Tri:
    if left is None or right is None:
        return None
    return bool(
        {
            "eq": left == right,
            "ne": left != right,
            "gt": left > right,
            "gte": left >= right,
            "lt": left < right,
            "lte": left <= right,
        }[op]
    )


def _like(op: str, value: str | None, pattern: str) -> Tri:
    if value is None:
        return None
    if op in ("ilike", "not_ilike"):
        value, pattern = ascii_lower(value), ascii_lower(pattern)
    matched = like_regex(pattern).fullmatch(value) is not None
    return matched if op in ("like", "ilike") else not matched


def _in(value: Any, candidates: Sequence[Any]) -> Tri:
    # x IN () is false, whatever x is; otherwise x = c1 OR x = c2 OR ...
    return _or([_compare("eq", value, c) for c in candidates])


def evaluate(tree: tuple[Any, ...], row: dict[str, Any]) -> Tri:
    """The predicate's value on one row, in three-valued logic."""
    kind = tree[0]
    if kind == "and":
        return _and([evaluate(t, row) for t in tree[1]])
    if kind == "or":
        return _or([evaluate(t, row) for t in tree[1]])
    if kind == "not":
        return _not(evaluate(tree[1], row))
    if kind == "column":
        value: Tri = row[tree[1]]
        return value
    if kind in ("eq", "ne", "gt", "gte", "lt", "lte"):
        return _compare(kind, row[tree[1]], tree[2])
    if kind in ("like", "ilike", "not_like", "not_ilike"):
        return _like(kind, row[tree[1]], tree[2])
    if kind == "in":
        return _in(row[tree[1]], tree[2])
    if kind == "not_in":
        return _not(_in(row[tree[1]], tree[2]))
    if kind == "is_null":
        return row[tree[1]] is None
    if kind == "is_not_null":
        return row[tree[1]] is not None
    if kind in ("between", "not_between"):
        _, col, low, high = tree
        inside = _and([_compare("gte", row[col], low), _compare("lte", row[col], high)])
        return inside if kind == "between" else _not(inside)
    raise AssertionError(f"unknown node {kind}")


# ------------------------------------------------------------- tree -> pgbuild

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "eq": eq,
    "ne": ne,
    "gt": gt,
    "gte": gte,
    "lt": lt,
    "lte": lte,
    "like": like,
    "ilike": ilike,
    "not_like": not_like,
    "not_ilike": not_ilike,
    "in": in_,
    "not_in": not_in,
}
_COLUMNS: dict[str, Any] = {"id": Items.id, "n": Items.n, "s": Items.s, "f": Items.f}


def to_expr(tree: tuple[Any, ...]) -> Any:
    """The same predicate built with pgbuild's operators."""
    kind = tree[0]
    if kind == "and":
        return and_(*(to_expr(t) for t in tree[1]))
    if kind == "or":
        return or_(*(to_expr(t) for t in tree[1]))
    if kind == "not":
        return not_(to_expr(tree[1]))
    column = _COLUMNS[tree[1]]
    if kind == "column":
        return column
    if kind in _BINARY:
        return _BINARY[kind](column, tree[2])
    if kind == "is_null":
        return is_null(column)
    if kind == "is_not_null":
        return is_not_null(column)
    if kind == "between":
        return between(column, tree[2], tree[3])
    if kind == "not_between":
        return not_between(column, tree[2], tree[3])
    raise AssertionError(f"unknown node {kind}")


# ------------------------------------------------------------------ strategies

# PostgreSQL text holds any character except NUL; surrogates are not encodable.
any_char = st.characters(codec="utf-8", exclude_characters="\x00")
any_text = st.text(any_char, max_size=8)

n_values = st.one_of(
    st.sampled_from([v for v in N_VALUES if v is not None] + ABSENT_N),
    st.integers(-10, 50),
)
s_values = st.one_of(
    st.sampled_from([v for v in S_VALUES if v is not None] + ABSENT_S),
    any_text,
)
# Comparing with NULL is unknown, never true: worth generating now and then.
n_operands = st.one_of(n_values, st.just(None))
s_operands = st.one_of(s_values, st.just(None))

# A LIKE pattern: wildcards, literal characters (some of them letters whose case
# matters for ILIKE, some unicode), and backslash-escaped wildcards/backslashes.
pattern_pieces = st.one_of(
    st.sampled_from(["%", "_"]),
    st.sampled_from(list("aAbBcC ' \"Üüß日🙂\n")),
    st.sampled_from(["\\%", "\\_", "\\\\", "\\a"]),
    any_char.filter(lambda c: c not in "%_\\"),
)
like_patterns = st.one_of(
    st.lists(pattern_pieces, max_size=6).map("".join),
    # Patterns cut from the stored strings, to get matches often.
    st.sampled_from([v for v in S_VALUES if v]).flatmap(
        lambda v: st.tuples(st.integers(0, len(v)), st.integers(0, len(v))).map(
            lambda ij: "%" + v[min(ij) : max(ij)].replace("\\", "\\\\") + "%"
        )
    ),
)


def _comparisons(column: str, operands: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.tuples(
        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), st.just(column), operands
    )


def _membership(column: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Lists may be empty, and may hold NULL (which makes a miss unknown).
    return st.tuples(
        st.sampled_from(["in", "not_in"]),
        st.just(column),
        st.lists(st.one_of(values, st.just(None)), max_size=4),
    )


def _ranges(column: str, operands: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # low may exceed high (then BETWEEN is false); NULL bounds are unknown.
    return st.tuples(
        st.sampled_from(["between", "not_between"]), st.just(column), operands, operands
    )


leaves = st.one_of(
    _comparisons("n", n_operands),
    _comparisons("s", s_operands),
    st.tuples(st.sampled_from(["eq", "ne"]), st.just("f"), st.sampled_from([True, False, None])),
    st.tuples(st.just("column"), st.just("f")),
    st.tuples(
        st.sampled_from(["like", "ilike", "not_like", "not_ilike"]), st.just("s"), like_patterns
    ),
    _membership("n", n_values),
    _membership("s", s_values),
    st.tuples(st.sampled_from(["is_null", "is_not_null"]), st.sampled_from(["n", "s", "f"])),
    _ranges("n", n_operands),
    _ranges("s", s_operands),
)

predicates = st.recursive(
    leaves,
    lambda children: st.one_of(
        # and_() / or_() with no items are true / false.
        st.tuples(st.sampled_from(["and", "or"]), st.lists(children, max_size=3).map(tuple)),
        st.tuples(st.just("not"), children),
    ),
    max_leaves=12,
)


# ---------------------------------------------------------------- properties


def _selected_ids(db: Database, tree: tuple[Any, ...]) -> list[int]:
    rows = db.select(Items.id).from_(Items).where(to_expr(tree)).order_by(Items.id).all()
    return [id_ for (id_,) in rows]


@given(tree=predicates)
def test_where_keeps_exactly_the_rows_the_python_model_keeps(
    db: Database, items: list[dict[str, Any]], tree: tuple[Any, ...]
) -> None:
    expected = [row["id"] for row in items if evaluate(tree, row) is True]
    assert _selected_ids(db, tree) == expected


@given(tree=predicates)
def test_not_keeps_the_rows_where_the_predicate_is_false_never_unknown(
    db: Database, items: list[dict[str, Any]], tree: tuple[Any, ...]
) -> None:
    # WHERE NOT p drops the rows where p is NULL, just as WHERE p does.
    kept = _selected_ids(db, tree)
    dropped = _selected_ids(db, ("not", tree))
    unknown = [row["id"] for row in items if evaluate(tree, row) is None]
    assert sorted(kept + dropped + unknown) == [row["id"] for row in items]


def test_like_model_follows_postgresql_on_wildcards_and_escapes(
    db: Database, items: list[dict[str, Any]]
) -> None:
    # A few hand-picked cases pin the model itself, independently of hypothesis.
    cases = {
        ("like", "s", "100\\%"): ["100%"],
        ("like", "s", "a\\_b"): ["a_b"],
        ("like", "s", "a_b"): ["a_b", "a%b"],
        ("like", "s", "%\\\\%"): ["back\\slash"],
        ("like", "s", "two_lines"): ["two\nlines"],
        ("ilike", "s", "abc"): ["abc", "ABC", "aBc"],
        ("ilike", "s", "über"): ["über"],  # Ü is not ASCII: COLLATE "C" does not fold it
    }
    for tree, strings in cases.items():
        expected = [row["id"] for row in items if row["s"] in strings]
        assert [row["id"] for row in items if evaluate(tree, row)] == expected, tree
        assert _selected_ids(db, tree) == expected, tree


# ------------------------------------------------------------- sql(...) values

NASTY = [
    "",
    "'",
    "''",
    "it's",
    '"',
    "\\",
    "\\'",
    "$$",
    "$tag$ x $tag$",
    "--",
    "-- comment\nSELECT 1",
    "/* open",
    ";",
    "'; DROP TABLE items; --",
    "%s",
    "%(name)s",
    "%%",
    "%",
    "{}",
    "{v}",
    "{{}}",
    "$1",
    "?",
    "\n\r\t",
    "ünïcødé 日本語 🙂",
]
template_values = st.one_of(st.sampled_from(NASTY), st.text(any_char, max_size=40))


@given(value=template_values)
def test_sql_template_values_round_trip_exactly(db: Database, value: str) -> None:
    assert db.execute(sql("SELECT {v}::text AS v", v=value)).one().v == value


@given(value=template_values)
def test_sql_template_values_are_compared_not_executed(
    db: Database, items: list[dict[str, Any]], value: str
) -> None:
    # The value is data: the filter matches the rows holding it, nothing else happens.
    rows = db.execute(sql("SELECT id FROM items WHERE s = {v} ORDER BY id", v=value)).all()
    assert [row.id for row in rows] == [row["id"] for row in items if row["s"] == value]


@given(literal=template_values, value=template_values)
def test_sql_template_literal_text_keeps_percent_signs_and_doubled_braces(
    db: Database, literal: str, value: str
) -> None:
    # Literal SQL text (a quoted string here) next to a parameter: its % signs stay
    # as written, and {{ }} are the template's way to write { }.
    quoted = "'" + literal.replace("'", "''") + "'"
    template = "SELECT " + quoted.replace("{", "{{").replace("}", "}}") + "::text AS lit, "
    row = db.execute(sql(template + "{v}::text AS v", v=value)).one()
    assert (row.lit, row.v) == (literal, value)


def test_sql_template_with_a_literal_percent_sign(db: Database) -> None:
    row = db.execute(sql("SELECT '50%' AS pct, 7 % {m} AS rest", m=4)).one()
    assert (row.pct, row.rest) == ("50%", 3)


def test_sql_template_with_doubled_braces_is_an_empty_jsonb_object(db: Database) -> None:
    row = db.execute(sql("SELECT '{{}}'::jsonb AS doc, {n}::int AS n", n=1)).one()
    assert (row.doc, row.n) == ({}, 1)


def test_sql_template_reuses_a_value_named_twice(db: Database) -> None:
    row = db.execute(sql("SELECT {v}::text AS a, {v}::text || '!' AS b", v="x'y")).one()
    assert (row.a, row.b) == ("x'y", "x'y!")
