"""The rendering context shared by every node: where bound values are collected.

Nodes turn themselves into psycopg composables with :meth:`Ctx.param` for
values and :func:`ident` for names; nothing else produces SQL text. They
assemble pieces with :func:`fmt`, :func:`join`, :class:`Frag` and
:data:`keyword`, lighter stand-ins for ``SQL.format``/``SQL.join``/``Composed``
(statements are built on every call, and psycopg's versions check and parse
each time); :func:`text_of` turns the result into the text psycopg sends.

Every statement pgbuild renders has each literal ``%`` doubled (in names,
quoted literals and raw text), because it always runs with a parameter list
that psycopg scans for ``%s``; :func:`sql_text` gives the text as PostgreSQL
should see it, for printing or writing to a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from psycopg import sql as pg

PLACEHOLDER = pg.SQL("%s")

# A fixed piece of SQL text (a keyword, punctuation), made once: statements
# are built from the same few pieces over and over.
keyword = lru_cache(maxsize=512)(pg.SQL)
BINARY_PLACEHOLDER = pg.SQL("%b")


class Frag(pg.Composed):
    """A sequence of composables, like ``psycopg.sql.Composed`` without its
    per-item check: every statement builds hundreds of these, from pieces
    pgbuild made itself."""

    def __init__(self, parts: list[pg.Composable]) -> None:
        self._obj = parts


def join(separator: pg.SQL, items: Iterable[pg.Composable]) -> Frag:
    """``separator.join(items)``, without psycopg's checks."""
    parts: list[pg.Composable] = []
    for item in items:
        if parts:
            parts.append(separator)
        parts.append(item)
    return Frag(parts)


@lru_cache(maxsize=512)
def _template(template: str) -> tuple[pg.SQL, ...]:
    return tuple(pg.SQL(piece) for piece in template.split("{}"))


def fmt(template: str, *args: pg.Composable) -> Frag:
    """``pg.SQL(template).format(*args)`` for ``{}`` placeholders, with the
    template split once and reused (``SQL.format`` parses it on every call)."""
    pieces = _template(template)
    if len(pieces) != len(args) + 1:
        raise ValueError(f"{template!r} takes {len(pieces) - 1} arguments, got {len(args)}")
    parts: list[pg.Composable] = [pieces[0]]
    for arg, piece in zip(args, pieces[1:], strict=True):
        parts += (arg, piece)
    return Frag(parts)


def quote_ident(name: str) -> str:
    """PostgreSQL's quoting of one name (as ``quote_ident``/libpq do: wrap in
    double quotes, double the double quotes), with ``%`` doubled because
    psycopg scans the statement for placeholders without knowing about quotes."""
    if "\x00" in name:
        raise ValueError(f"identifier {name!r} contains a NUL byte")
    return '"' + name.replace('"', '""').replace("%", "%%") + '"'


@lru_cache(maxsize=8192)
def ident(*names: str) -> pg.SQL:
    """A (possibly qualified) quoted identifier. Names are few and repeat in
    every statement, so each is quoted once and the result reused."""
    if not names or not all(names):
        raise ValueError("an identifier needs non-empty names")
    return pg.SQL(".".join(quote_ident(n) for n in names))


class Literal(pg.Literal):
    """A quoted literal (DDL only), with ``%`` doubled like all statement text."""

    def as_bytes(self, context: Any = None) -> bytes:
        return super().as_bytes(context).replace(b"%", b"%%")


def literal_sql(text: str) -> pg.SQL:
    """Trusted SQL text; ``%`` is doubled because queries always carry parameters."""
    return pg.SQL(text.replace("%", "%%"))


class Ctx:
    """Collects bound values while a statement renders.

    ``qualify``: render columns as ``"table"."column"`` (queries) or bare
    (DDL, ``ON CONFLICT`` targets, ``SET`` targets).
    ``inline``: render values as quoted literals instead of parameters; only
    DDL does this, because the server takes no parameters there.
    ``ctes``: the named queries (``WITH``) in scope, referred to by name.
    ``aliases``: tables whose columns render under another name (relational
    queries give each nesting level its own alias).
    """

    __slots__ = ("aliases", "ctes", "inline", "params", "qualify")

    def __init__(self, *, qualify: bool = True, inline: bool = False) -> None:
        self.params: list[Any] = []
        self.qualify = qualify
        self.inline = inline
        self.ctes: tuple[Any, ...] = ()
        self.aliases: Mapping[str, str] = {}

    def unqualified(self) -> Ctx:
        """A context sharing these parameters that renders bare column names."""
        other = self._copy()
        other.qualify = False
        return other

    def rebased(self, aliases: Mapping[str, str]) -> Ctx:
        """A context sharing these parameters that renders the columns of the
        tables in ``aliases`` (table reference → alias) under the alias."""
        other = self._copy()
        other.aliases = {**self.aliases, **aliases}
        return other

    def _copy(self) -> Ctx:
        other = Ctx(qualify=self.qualify, inline=self.inline)
        other.params = self.params
        other.ctes = self.ctes
        other.aliases = self.aliases
        return other

    def param(self, value: Any) -> pg.Composable:
        if self.inline:
            return Literal(value)
        self.params.append(value)
        return PLACEHOLDER

    def binary_param(self, value: Any) -> pg.Composable:
        """A parameter psycopg sends in binary (``%b``): for big arrays of a
        type whose binary form it dumps faster and the server parses faster."""
        if self.inline:
            return Literal(value)
        self.params.append(value)
        return BINARY_PLACEHOLDER


_SQL = pg.SQL
_COMPOSED = (pg.Composed, Frag)


def text_of(statement: pg.Composable) -> str:
    """The statement's text, as ``statement.as_string()`` gives it without a
    connection, but faster: statements are trees of ``SQL`` pieces (names are
    quoted when they are made), which are joined as strings in one pass
    instead of each piece being encoded and the bytes joined level by level."""
    if type(statement) is _SQL:
        return statement._obj
    parts: list[str] = []
    _collect(statement, parts)
    return "".join(parts)


def _collect(node: pg.Composable, parts: list[str]) -> None:
    if type(node) not in _COMPOSED:  # Literal, Identifier, Placeholder: rare
        parts.append(node.as_string(None))
        return
    for child in node._obj:
        kind = type(child)
        if kind is _SQL:
            parts.append(child._obj)
        elif kind in _COMPOSED:
            _collect(child, parts)
        else:
            parts.append(child.as_string(None))


def sql_text(statement: pg.Composable, context: Any = None) -> str:
    """A parameterless statement as plain SQL text (``%%`` back to ``%``)."""
    return statement.as_string(context).replace("%%", "%")


_TYPE_NAME = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?"
    r"( [A-Za-z_][A-Za-z0-9_]*)*(\(\d+(, ?\d+)?\))?( with(out)? time zone)?(\[\])*$"
)


def check_type_name(type_name: str, where: str) -> str:
    """A SQL type name as text (letters, digits, spaces, ``(p, s)``, ``[]``):
    type names are spliced into statements, so nothing else is accepted."""
    if not isinstance(type_name, str) or not _TYPE_NAME.match(type_name):
        from pgbuild.errors import QueryError

        raise QueryError(f"{where}: {type_name!r} is not a type name")
    return type_name
