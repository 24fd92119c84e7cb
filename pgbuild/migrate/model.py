"""One in-memory model of a database schema, whether declared in Python or
read from a live database.

::

    schema = from_tables([Users, Sessions])        # pgbuild.migrate.declared
    live = introspect(conn)                         # pgbuild.migrate.introspect
    schema == live                                  # nothing to migrate
    Schema.from_json(schema.to_json()) == schema    # snapshots round-trip

Every value is a frozen dataclass; a schema is compared with ``==``.

Names: tables and enums are keyed by their *qualified key*, ``"name"`` in
``public`` and ``"schema.name"`` elsewhere (unquoted). Column types are SQL
text as PostgreSQL's ``format_type`` writes them (``character varying(255)``,
``timestamp with time zone``, ``integer[]``, ``app.status``), identifiers
quoted only where PostgreSQL would quote them.

Expressions (defaults, generated columns, checks, index items and
predicates) are kept as SQL text that can be run as is, and compared by their
*normal form* (:func:`normal_expr`): a parse of the text in which identifier
quoting, parentheses, operator spellings (``LIKE`` / ``~~``, ``IN`` /
``= ANY``, ``BETWEEN``), casts and the spelling of literals (``'-1'::integer``
/ ``-1``, jsonb key order, ``ARRAY[...]`` / ``'{...}'``) do not matter. So
``"qty" >= 0`` as pgbuild declares it equals ``(qty >= 0)`` as the server
reports it. Text the normaliser cannot parse is compared token by token.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal, TypeAlias
from uuid import UUID

Identity = Literal["always", "by default"]
FkAction = Literal["no action", "restrict", "cascade", "set null", "set default"]

# ------------------------------------------------------------------ names

# Keywords that PostgreSQL's quote_ident quotes: every category but
# "unreserved" of pg_get_keywords() (PostgreSQL 18; a test checks the list).
QUOTED_KEYWORDS = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
    boolean both case cast char character check coalesce collate collation column concurrently
    constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user dec decimal default deferrable desc distinct do
    else end except exists extract false fetch float for foreign freeze from full grant greatest
    group grouping having ilike in initially inner inout int integer intersect interval into is
    isnull join json json_array json_arrayagg json_exists json_object json_objectagg json_query
    json_scalar json_serialize json_table json_value lateral leading least left like limit
    localtime localtimestamp merge_action national natural nchar none normalize not notnull null
    nullif numeric offset on only or order out outer overlaps overlay placing position precision
    primary real references returning right row select session_user setof similar smallint some
    substring symmetric system_user table tablesample then time timestamp to trailing treat trim
    true union unique user using values varchar variadic verbose when where window with
    xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot
    xmlserialize xmltable
    """.split()
)
_SAFE_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def quote_ident(name: str) -> str:
    """``name`` as PostgreSQL's ``quote_ident`` writes it: bare when it can be."""
    if _SAFE_IDENT.fullmatch(name) and name not in QUOTED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A standard SQL string literal: ``'it''s'``."""
    return "'" + value.replace("'", "''") + "'"


def qualified_key(schema: str, name: str) -> str:
    """The key of a table or enum: ``name`` in ``public``, else ``schema.name``."""
    return name if schema == "public" else f"{schema}.{name}"


def split_key(key: str) -> tuple[str, str]:
    """``"app.t"`` → ``("app", "t")``; ``"t"`` → ``("public", "t")``."""
    schema, dot, name = key.partition(".")
    return (schema, name) if dot else ("public", key)


def sql_name(schema: str, name: str) -> str:
    """The quoted SQL name of a table or type, qualified outside ``public``."""
    if schema == "public":
        return quote_ident(name)
    return f"{quote_ident(schema)}.{quote_ident(name)}"


# ------------------------------------------------------------------ SQL tokens


class Unparsable(Exception):
    """SQL text the expression normaliser does not understand."""


@dataclass(frozen=True, slots=True)
class Token:
    """One SQL token: ``kind`` is ``str``, ``num``, ``id`` (folded to lower
    case), ``qid`` (quoted identifier), ``op``, ``punct``, ``cast``, ``param``
    or ``bits``; ``value`` is the unescaped text."""

    kind: str
    value: str
    start: int
    end: int


_TOKEN = re.compile(
    r"""
      (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
    | (?P<estr>[eE]'(?:[^'\\]|\\.|'')*')
    | (?P<bits>[bBxX]'[^']*')
    | (?P<str>'(?:[^']|'')*')
    | (?P<dollar>\$(?:[^\W\d]\w*)?\$)
    | (?P<qid>"(?:[^"]|"")*")
    | (?P<num>(?:\d[\d_]*(?:\.(?!\.)\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<param>\$\d+)
    | (?P<id>[^\W\d]\w*)
    | (?P<cast>::)
    | (?P<punct>[(),\[\];.:])
    | (?P<op>[+\-*/<>=~!@\#%^&|`?]+)
    """,
    re.X | re.S,
)
_OP_SPECIAL = set("~!@#%^&|`?")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_E_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)


def _unescape_e(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        s = m.group(1)
        if s[0] in "xuU" and len(s) > 1:
            return chr(int(s[1:], 16))
        if s[0].isdigit():
            return chr(int(s, 8))
        return _ESCAPES.get(s, s)

    return _E_ESCAPE.sub(one, body.replace("''", "'"))


def _op_length(op: str) -> int:
    """PostgreSQL's lexer rules: an operator stops before ``--`` or ``/*``,
    and does not end in ``+`` or ``-`` unless it holds one of ``~!@#%^&|`?``."""
    for marker in ("--", "/*"):
        cut = op.find(marker, 1)
        if cut > 0:
            op = op[:cut]
    if len(op) > 1 and not _OP_SPECIAL.intersection(op):
        while len(op) > 1 and op[-1] in "+-":
            op = op[:-1]
    return len(op)


def tokenize(text: str) -> list[Token]:
    """The tokens of an SQL fragment (comments and whitespace dropped)."""
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise Unparsable(f"unexpected {text[pos]!r} in {text!r}")
        kind = m.lastgroup or ""
        end = m.end()
        value = m.group()
        if kind == "ws":
            pos = end
            continue
        if kind == "estr":
            kind, value = "str", _unescape_e(value[2:-1])
        elif kind == "str":
            value = value[1:-1].replace("''", "'")
        elif kind == "dollar":
            close = text.find(value, end)
            if close < 0:
                raise Unparsable(f"unterminated dollar quote in {text!r}")
            kind, value, end = "str", text[end:close], close + len(value)
        elif kind == "qid":
            value = value[1:-1].replace('""', '"')
        elif kind == "id":
            value = value.lower()
        elif kind == "op":
            end = pos + _op_length(value)
            value = text[pos:end]
        elif kind == "num":
            value = value.replace("_", "")
        out.append(Token(kind, value, pos, end))
        pos = end
    return out


# ------------------------------------------------------------------ expression parser

Node: TypeAlias = tuple[Any, ...]

(_OR, _AND, _NOT, _IS, _CMP, _LIKE, _OP, _ADD, _MUL, _EXP, _AT, _COLLATE, _UNARY, _SUB,
 _CAST) = range(1, 16)
_CMP_OPS = {"<", ">", "=", "<=", ">=", "<>", "!="}
_VALUE_FUNCTIONS = {
    "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
    "current_role", "current_user", "session_user", "user", "current_catalog",
    "current_schema", "system_user",
}
_ARG_KEYWORDS = {"from", "for", "in", "placing", "both", "leading", "trailing", "similar"}
_TYPE_ALIASES = {
    "int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint",
    "float8": "double precision", "float4": "real", "float": "double precision",
    "bool": "boolean", "varchar": "character varying", "char": "character",
    "bpchar": "character", "decimal": "numeric", "dec": "numeric",
    "timestamptz": "timestamp with time zone", "timetz": "time with time zone",
    "timestamp": "timestamp without time zone", "time": "time without time zone",
}
_INTERVAL_FIELDS = {"year", "month", "day", "hour", "minute", "second", "to"}
_NUMERIC_TYPES = {"smallint", "integer", "bigint", "real", "double precision", "numeric", "oid"}


class _Parser:
    """A precedence-climbing parser for the SQL expressions PostgreSQL prints
    (``pg_get_expr``) and pgbuild renders; raises :class:`Unparsable` on
    anything else (subqueries, aggregates...)."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    # -- token access

    def peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise Unparsable("unexpected end of expression")
        self.pos += 1
        return tok

    def word(self, ahead: int = 0) -> str | None:
        tok = self.peek(ahead)
        return tok.value if tok is not None and tok.kind == "id" else None

    def punct(self, ahead: int = 0) -> str | None:
        tok = self.peek(ahead)
        return tok.value if tok is not None and tok.kind in ("punct", "cast") else None

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok.value != value or tok.kind in ("str", "qid"):
            raise Unparsable(f"expected {value!r}, found {tok.value!r}")

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    # -- expressions

    def expr(self, rbp: int = 0) -> Node:
        left = self.prefix()
        while True:
            lbp = self.power()
            if lbp <= rbp:
                return left
            left = self.infix(left, lbp)

    def power(self) -> int:
        tok = self.peek()
        if tok is None:
            return 0
        if tok.kind == "cast":
            return _CAST
        if tok.kind == "punct":
            return {"[": _SUB, ".": _CAST + 1}.get(tok.value, 0)
        if tok.kind == "op":
            if tok.value in ("+", "-"):
                return _ADD
            if tok.value in ("*", "/", "%"):
                return _MUL
            if tok.value == "^":
                return _EXP
            return _CMP if tok.value in _CMP_OPS else _OP
        if tok.kind != "id":
            return 0
        w = tok.value
        if w == "not":
            return _LIKE if self.word(1) in ("like", "ilike", "in", "between", "similar") else 0
        return {
            "and": _AND, "or": _OR, "is": _IS, "isnull": _IS, "notnull": _IS, "like": _LIKE,
            "ilike": _LIKE, "in": _LIKE, "between": _LIKE, "similar": _LIKE, "at": _AT,
            "collate": _COLLATE,
        }.get(w, 0)

    def infix(self, left: Node, lbp: int) -> Node:
        tok = self.take()
        if tok.kind == "cast":
            return ("cast", left, self.type_name())
        if tok.kind == "punct" and tok.value == "[":
            lower = None if self.punct() == ":" else self.expr()
            if self.punct() == ":":
                self.take()
                upper = None if self.punct() == "]" else self.expr()
                self.expect("]")
                return ("slice", left, lower, upper)
            self.expect("]")
            return ("sub", left, lower)
        if tok.kind == "punct" and tok.value == ".":
            name = self.take()
            if name.kind not in ("id", "qid") and name.value != "*":
                raise Unparsable("bad field selection")
            return ("field", left, name.value)
        if tok.kind == "op":
            kind = self.word()
            if kind in ("any", "all", "some") and self.punct(1) == "(":
                self.take()
                self.expect("(")
                inner = self.expr()
                self.expect(")")
                return ("any", tok.value, left, inner, "all" if kind == "all" else "any")
            return ("op", tok.value, left, self.expr(lbp))
        w = tok.value
        if w in ("and", "or"):
            return (w, left, self.expr(lbp))
        if w in ("isnull", "notnull"):
            return ("isnull", left, w == "notnull")
        if w == "is":
            negated = self.word() == "not"
            if negated:
                self.take()
            what = self.take().value
            if what == "null":
                return ("isnull", left, negated)
            if what in ("true", "false", "unknown"):
                return ("istruth", left, what, negated)
            if what == "distinct":
                self.expect("from")
                return ("distinct", left, self.expr(_IS), negated)
            raise Unparsable(f"IS {what}")
        negated = w == "not"
        if negated:
            w = self.take().value
        if w in ("like", "ilike"):
            right = self.expr(_LIKE)
            escape = self.escape()
            return ("like", w, left, right, negated, escape)
        if w == "similar":
            self.expect("to")
            right = self.expr(_LIKE)
            return ("similar", left, right, negated, self.escape())
        if w == "in":
            self.expect("(")
            if self.word() in ("select", "values", "with"):
                raise Unparsable("subquery")
            items = self.items(")")
            return ("in", left, items, negated)
        if w == "between":
            symmetric = self.word() == "symmetric"
            if self.word() in ("symmetric", "asymmetric"):
                self.take()
            low = self.expr(_LIKE)
            self.expect("and")
            return ("between", left, low, self.expr(_LIKE), negated, symmetric)
        if w == "at":
            if self.word() == "local":
                self.take()
                return ("atlocal", left)
            self.expect("time")
            self.expect("zone")
            return ("at", left, self.expr(_AT))
        if w == "collate":
            return ("collate", left, self.name())
        raise Unparsable(f"unexpected {w!r}")

    def escape(self) -> Node | None:
        if self.word() != "escape":
            return None
        self.take()
        return self.expr(_LIKE)

    def items(self, close: str) -> tuple[Node, ...]:
        out: list[Node] = []
        if self.punct() == close:
            self.take()
            return ()
        while True:
            out.append(self.expr())
            sep = self.take()
            if sep.value == close and sep.kind == "punct":
                return tuple(out)
            if sep.value != "," or sep.kind != "punct":
                raise Unparsable(f"expected ',' or {close!r}")

    def name(self) -> tuple[str, ...]:
        parts = [self.ident()]
        while self.punct() == "." and self.peek(1) is not None:
            self.take()
            parts.append(self.ident())
        return tuple(parts)

    def ident(self) -> str:
        tok = self.take()
        if tok.kind not in ("id", "qid"):
            raise Unparsable(f"expected a name, found {tok.value!r}")
        return tok.value

    def prefix(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return ("num", canon_number(tok.value))
        if tok.kind == "str":
            return ("str", tok.value)
        if tok.kind in ("bits", "param"):
            return (tok.kind, tok.value)
        if tok.kind == "punct" and tok.value == "(":
            if self.word() in ("select", "values", "with"):
                raise Unparsable("subquery")
            inner = self.items(")")
            return inner[0] if len(inner) == 1 else ("row", inner)
        if tok.kind == "op":
            if tok.value in ("-", "+"):
                operand = self.expr(_UNARY)
                return ("neg", operand) if tok.value == "-" else operand
            return ("pre", tok.value, self.expr(_OP))
        if tok.kind == "qid":
            self.pos -= 1
            return self.reference()
        if tok.kind != "id":
            raise Unparsable(f"unexpected {tok.value!r}")
        w = tok.value
        if w == "not":
            return ("not", self.expr(_NOT))
        if w in ("true", "false"):
            return ("bool", w == "true")
        if w == "null":
            return ("null",)
        if w == "case":
            return self.case()
        if w == "array" and self.punct() == "[":
            return self.array()
        if w == "row" and self.punct() == "(":
            self.take()
            return ("row", self.items(")"))
        if w == "cast" and self.punct() == "(":
            self.take()
            inner = self.expr()
            self.expect("as")
            type_name = self.type_name()
            self.expect(")")
            return ("cast", inner, type_name)
        if w in ("exists", "select", "array"):
            raise Unparsable(w)
        if w in _VALUE_FUNCTIONS and self.punct() != "(":
            return ("kw", w)
        if w in _VALUE_FUNCTIONS and w.startswith(("current_t", "local")):
            self.take()
            precision = self.take().value
            self.expect(")")
            return ("kw", w, precision)
        self.pos -= 1
        typed = self.typed_literal()
        return typed if typed is not None else self.reference()

    def typed_literal(self) -> Node | None:
        """``date '2024-01-01'``, ``interval '1 day'``, ``app.mood 'ok'``."""
        start = self.pos
        try:
            type_name = self.type_name()
            tok = self.peek()
            if tok is not None and tok.kind == "str" and self.pos > start:
                self.take()
                return ("cast", ("str", tok.value), type_name)
        except Unparsable:
            pass
        self.pos = start
        return None

    def reference(self) -> Node:
        parts = self.name()
        if self.punct() != "(":
            return ("col", parts)
        self.take()
        func = parts[1:] if len(parts) > 1 and parts[0] in ("pg_catalog", "public") else parts
        star = self.peek()
        if star is not None and star.kind == "op" and star.value == "*":
            self.take()
            self.expect(")")
            return ("call", func, ("*",))
        args: list[Node] = []
        rbp = _LIKE if func == ("position",) else 0
        while True:
            if self.punct() == ")":
                self.take()
                break
            if self.punct() == ",":
                self.take()
                continue
            w = self.word()
            if w in ("distinct", "order", "variadic", "all"):
                raise Unparsable(w)
            if w in _ARG_KEYWORDS:
                self.take()
                args.append(("kwarg", w))
                continue
            args.append(self.expr(rbp))
        if self.word() in ("filter", "over", "within"):
            raise Unparsable("aggregate")
        return ("call", func, tuple(args))

    def case(self) -> Node:
        subject = None if self.word() == "when" else self.expr()
        whens: list[tuple[Node, Node]] = []
        while self.word() == "when":
            self.take()
            cond = self.expr()
            self.expect("then")
            whens.append((cond, self.expr()))
        otherwise = None
        if self.word() == "else":
            self.take()
            otherwise = self.expr()
        self.expect("end")
        return ("case", subject, tuple(whens), otherwise)

    def array(self) -> Node:
        self.expect("[")
        out: list[Node] = []
        while self.punct() != "]":
            out.append(self.array() if self.punct() == "[" else self.expr())
            if self.punct() == ",":
                self.take()
        self.take()
        return ("array", tuple(out))

    def type_name(self) -> str:
        """A type name after ``::`` or ``AS``, canonical: ``character varying(10)[]``."""
        tok = self.take()
        if tok.kind not in ("id", "qid"):
            raise Unparsable("expected a type name")
        w = tok.value
        if tok.kind == "qid" or self.punct() == ".":
            words = [w]
            while self.punct() == ".":
                self.take()
                words.append(self.ident())
            base = ".".join(words) + self.typmod()
        elif w in ("timestamp", "time", "timestamptz", "timetz"):
            stem = "timestamp" if w.startswith("timestamp") else "time"
            mods = self.typmod()
            zone = "with" if w.endswith("tz") else "without"
            if self.word() in ("with", "without"):
                zone = self.take().value
                self.expect("time")
                self.expect("zone")
            base = f"{stem}{mods} {zone} time zone"
        else:
            name = w
            if w == "double" and self.word() == "precision":
                self.take()
                name = "double precision"
            elif w in ("character", "char", "national", "nchar", "bit", "varchar"):
                if w == "national":
                    name = self.take().value
                if self.word() == "varying":
                    self.take()
                    name = "bit varying" if name == "bit" else "character varying"
            elif w == "interval":
                while self.word() in _INTERVAL_FIELDS:
                    name += " " + self.take().value
            base = _TYPE_ALIASES.get(name, name) + self.typmod()
        while self.punct() == "[" or self.word() == "array":
            if self.take().value == "[":
                self._until("]")
            base += "[]"
        return base

    def typmod(self) -> str:
        if self.punct() != "(":
            return ""
        self.take()
        return "(" + ",".join(t.value for t in self._until(")") if t.value != ",") + ")"

    def _until(self, close: str) -> list[Token]:
        out: list[Token] = []
        while True:
            tok = self.take()
            if tok.kind == "punct" and tok.value == close:
                return out
            out.append(tok)


# ------------------------------------------------------------------ normal forms


def canon_number(text: str) -> str:
    """A number's canonical text: ``1e2``, ``100`` and ``100.00`` → ``100``."""
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        return text.strip()
    if not value.is_finite():
        return str(value)
    value = value.normalize()
    return "0" if value.is_zero() else format(value, "f")


def _json_text(value: Any) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}: {_json_text(v)}" for k, v in sorted(value.items()))
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return canon_number(str(value))
    return json.dumps(value)


def _parse_array(text: str, element: Callable[[str], Node]) -> Node:
    """A PostgreSQL array literal (``{a,"b c",NULL,{1,2}}``) as an array node."""
    pos = 0

    def parse() -> Node:
        nonlocal pos
        if text[pos] != "{":
            raise Unparsable("not an array literal")
        pos += 1
        items: list[Node] = []
        while True:
            while text[pos].isspace():
                pos += 1
            ch = text[pos]
            if ch == "}":
                pos += 1
                return ("array", tuple(items))
            if ch == ",":
                pos += 1
                continue
            if ch == "{":
                items.append(parse())
            elif ch == '"':
                pos += 1
                buf = []
                while text[pos] != '"':
                    if text[pos] == "\\":
                        pos += 1
                    buf.append(text[pos])
                    pos += 1
                pos += 1
                items.append(element("".join(buf)))
            else:
                start = pos
                while text[pos] not in ",}":
                    pos += 1
                raw = text[start:pos].strip()
                items.append(("null",) if raw.upper() == "NULL" else element(raw))

    try:
        text = text.strip()
        if text.startswith("["):  # explicit bounds: [1:2]={...}
            text = text.partition("=")[2].strip()
        return parse() if text.endswith("}") else ("str", text)
    except IndexError as exc:
        raise Unparsable("bad array literal") from exc


def _interval(text: str) -> Node:
    months = days = 0
    micros = 0
    units = {"year": 12, "years": 12, "mon": 1, "mons": 1, "month": 1, "months": 1}
    rest = text.strip()
    for number, unit in re.findall(r"([+-]?\d+)\s+(years?|mons?|months?|days?)\b", rest):
        if unit.startswith("day"):
            days += int(number)
        else:
            months += int(number) * units[unit]
    rest = re.sub(r"([+-]?\d+)\s+(years?|mons?|months?|days?)\b,?", "", rest).strip()
    if rest:
        m = re.fullmatch(r"([+-]?)(\d+):(\d\d)(?::(\d\d(?:\.\d+)?))?", rest)
        if m is None:
            raise Unparsable("interval")
        sign = -1 if m.group(1) == "-" else 1
        seconds = Decimal(m.group(4) or 0)
        total = (int(m.group(2)) * 3600 + int(m.group(3)) * 60) * 10**6 + int(seconds * 10**6)
        micros = sign * total
    return ("interval", months, days, micros)


def _bytea(text: str) -> bytes:
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 2] == "\\":
            out.append(92)
            i += 2
        elif text[i] == "\\":
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
        else:
            out += text[i].encode()
            i += 1
    return bytes(out)


def _typed_literal(text: str, type_name: str) -> Node:
    """A literal's value in a form where equal values of the type compare equal."""
    base = type_name.split("(")[0]
    try:
        if type_name.endswith("[]"):
            element = type_name[:-2]
            return _parse_array(text, lambda s: _array_element(_typed_literal(s, element)))
        if base in _NUMERIC_TYPES:
            Decimal(text.strip())
            return ("num", canon_number(text))
        if base == "boolean":
            return ("bool", text.strip().lower() in ("t", "true", "y", "yes", "on", "1"))
        if base in ("json", "jsonb"):
            return ("json", _json_text(json.loads(text, parse_float=Decimal, parse_int=Decimal)))
        if base == "uuid":
            return ("str", str(UUID(text)))
        if base == "bytea":
            return ("bytes", _bytea(text).hex())
        if base.startswith("timestamp"):
            moment = datetime.fromisoformat(text.strip())
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC)
            return ("str", moment.isoformat())
        if base == "date":
            return ("str", date.fromisoformat(text.strip()).isoformat())
        if base.startswith("time "):
            return ("str", time.fromisoformat(text.strip()).isoformat())
        if base.startswith("interval"):
            return _interval(text)
    except (ValueError, InvalidOperation, Unparsable, IndexError):
        pass
    return ("str", text)


def _array_element(node: Node) -> Node:
    return ("str", node[1]) if node[0] == "num" else node


def _flatten(tag: str, items: Sequence[Node]) -> Node:
    out: list[Node] = []
    for item in items:
        out.extend(item[1:] if item[0] == tag else (item,))
    return (tag, *out)


def _canon(n: Node | None) -> Any:
    """Rewrite a parse into its normal form (see the module docstring)."""
    if n is None:
        return None
    tag = n[0]
    if tag in ("num", "str", "bool", "null", "bits", "param", "kw", "col", "kwarg", "json"):
        return n
    if tag == "neg":
        inner = _canon(n[1])
        if inner[0] == "num":
            return ("num", canon_number("-" + inner[1]))
        return ("pre", "-", inner)
    if tag == "pre":
        return ("pre", n[1], _canon(n[2]))
    if tag == "op":
        return ("op", "<>" if n[1] == "!=" else n[1], _canon(n[2]), _canon(n[3]))
    if tag == "any":
        right = _canon(n[3])
        if right[0] == "str":
            right = _typed_literal(right[1], "text[]")
        return ("any", "<>" if n[1] == "!=" else n[1], _canon(n[2]), right, n[4])
    if tag in ("and", "or"):
        return _flatten(tag, [_canon(x) for x in n[1:]])
    if tag == "not":
        return ("not", _canon(n[1]))
    if tag == "isnull":
        return ("isnull", _canon(n[1]), n[2])
    if tag == "istruth":
        return ("istruth", _canon(n[1]), n[2], n[3])
    if tag == "distinct":
        return ("distinct", _canon(n[1]), _canon(n[2]), n[3])
    if tag == "like":
        _, kind, left, right, negated, escape = n
        if escape is None:
            op = ("!" if negated else "") + ("~~" if kind == "like" else "~~*")
            return ("op", op, _canon(left), _canon(right))
        return ("like", kind, _canon(left), _canon(right), negated, _canon(escape))
    if tag == "similar":
        return ("similar", _canon(n[1]), _canon(n[2]), n[3], _canon(n[4]))
    if tag == "in":
        array = ("array", tuple(_array_element(_canon(x)) for x in n[2]))
        return ("any", "<>" if n[3] else "=", _canon(n[1]), array, "all" if n[3] else "any")
    if tag == "between":
        _, item, low, high, negated, symmetric = n
        if symmetric:
            return ("between", _canon(item), _canon(low), _canon(high), negated, True)
        item, low, high = _canon(item), _canon(low), _canon(high)
        if negated:
            return ("or", ("op", "<", item, low), ("op", ">", item, high))
        return ("and", ("op", ">=", item, low), ("op", "<=", item, high))
    if tag == "cast":
        inner = _canon(n[1])
        if inner[0] == "str":
            return _typed_literal(inner[1], n[2])
        return inner
    if tag == "call":
        return ("call", n[1], tuple(_canon(a) if isinstance(a, tuple) else a for a in n[2]))
    if tag == "array":
        return ("array", tuple(_array_element(_canon(x)) for x in n[1]))
    if tag == "row":
        return ("row", tuple(_canon(x) for x in n[1]))
    if tag == "case":
        whens = tuple((_canon(c), _canon(r)) for c, r in n[2])
        return ("case", _canon(n[1]), whens, _canon(n[3]))
    if tag in ("sub", "at"):
        return (tag, _canon(n[1]), _canon(n[2]))
    if tag == "slice":
        return (tag, _canon(n[1]), _canon(n[2]), _canon(n[3]))
    if tag in ("field", "collate"):
        return (tag, _canon(n[1]), n[2])
    if tag == "atlocal":
        return (tag, _canon(n[1]))
    raise Unparsable(f"no normal form for {tag}")


def _token_key(tokens: Sequence[Token]) -> str:
    """The fallback normal form: the tokens, names unquoted, case folded."""
    return repr(tuple(("id" if t.kind == "qid" else t.kind, t.value) for t in tokens))


@lru_cache(maxsize=4096)
def normal_expr(text: str | None) -> str | None:
    """The normal form of an SQL expression, for comparisons (see module docstring)::

        normal_expr('"qty" >= 0') == normal_expr("(qty >= 0)")
    """
    if text is None:
        return None
    try:
        tokens = tokenize(text)
    except Unparsable:
        return " ".join(text.split())
    try:
        parser = _Parser(tokens)
        node = parser.expr()
        if not parser.at_end():
            raise Unparsable("trailing text")
        return repr(_canon(node))
    except (Unparsable, IndexError, RecursionError):
        return _token_key(tokens)


# Operator classes that are the default for their type and index method
# (pg_opclass.opcdefault): PostgreSQL 18's own and those of the extensions it
# ships with pgvector (a test checks the list against the server). The server
# leaves a default one out of an index definition, so an item that names one
# compares equal to the same item without it.
DEFAULT_OPCLASSES: dict[str, frozenset[str]] = {
    method: frozenset(names.split())
    for method, names in {
    "brin": """
        bit_minmax_ops box_inclusion_ops bpchar_minmax_ops bytea_minmax_ops
        char_minmax_ops date_minmax_ops float4_minmax_ops float8_minmax_ops
        inet_inclusion_ops int2_minmax_ops int4_minmax_ops int8_minmax_ops
        interval_minmax_ops macaddr8_minmax_ops macaddr_minmax_ops name_minmax_ops
        numeric_minmax_ops oid_minmax_ops pg_lsn_minmax_ops range_inclusion_ops
        text_minmax_ops tid_minmax_ops time_minmax_ops timestamp_minmax_ops
        timestamptz_minmax_ops timetz_minmax_ops uuid_minmax_ops varbit_minmax_ops
    """,
    "btree": """
        array_ops bit_ops bool_ops bpchar_ops btree_hstore_ops bytea_ops char_ops
        citext_ops cube_ops date_ops ean13_ops enum_ops float4_ops float8_ops
        halfvec_ops inet_ops int2_ops int4_ops int8_ops interval_ops isbn13_ops isbn_ops
        ismn13_ops ismn_ops issn13_ops issn_ops jsonb_ops ltree_ops macaddr8_ops
        macaddr_ops money_ops multirange_ops name_ops numeric_ops oid_ops oidvector_ops
        pg_lsn_ops range_ops record_ops seg_ops sparsevec_ops text_ops tid_ops time_ops
        timestamp_ops timestamptz_ops timetz_ops tsquery_ops tsvector_ops upc_ops
        uuid_ops varbit_ops vector_ops xid8_ops
    """,
    "gin": """
        array_ops bit_ops bool_ops bpchar_ops bytea_ops char_ops cidr_ops date_ops
        enum_ops float4_ops float8_ops gin_hstore_ops inet_ops int2_ops int4_ops
        int8_ops interval_ops jsonb_ops macaddr8_ops macaddr_ops money_ops name_ops
        numeric_ops oid_ops text_ops time_ops timestamp_ops timestamptz_ops timetz_ops
        tsvector_ops uuid_ops varbit_ops varchar_ops
    """,
    "gist": """
        box_ops circle_ops gist__int_ops gist__ltree_ops gist_bit_ops gist_bool_ops
        gist_bpchar_ops gist_bytea_ops gist_cash_ops gist_cidr_ops gist_cube_ops
        gist_date_ops gist_enum_ops gist_float4_ops gist_float8_ops gist_hstore_ops
        gist_inet_ops gist_int2_ops gist_int4_ops gist_int8_ops gist_interval_ops
        gist_ltree_ops gist_macaddr8_ops gist_macaddr_ops gist_numeric_ops gist_oid_ops
        gist_seg_ops gist_text_ops gist_time_ops gist_timestamp_ops gist_timestamptz_ops
        gist_timetz_ops gist_uuid_ops gist_vbit_ops multirange_ops point_ops poly_ops
        range_ops tsquery_ops tsvector_ops
    """,
    "hash": """
        aclitem_ops array_ops bool_ops bpchar_ops bytea_ops char_ops cid_ops citext_ops
        date_ops ean13_ops enum_ops float4_ops float8_ops hash_hstore_ops hash_ltree_ops
        inet_ops int2_ops int4_ops int8_ops interval_ops isbn13_ops isbn_ops ismn13_ops
        ismn_ops issn13_ops issn_ops jsonb_ops macaddr8_ops macaddr_ops multirange_ops
        name_ops numeric_ops oid_ops oidvector_ops pg_lsn_ops range_ops record_ops
        text_ops tid_ops time_ops timestamp_ops timestamptz_ops timetz_ops upc_ops
        uuid_ops xid8_ops xid_ops
    """,
    "ivfflat": """
        vector_l2_ops
    """,
    "spgist": """
        box_ops inet_ops poly_ops quad_point_ops range_ops text_ops
    """,
    }.items()
}


@lru_cache(maxsize=4096)
def normal_index_item(text: str, method: str = "btree") -> str:
    """The normal form of one index item: an expression, then an optional
    operator class (none when it is the ``method``'s default, see
    :data:`DEFAULT_OPCLASSES`), ``ASC``/``DESC`` and ``NULLS FIRST``/``LAST``."""
    try:
        tokens = tokenize(text)
    except Unparsable:
        return " ".join(text.split())
    try:
        parser = _Parser(tokens)
        node = _canon(parser.expr())
        opclass: tuple[str, ...] | None = None
        if not parser.at_end() and parser.word() not in ("asc", "desc", "nulls"):
            opclass = parser.name()
            if opclass[0] == "pg_catalog":
                opclass = opclass[1:]
            if len(opclass) == 1 and opclass[0] in DEFAULT_OPCLASSES.get(method, ()):
                opclass = None
        descending = parser.word() == "desc"
        if parser.word() in ("asc", "desc"):
            parser.take()
        nulls_first = descending
        if parser.word() == "nulls":
            parser.take()
            nulls_first = parser.take().value == "first"
        if not parser.at_end():
            raise Unparsable("trailing text")
        return repr((node, opclass, descending, nulls_first))
    except (Unparsable, IndexError, RecursionError):
        return _token_key(tokens)


def identifiers_in(text: str | None) -> set[str]:
    """The names an expression mentions (columns and more; never types)."""
    if text is None:
        return set()
    try:
        tokens = tokenize(text)
    except Unparsable:
        return set()
    out: set[str] = set()
    for i, tok in enumerate(tokens):
        if tok.kind not in ("id", "qid"):
            continue
        if i and tokens[i - 1].kind == "cast":
            continue
        out.add(tok.value)
    return out


def rewrite_expr(
    text: str | None,
    columns: Mapping[str, str] | None = None,
    types: Mapping[str, str] | None = None,
) -> str | None:
    """``text`` with renamed columns (``old → new``) and types (key → SQL
    name), as the server would print it after ``RENAME``."""
    if text is None or not (columns or types):
        return text
    try:
        tokens = tokenize(text)
    except Unparsable:
        return text
    out: list[str] = []
    last = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if types and prev is not None and prev.kind == "cast" and tok.kind in ("id", "qid"):
            parts = [tok.value]
            end_index = i
            if nxt is not None and nxt.value == "." and nxt.kind == "punct" and i + 2 < len(tokens):
                parts.append(tokens[i + 2].value)
                end_index = i + 2
            key = parts[0] if len(parts) == 1 else qualified_key(parts[0], parts[1])
            if key in types:
                out += [text[last : tok.start], types[key]]
                last = tokens[end_index].end
                i = end_index + 1
                continue
        elif (
            columns
            and tok.kind in ("id", "qid")
            and tok.value in columns
            and (prev is None or (prev.kind != "cast" and prev.value != "."))
            and (nxt is None or nxt.value not in ("(", "."))
        ):
            out += [text[last : tok.start], quote_ident(columns[tok.value])]
            last = tok.end
        i += 1
    out.append(text[last:])
    return "".join(out)


# ------------------------------------------------------------------ the model


def _derived(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Enum:
    """An enum type: ``Enum("public", "mood", ("sad", "ok", "happy"))``."""

    schema: str
    name: str
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        return qualified_key(self.schema, self.name)

    @property
    def sql_name(self) -> str:
        """The type's name in SQL and in column types (``mood``, ``app.status``)."""
        return sql_name(self.schema, self.name)


@dataclass(frozen=True)
class Column:
    """A column. ``default`` and ``generated`` are SQL text, compared by
    their normal form; ``identity`` columns have no default, and their
    sequence's ``identity_start`` and ``identity_increment`` (None where
    PostgreSQL's default); ``virtual`` marks a generated column that is not
    stored (PostgreSQL 18)."""

    name: str
    type: str
    not_null: bool = False
    default: str | None = field(default=None, compare=False)
    identity: Identity | None = None
    generated: str | None = field(default=None, compare=False)
    virtual: bool = False
    identity_start: int | None = None
    identity_increment: int | None = None
    default_key: str | None = field(init=False, repr=False, default=None)
    generated_key: str | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        _derived(self, "default_key", normal_expr(self.default))
        _derived(self, "generated_key", normal_expr(self.generated))
        start, increment = identity_options(
            self.identity_start if self.identity else None,
            self.identity_increment if self.identity else None,
        )
        _derived(self, "identity_start", start)
        _derived(self, "identity_increment", increment)


def identity_options(start: int | None, increment: int | None) -> tuple[int | None, int | None]:
    """An identity's START and INCREMENT, None where they are PostgreSQL's
    defaults (increment 1; start 1 ascending, -1 descending)."""
    step = 1 if increment is None else increment
    first = (1 if step > 0 else -1) if start is None else start
    return (None if first == (1 if step > 0 else -1) else first), (None if step == 1 else step)


@dataclass(frozen=True)
class PrimaryKey:
    name: str
    columns: tuple[str, ...]
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` reference ``ref_columns`` of the table keyed ``ref_table``."""

    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: FkAction = "no action"
    on_update: FkAction = "no action"
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass(frozen=True)
class Unique:
    name: str
    columns: tuple[str, ...]
    nulls_not_distinct: bool = False
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass(frozen=True)
class Check:
    """A check constraint; ``expression`` is compared by its normal form."""

    name: str
    expression: str = field(compare=False)
    expression_key: str | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        _derived(self, "expression_key", normal_expr(self.expression))


@dataclass(frozen=True)
class Exclude:
    """An exclusion constraint, as ``pg_get_constraintdef`` writes it
    (``EXCLUDE USING gist (c WITH &&)``); only read from databases."""

    name: str
    definition: str


@dataclass(frozen=True)
class Index:
    """An index that backs no constraint. ``columns`` are its items as SQL
    text (a column, or an expression, with an optional operator class and
    ordering); ``predicate`` makes it partial."""

    name: str
    columns: tuple[str, ...] = field(compare=False)
    unique: bool = False
    method: str = "btree"
    predicate: str | None = field(default=None, compare=False)
    include: tuple[str, ...] = ()
    nulls_not_distinct: bool = False
    columns_key: tuple[str, ...] = field(init=False, repr=False, default=())
    predicate_key: str | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        _derived(self, "columns_key",
                 tuple(normal_index_item(c, self.method) for c in self.columns))
        _derived(self, "predicate_key", normal_expr(self.predicate))


Constraint: TypeAlias = PrimaryKey | ForeignKey | Unique | Check | Exclude


@dataclass(frozen=True)
class Table:
    """A table: columns in their order (compared regardless of order),
    constraints and indexes (kept sorted by name)."""

    schema: str
    name: str
    columns: tuple[Column, ...] = field(compare=False)
    primary_key: PrimaryKey | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    uniques: tuple[Unique, ...] = ()
    checks: tuple[Check, ...] = ()
    excludes: tuple[Exclude, ...] = ()
    indexes: tuple[Index, ...] = ()
    columns_by_name: tuple[Column, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        _derived(self, "columns_by_name", tuple(sorted(self.columns, key=lambda c: c.name)))
        for name in ("foreign_keys", "uniques", "checks", "excludes", "indexes"):
            _derived(self, name, tuple(sorted(getattr(self, name), key=lambda c: c.name)))

    @property
    def key(self) -> str:
        return qualified_key(self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return sql_name(self.schema, self.name)

    def column(self, name: str) -> Column | None:
        """The column called ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)

    def constraints(self) -> tuple[Constraint, ...]:
        """Every constraint: primary key, uniques, checks, exclusions, foreign keys."""
        pk: tuple[Constraint, ...] = (self.primary_key,) if self.primary_key else ()
        return pk + self.uniques + self.checks + self.excludes + self.foreign_keys


@dataclass(frozen=True)
class Schema:
    """A database schema: schema names, enums and tables by qualified key,
    and the names of the extensions it needs.

    ``drop_extensions`` are extensions declared dropped
    (``drop_extension("ltree")``): the differ drops them where they exist,
    and never drops any other. Only a declared schema has them, so they do
    not take part in comparisons."""

    schemas: frozenset[str] = frozenset()
    enums: Mapping[str, Enum] = field(default_factory=dict)
    tables: Mapping[str, Table] = field(default_factory=dict)
    extensions: frozenset[str] = frozenset()
    drop_extensions: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        _derived(self, "schemas", frozenset(self.schemas))
        _derived(self, "extensions", frozenset(self.extensions))
        _derived(self, "drop_extensions", frozenset(self.drop_extensions))
        _derived(self, "enums", dict(sorted(self.enums.items())))
        _derived(self, "tables", dict(sorted(self.tables.items())))

    def enum_of_type(self, type_sql: str) -> Enum | None:
        """The enum a column type (``mood``, ``app.status[]``) is made of, or None."""
        base = type_sql.split("[", 1)[0]
        return next((e for e in self.enums.values() if e.sql_name == base), None)

    def filter(
        self, schemas: Sequence[str] | None = None, tables: Sequence[str] | None = None
    ) -> Schema:
        """Only the given schemas, and tables matching a glob pattern
        (``"app_*"``, matched against a table's name and its key).

        With ``tables`` patterns, an enum stays when a table kept uses it,
        or when its name matches a pattern and no table left out uses it:
        a type that only tables outside the filter use is never managed
        (so never dropped)."""

        def keep_schema(name: str) -> bool:
            return schemas is None or name in schemas

        def matches(name: str, key: str) -> bool:
            assert tables is not None
            return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(key, p)
                       for p in tables)

        def keep_table(t: Table) -> bool:
            return keep_schema(t.schema) and (tables is None or matches(t.name, t.key))

        kept = {k: t for k, t in self.tables.items() if keep_table(t)}
        left_out = [t for k, t in self.tables.items() if k not in kept]

        def uses(t: Table, e: Enum) -> bool:
            return any(c.type.split("[", 1)[0] == e.sql_name for c in t.columns)

        def keep_enum(e: Enum) -> bool:
            if not keep_schema(e.schema):
                return False
            if tables is None or any(uses(t, e) for t in kept.values()):
                return True
            return matches(e.name, e.key) and not any(uses(t, e) for t in left_out)

        return Schema(
            frozenset(s for s in self.schemas if keep_schema(s)),
            {k: e for k, e in self.enums.items() if keep_enum(e)},
            kept,
            self.extensions,
            self.drop_extensions,
        )

    # -- JSON snapshots

    def to_json(self) -> str:
        """The schema as stable, sorted, indented JSON (for snapshots)."""
        doc = {
            "format": "pgbuild-schema/1",
            "schemas": sorted(self.schemas),
            "extensions": sorted(self.extensions),
            "enums": {k: _to_dict(e) for k, e in self.enums.items()},
            "tables": {k: _to_dict(t) for k, t in self.tables.items()},
        }
        if self.drop_extensions:
            doc["drop_extensions"] = sorted(self.drop_extensions)
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @staticmethod
    def from_json(text: str) -> Schema:
        """The schema :meth:`to_json` wrote."""
        doc = json.loads(text)
        if doc.get("format") != "pgbuild-schema/1":
            raise ValueError(f"not a pgbuild schema snapshot (format {doc.get('format')!r})")
        return Schema(
            frozenset(doc["schemas"]),
            {k: _from_dict(Enum, v) for k, v in doc["enums"].items()},
            {k: _table_from_dict(v) for k, v in doc["tables"].items()},
            frozenset(doc.get("extensions", ())),
            frozenset(doc.get("drop_extensions", ())),
        )


def _to_dict(obj: Any) -> Any:
    """A dataclass as a dict without derived fields and without fields at
    their default value (so snapshots stay short and diffs small)."""
    if isinstance(obj, tuple):
        return [_to_dict(x) for x in obj]
    if not hasattr(obj, "__dataclass_fields__"):
        return obj
    out: dict[str, Any] = {}
    for f in fields(obj):
        if not f.init:
            continue
        value = getattr(obj, f.name)
        if f.default is not MISSING and value == f.default:
            continue
        if f.default_factory is not MISSING and value == f.default_factory():
            continue
        out[f.name] = _to_dict(value)
    return out


def _from_dict(cls: Any, data: Mapping[str, Any]) -> Any:
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**kwargs)


def _table_from_dict(data: Mapping[str, Any]) -> Table:
    pk = data.get("primary_key")
    return Table(
        data["schema"],
        data["name"],
        tuple(_from_dict(Column, c) for c in data["columns"]),
        _from_dict(PrimaryKey, pk) if pk else None,
        tuple(_from_dict(ForeignKey, c) for c in data.get("foreign_keys", ())),
        tuple(_from_dict(Unique, c) for c in data.get("uniques", ())),
        tuple(_from_dict(Check, c) for c in data.get("checks", ())),
        tuple(_from_dict(Exclude, c) for c in data.get("excludes", ())),
        tuple(_from_dict(Index, c) for c in data.get("indexes", ())),
    )
