"""A mypy plugin that types row construction: ``Users(id="u1", email="a@b.c")``.

Enable it in the project's mypy configuration::

    [tool.mypy]
    plugins = ["pgbuild.mypy_plugin"]

A table's constructor then takes its columns as keyword arguments, each typed
as the column's Python type: an unknown column, a value of the wrong type,
or a missing NOT NULL column without a default is a type error.

Why a plugin rather than ``typing.dataclass_transform``: columns are plain
assignments (``email = text().not_null()``), and ``dataclass_transform`` only
sees annotated attributes. The column types are already known to mypy (each
attribute is a ``Column[T]``); what a type cannot say is whether the column
has a default, so that is read from the declaration's modifiers. mypy is
imported only when mypy loads this module: it is no runtime dependency.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.maptype import map_instance_to_supertype
from mypy.nodes import (
    ARG_NAMED,
    ARG_NAMED_OPT,
    AssignmentStmt,
    CallExpr,
    Expression,
    MemberExpr,
    NameExpr,
    TypeInfo,
    Var,
)
from mypy.plugin import ClassDefContext, FunctionSigContext, Plugin
from mypy.types import (
    AnyType,
    FunctionLike,
    Instance,
    NoneType,
    Type,
    TypeOfAny,
    UnionType,
    get_proper_type,
)

TABLE = "pgbuild.table.Table"
COLUMN = "pgbuild.columns.Column"

# Modifiers after which an insert may leave the column out: the database
# (or pgbuild, for default_fn and on_update) fills it.
_FILLED = frozenset(
    {
        "default",
        "default_now",
        "default_sql",
        "default_fn",
        "on_update",
        "on_update_fn",
        "generated_by_default_as_identity",
        "generated_always_as_identity",
    }
)
_SERIALS = frozenset({"serial", "bigserial", "smallserial"})
# Computed by the server and never written: not a constructor argument.
_NEVER_WRITTEN = frozenset({"generated_always_as"})


class PgbuildPlugin(Plugin):
    """Gives each ``Table`` subclass a keyword-only constructor of its columns."""

    def get_base_class_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        return _record_columns if self._is_table(fullname) else None

    def get_function_signature_hook(
        self, fullname: str
    ) -> Callable[[FunctionSigContext], FunctionLike] | None:
        if self._is_table(fullname) and fullname != TABLE:
            return _row_constructor
        return None

    def _is_table(self, fullname: str) -> bool:
        found = self.lookup_fully_qualified(fullname)
        node = found.node if found is not None else None
        return isinstance(node, TypeInfo) and node.has_base(TABLE)


def _record_columns(ctx: ClassDefContext) -> None:
    """While the class's source is at hand (semantic analysis), note which
    assignments are columns an insert may leave out or may not write; kept
    in the class's metadata, which mypy's cache keeps too."""
    columns = []
    for stmt in ctx.cls.defs.body:
        if not (
            isinstance(stmt, AssignmentStmt)
            and len(stmt.lvalues) == 1
            and isinstance(stmt.lvalues[0], NameExpr)
        ):
            continue
        modifiers, factory = _chain(stmt.rvalue)
        filled = bool(modifiers & _FILLED) or factory in _SERIALS
        written = not modifiers & _NEVER_WRITTEN
        columns.append([stmt.lvalues[0].name, filled, written])
    ctx.cls.info.metadata["pgbuild"] = {"columns": columns}


def _row_constructor(ctx: FunctionSigContext) -> FunctionLike:
    signature = get_proper_type(ctx.default_signature.ret_type)
    if not isinstance(signature, Instance):
        return ctx.default_signature
    params: dict[str, tuple[Type, bool]] = {}
    for base in reversed(signature.type.mro):
        for name, filled, written in base.metadata.get("pgbuild", {}).get("columns", []):
            value = _column_type(base, name)
            if value is None:
                continue
            params.pop(name, None)  # redeclared in a subclass: the last one counts
            if written:
                params[name] = value, filled or _nullable(value)
    return ctx.default_signature.copy_modified(
        arg_types=[t for t, _ in params.values()],
        arg_kinds=[ARG_NAMED_OPT if optional else ARG_NAMED for _, optional in params.values()],
        arg_names=list(params),
    )


def _column_type(info: TypeInfo, name: str) -> Type | None:
    """``T`` when ``info.name`` is a ``Column[T]``; ``None`` when it is no column."""
    symbol = info.names.get(name)
    var = symbol.node if symbol is not None else None
    if not isinstance(var, Var):
        return None
    declared = get_proper_type(var.type)
    if declared is None:  # not inferred yet (mypy defers): accept anything
        return AnyType(TypeOfAny.special_form)
    if isinstance(declared, Instance) and declared.type.has_base(COLUMN):
        column_base = next(b for b in declared.type.mro if b.fullname == COLUMN)
        return _column_arg(declared, column_base)
    return None


def _column_arg(declared: Instance, column_base: TypeInfo) -> Type:
    args = map_instance_to_supertype(declared, column_base).args
    return args[0] if args else AnyType(TypeOfAny.special_form)


def _chain(expr: Expression) -> tuple[frozenset[str], str | None]:
    """The method names called on a column (``text().not_null().default(1)``
    → not_null, default) and the factory it starts from (``text``)."""
    methods: set[str] = set()
    while isinstance(expr, CallExpr):
        callee = expr.callee
        if isinstance(callee, MemberExpr) and isinstance(callee.expr, CallExpr):
            methods.add(callee.name)
            expr = callee.expr
            continue
        factory = callee.name if isinstance(callee, NameExpr | MemberExpr) else None
        return frozenset(methods), factory
    return frozenset(methods), None


def _nullable(value: Type) -> bool:
    proper = get_proper_type(value)
    if isinstance(proper, AnyType | NoneType):
        return True
    return isinstance(proper, UnionType) and any(
        isinstance(get_proper_type(item), NoneType) for item in proper.items
    )


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return PgbuildPlugin
