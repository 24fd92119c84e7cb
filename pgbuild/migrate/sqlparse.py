"""SQL text as tokens and as a parse tree, for the migration tools that
read expressions (normal forms, declared types, ``pull``).

::

    tokenize("lower(email)")[0]        # Token(kind='id', value='lower', start=0, end=5)
    Parser(tokenize("a + 1")).expr()  # ('op', '+', ('col', ('a',)), ('num', '1'))

:func:`tokenize` follows PostgreSQL's lexer; :class:`Parser` reads the
expressions PostgreSQL prints (``pg_get_expr``) and pgbuild renders into
nested tuples (:data:`Node`). Both raise :class:`Unparsable` on anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

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


class Parser:
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
