"""Column types pgbuild does not build in: ``custom_type(...)`` for any named
type (citext, ltree, tsvector, ranges, domains) and pgvector's ``vector(n)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pgbuild.columns import Column
from pgbuild.errors import SchemaError

T = TypeVar("T")
V = TypeVar("V")


@dataclass(frozen=True, slots=True, eq=False)
class CustomType(Generic[T]):
    """A column type pgbuild does not ship; call it to make a column::

        citext = custom_type("citext", python=str, extension="citext")

        class Users(Table, name="users"):
            email = citext().not_null()
    """

    name: str
    dump: Callable[[Any], Any] | None = None
    load: Callable[[Any], Any] | None = None
    extension: str | None = None

    def __call__(self, name: str | None = None) -> Column[T | None]:
        return Column(
            self.name, name=name, dumper=self.dump, loader=self.load, extension=self.extension
        )


def custom_type(
    type_name: str,
    *,
    python: type[V] | None = None,
    dump: Callable[[V], Any] | None = None,
    load: Callable[[Any], V] | None = None,
    extension: str | None = None,
) -> CustomType[V]:
    """Declare a type by name (``citext``, ``ltree``, ``tsvector``, a domain):
    ``python`` is its Python type (for type checkers), ``dump`` turns a Python
    value into something psycopg sends (often ``str``), ``load`` turns what
    psycopg reads (text, for types it does not know) into the Python value;
    ``extension`` is created before tables that use the type."""
    from pgbuild.render import check_type_name

    del python  # only for the type checker
    return CustomType(check_type_name(type_name, "custom_type()"), dump, load, extension)


def _vector_text(value: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in value) + "]"


def _vector_list(value: Any) -> list[float]:
    if isinstance(value, str):
        return [float(v) for v in value.strip("[]").split(",") if v]
    return [float(v) for v in value]


def vector(dimensions: int, *, name: str | None = None) -> Column[list[float] | None]:
    """A pgvector ``vector(dimensions)`` column: any sequence of floats in, a
    list of floats out. Needs the ``vector`` extension (the embedded server
    ships it; it is created before the tables that use it)."""
    if int(dimensions) < 1:
        raise SchemaError("vector() needs a positive number of dimensions")
    return Column(
        f"vector({int(dimensions)})",
        name=name,
        dumper=_vector_text,
        loader=_vector_list,
        extension="vector",
    )
