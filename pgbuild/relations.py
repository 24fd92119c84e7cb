"""Relations between tables, declared beside them, for relational queries.

::

    relations(Users, sessions=many(Sessions))
    relations(
        Sessions,
        user=one(Users, fields=[Sessions.user_id], references=[Users.id]),
        prompts=many(Prompts),
    )

    db.query(Users).find_many(with_={"sessions": {"with_": {"prompts": True}}})

``one(T, fields=[...], references=[...])`` says that a row's ``fields`` hold
the ``references`` of at most one row of ``T``. ``many(T)`` is the other side:
it finds the ``one`` on ``T`` that points back (or, failing that, a foreign
key from ``T`` to this table); ``relation_name=`` pairs the two sides when a
table has several relations to the same table. ``many(T, through=J)`` is
many-to-many over the junction table ``J``.

Declaring registers the relations on the table; nothing else needs them.
They are resolved (paired, checked) when a query first uses them, so tables
and relations may be declared in any order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgbuild.columns import Column
from pgbuild.errors import QueryError, SchemaError
from pgbuild.table import ForeignKey, Table

Pairs = tuple[tuple[Column[Any], Column[Any]], ...]


@dataclass(frozen=True, slots=True)
class One:
    """``one(Users, fields=[Sessions.user_id], references=[Users.id])``: at most
    one row of ``target``. Without ``fields``, the other side (a ``one`` on
    ``target`` pointing back, or a foreign key) says how the rows match."""

    target: type[Table]
    fields: tuple[Column[Any], ...] = ()
    references: tuple[Column[Any], ...] = ()
    relation_name: str | None = None


@dataclass(frozen=True, slots=True)
class Many:
    """``many(Sessions)``: every row of ``target`` that points at this row;
    ``many(Tags, through=PostTags)`` for many-to-many."""

    target: type[Table]
    relation_name: str | None = None
    through: type[Table] | None = None


Relation = One | Many


def one(
    target: type[Table],
    *,
    fields: Sequence[Column[Any]] | None = None,
    references: Sequence[Column[Any]] | None = None,
    relation_name: str | None = None,
) -> One:
    """At most one row of ``target``: the one whose ``references`` equal this
    row's ``fields`` (a row whose fields are NULL has none).

    >>> relations(Sessions, user=one(Users, fields=[Sessions.user_id], references=[Users.id]))
    """
    return One(target, tuple(fields or ()), tuple(references or ()), relation_name)


def many(
    target: type[Table],
    *,
    relation_name: str | None = None,
    through: type[Table] | None = None,
) -> Many:
    """Every row of ``target`` that belongs to this row.

    >>> relations(Users, sessions=many(Sessions))
    >>> relations(Posts, tags=many(Tags, through=PostTags))
    """
    return Many(target, relation_name, through)


@dataclass(frozen=True, slots=True)
class Relations:
    """What :func:`relations` declared for one table."""

    table: type[Table]
    config: Mapping[str, Relation]


# Registered relations by table class, and the links resolved from them.
_REGISTRY: dict[type[Table], dict[str, Relation]] = {}
_LINKS: dict[tuple[type[Table], str], Link] = {}


def relations(table: type[Table], /, **declared: Relation) -> Relations:
    """Declare ``table``'s relations by name and register them on it.

    >>> relations(Users, sessions=many(Sessions))
    """
    name = _name(table)
    if not (isinstance(table, type) and issubclass(table, Table)):
        raise SchemaError(f"relations(): {table!r} is not a Table class")
    registered = _REGISTRY.setdefault(table, {})
    for rel_name, rel in declared.items():
        where = f"relation {rel_name!r} of {name}"
        if not isinstance(rel, One | Many):
            raise SchemaError(f"{where}: expected one(...) or many(...), got {rel!r}")
        if rel_name in table.__table__.by_attr:
            raise SchemaError(f"{where}: {name} already has a column of that name")
        if hasattr(Table, rel_name):
            raise SchemaError(f"{where}: the name is taken by rows' own attributes")
        if rel_name in registered:
            raise SchemaError(f"{where} is declared twice")
        _check_declaration(table, rel, where)
    registered.update(declared)
    _LINKS.clear()
    return Relations(table, dict(declared))


def relations_of(table: type[Table]) -> dict[str, Relation]:
    """The relations declared on ``table`` (or on a class it derives from)."""
    found: dict[str, Relation] = {}
    for klass in reversed(table.__mro__):
        found.update(_REGISTRY.get(klass, {}))
    return found


def _check_declaration(table: type[Table], rel: Relation, where: str) -> None:
    if not (isinstance(rel.target, type) and issubclass(rel.target, Table)):
        raise SchemaError(f"{where}: target {rel.target!r} is not a Table class")
    if isinstance(rel, Many):
        if rel.through is not None and not (
            isinstance(rel.through, type) and issubclass(rel.through, Table)
        ):
            raise SchemaError(f"{where}: through={rel.through!r} is not a Table class")
        return
    if not rel.fields and not rel.references:
        return
    if len(rel.fields) != len(rel.references) or not rel.fields:
        raise SchemaError(
            f"{where}: fields and references must be lists of the same, non-zero length"
        )
    for col in rel.fields:
        _own(col, table, f"{where}: field")
    for col in rel.references:
        _own(col, rel.target, f"{where}: reference")


def _own(col: Any, table: type[Table], what: str) -> None:
    if not isinstance(col, Column) or not _is(table, col):
        raise SchemaError(f"{what} {col!r} is not a column of {_name(table)}")


# ------------------------------------------------------------------ resolving


@dataclass(frozen=True, slots=True)
class Link:
    """A resolved relation: how rows of ``target`` belong to a row of ``source``.

    ``pairs`` are ``(target column, source column)`` that must be equal; with
    a junction table, ``to_source`` are ``(junction column, source column)``
    and ``pairs`` are ``(target column, junction column)``.
    """

    name: str
    source: type[Table]
    target: type[Table]
    many: bool
    pairs: Pairs
    through: type[Table] | None = None
    to_source: Pairs = ()


def link(source: type[Table], name: str) -> Link:
    """The relation ``name`` of ``source``, resolved; :class:`QueryError` if
    there is none, :class:`SchemaError` if it cannot be resolved."""
    key = (source, name)
    found = _LINKS.get(key)
    if found is None:
        declared = relations_of(source)
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none declared"
            raise QueryError(
                f"{_name(source)} has no relation {name!r} (relations: {known}); "
                f"declare it with relations({source.__name__}, {name}=...)"
            )
        found = _LINKS[key] = _resolve(source, name, declared[name])
    return found


def _resolve(source: type[Table], name: str, rel: Relation) -> Link:
    where = f"relation {name!r} of {_name(source)}"
    target = rel.target
    if isinstance(rel, One):
        if rel.fields:
            return Link(name, source, target, False, _pairs(rel.references, rel.fields))
        back = _ones_pointing_at(target, source, rel.relation_name, exclude=rel)
        if len(back) == 1:
            other = back[0][1]
            return Link(name, source, target, False, _pairs(other.fields, other.references))
        _no_ambiguity(back, target, where)
        fks = _foreign_keys(source, target)
        if len(fks) == 1:
            return Link(name, source, target, False, tuple((t, s) for s, t in fks[0]))
        reverse = _foreign_keys(target, source) if not fks else []
        if len(reverse) == 1:
            return Link(name, source, target, False, reverse[0])
        raise _unresolved(where, target, source, len(fks) + len(reverse) > 1)
    if rel.through is not None:
        junction = rel.through
        to_source = _junction(junction, source, where)
        to_target = _junction(junction, target, where)
        pairs = tuple((t, j) for j, t in to_target)
        return Link(name, source, target, True, pairs, junction, to_source)
    back = _ones_pointing_at(target, source, rel.relation_name, exclude=None)
    if len(back) == 1:
        other = back[0][1]
        return Link(name, source, target, True, _pairs(other.fields, other.references))
    _no_ambiguity(back, target, where)
    fks = _foreign_keys(target, source)
    if len(fks) == 1:
        return Link(name, source, target, True, fks[0])
    raise _unresolved(where, target, source, len(fks) > 1)


def _junction(junction: type[Table], end: type[Table], where: str) -> Pairs:
    """``(junction column, end column)`` pairs joining the junction table to ``end``."""
    ones = _ones_pointing_at(junction, end, None, exclude=None)
    if len(ones) == 1:
        other = ones[0][1]
        return _pairs(other.fields, other.references)
    fks = _foreign_keys(junction, end)
    if len(ones) > 1 or len(fks) != 1:
        problem = "several" if len(ones) > 1 or fks else "no"
        raise SchemaError(
            f"{where}: junction table {_name(junction)} has {problem} foreign keys "
            f"or one(...) relations to {_name(end)}; it needs exactly one"
        )
    return fks[0]


def _ones_pointing_at(
    table: type[Table], target: type[Table], relation_name: str | None, exclude: One | None
) -> list[tuple[str, One]]:
    """``table``'s ``one`` relations with fields that point at ``target``."""
    return [
        (n, r)
        for n, r in relations_of(table).items()
        if isinstance(r, One)
        and r is not exclude
        and r.fields
        and issubclass(target, r.target)
        and (relation_name is None or r.relation_name == relation_name)
    ]


def _foreign_keys(table: type[Table], target: type[Table]) -> list[Pairs]:
    """``table``'s foreign keys to ``target``, each as (table column, target column) pairs."""
    found: list[Pairs] = []
    for col in table.__table__.columns:
        if col.fk is not None:
            ref = col.fk.target()
            if _is(target, ref):
                found.append(((col, ref),))
    for extra in table.__table__.extras:
        if isinstance(extra, ForeignKey):
            refs = tuple(extra.target())
            if len(refs) == len(extra.columns) and all(_is(target, r) for r in refs):
                found.append(_pairs(extra.columns, refs))
    return found


def _is(table: type[Table], col: Column[Any]) -> bool:
    """``col`` belongs to ``table`` (or to the table ``table`` is an alias of)."""
    return col.table is not None and issubclass(table, col.table)


def _pairs(a: Sequence[Column[Any]], b: Sequence[Column[Any]]) -> Pairs:
    return tuple(zip(a, b, strict=True))


def _no_ambiguity(back: list[tuple[str, One]], target: type[Table], where: str) -> None:
    if len(back) > 1:
        names = ", ".join(n for n, _ in back)
        raise SchemaError(
            f"{where} is ambiguous: {_name(target)} has several relations pointing back "
            f"({names}); give both sides the same relation_name="
        )


def _unresolved(where: str, target: type[Table], source: type[Table], several: bool) -> SchemaError:
    if several:
        return SchemaError(
            f"{where} is ambiguous: there are several foreign keys between "
            f"{_name(target)} and {_name(source)}; declare one(..., fields=[...], "
            "references=[...]) with a relation_name= on both sides"
        )
    return SchemaError(
        f"{where}: cannot tell how {_name(target)} rows belong to {_name(source)}; declare "
        f"one({source.__name__}, fields=[...], references=[...]) on {target.__name__} "
        "or a foreign key"
    )


def _name(table: Any) -> str:
    meta = getattr(table, "__table__", None)
    return meta.name if meta is not None else repr(table)
