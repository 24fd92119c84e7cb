"""Normal forms of SQL expressions: text that PostgreSQL would read the same
way compares equal.

::

    normal_expr('"qty" >= 0') == normal_expr("(qty >= 0)")

A normal form is a parse of the text (:mod:`pgbuild.migrate.sqlparse`) in
which identifier quoting, parentheses, operator spellings (``LIKE`` / ``~~``,
``IN`` / ``= ANY``, ``BETWEEN``), casts and the spelling of literals
(``'-1'::integer`` / ``-1``, jsonb key order, ``ARRAY[...]`` / ``'{...}'``)
do not matter. Text the normaliser cannot parse is compared token by token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from uuid import UUID

from pgbuild.migrate.sqlparse import Node, Parser, Token, Unparsable, canon_number, tokenize


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


_NUMERIC_TYPES = {"smallint", "integer", "bigint", "real", "double precision", "numeric", "oid"}


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
    return _normal_form(text, _whole_expr)


def _whole_expr(parser: Parser) -> Any:
    node = parser.expr()
    if not parser.at_end():
        raise Unparsable("trailing text")
    return _canon(node)


def _normal_form(text: str, read: Callable[[Parser], Any]) -> str:
    """``repr(read(parser))`` over the tokens of ``text``: text that does not
    tokenize compares by its words, text ``read`` cannot parse token by token."""
    try:
        tokens = tokenize(text)
    except Unparsable:
        return " ".join(text.split())
    try:
        return repr(read(Parser(tokens)))
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
    return _normal_form(text, lambda parser: _index_item(parser, method))


def _index_item(parser: Parser, method: str) -> Any:
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
    return (node, opclass, descending, nulls_first)


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
