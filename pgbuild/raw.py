"""``sql(...)``: raw SQL templates whose values are always bound parameters.

::

    sql("lower({email}) = {value}", email=Users.email, value="a@b.c")
    sql("'{{}}'::jsonb")            # literal braces are doubled, as in str.format
    sql.raw("now()")               # trusted text, spliced as is
    sql.identifier("app", "users") # a quoted name
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

from pgbuild.errors import QueryError
from pgbuild.expressions import Expr, Param, Raw
from pgbuild.render import Ctx, ident

_formatter = string.Formatter()


class _Identifier(Expr[Any]):
    __slots__ = ("names",)

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def _render(self, ctx: Ctx) -> Any:
        return ident(*self.names)


class SqlTemplate:
    """The ``sql`` object: call it for a template; ``.raw``, ``.identifier``,
    ``.join`` and ``.empty`` are explicit escapes and helpers."""

    def __call__(self, template: str, /, **values: Any) -> Raw[Any]:
        """A raw SQL fragment. Keyword values become bound parameters; a Column or
        another expression is spliced as SQL.

        >>> sql("{c} > {n}", c=Users.age, n=18)
        """
        parts: list[str | Expr[Any]] = []
        used: set[str] = set()
        for text, field, spec, conversion in _formatter.parse(template):
            if text:
                parts.append(text)
            if field is None:
                continue
            if spec or conversion:
                raise QueryError(f"sql(): format specs are not supported in {{{field}}}")
            if field not in values:
                raise QueryError(f"sql(): no value given for {{{field}}} in {template!r}")
            used.add(field)
            value = values[field]
            parts.append(value if isinstance(value, Expr) else Param(value))
        unused = set(values) - used
        if unused:
            raise QueryError(f"sql(): values {sorted(unused)} are not used in {template!r}")
        return Raw(tuple(parts))

    @staticmethod
    def raw(text: str) -> Raw[Any]:
        """Trusted SQL text, spliced as is. Never pass user input here."""
        return Raw((text,))

    @staticmethod
    def identifier(*names: str) -> Expr[Any]:
        """A quoted, possibly qualified, identifier: ``sql.identifier("app", "users")``."""
        if not names or any(not n for n in names):
            raise QueryError("sql.identifier(): names must be non-empty strings")
        return _Identifier(names)

    @staticmethod
    def join(parts: Iterable[Expr[Any]], separator: str = ", ") -> Raw[Any]:
        """Join fragments with a trusted separator: ``sql.join(cols, ", ")``."""
        out: list[str | Expr[Any]] = []
        for i, part in enumerate(parts):
            if i:
                out.append(separator)
            out.append(part)
        return Raw(tuple(out))

    @staticmethod
    def empty() -> Raw[Any]:
        """An empty fragment, for building SQL conditionally."""
        return Raw(())


sql = SqlTemplate()
