"""`StubDynamoClient`: an in-memory stand-in for `boto3.client("dynamodb")`, fast enough to drive
DynamoStore at thousands of requests per second with a fixed simulated latency.

moto in process costs 1-3 ms of CPU per request (botocore serialization, moto's HTTP layer and
expression parser), so it cannot carry a load test. This stub answers the request shapes DynamoStore
sends with the semantics of DynamoDB itself, in well under 100 us of CPU each:

* PutItem, GetItem, DeleteItem, UpdateItem, Query (table, local and global secondary indexes),
  BatchGetItem, BatchWriteItem, TransactWriteItems, CreateTable, DescribeTable, close();
* condition, filter, key condition, update and projection expressions are parsed by a small
  recursive-descent parser (cached per expression string) and evaluated on the wire-format items;
* errors are `botocore.exceptions.ClientError` subclasses named like botocore's modeled exceptions,
  with the same response fields (`Item` on ConditionalCheckFailedException with
  ReturnValuesOnConditionCheckFailure=ALL_OLD, `CancellationReasons` on TransactionCanceledException);
  a parameter botocore does not know raises ParamValidationError, as botocore would;
* what the stub does not implement (Scan, legacy parameters such as Expected or KeyConditions,
  ReturnConsumedCapacity other than NONE, Select, hash-only key schemas, ...) is refused with a
  ValidationException whose message starts with "StubDynamoClient", never answered wrongly.

Where moto and DynamoDB differ the stub follows DynamoDB: a Query that stops because of Limit
returns LastEvaluatedKey even when no item is left; UPDATED_NEW/UPDATED_OLD return every path the
update expression names; FilterExpression may not name a key attribute of the index queried;
numbers are stored normalized ("1.50" -> "1.5"). Pages also stop at 1 MB of items read.

Every request sleeps `latency_s` in the calling thread (half before, half after the request takes
effect), outside the one lock that makes each request atomic.
"""

from __future__ import annotations

import bisect
import importlib.util
import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, NoReturn

from botocore.exceptions import ClientError, ParamValidationError

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
Key = tuple[Any, Any]
Entry = tuple[Any, ...]
Elem = str | int
"""A document path element: an attribute name, a `#placeholder` (resolved per request) or a list index."""

ITEM_LIMIT: Final = 400 * 1024
PAGE_LIMIT: Final = 1024 * 1024
BATCH_GET_LIMIT: Final = 16 * 1024 * 1024
TOKEN_TTL_S: Final = 600.0
_TYPES: Final = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
_ORDERED: Final = frozenset({"S", "N", "B"})
_CONDITION_FAILED: Final = "The conditional request failed"
_INVALID_PATH: Final = "The document path provided in the update expression is invalid for update"
_MISSING_OPERAND: Final = "The provided expression refers to an attribute that does not exist in the item"
_BAD_OPERAND: Final = "An operand in the update expression has an incorrect data type"


# --- errors ------------------------------------------------------------------------------------
class _Error(Exception):
    """A DynamoDB error answer; turned into a ClientError named after the operation."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields


def _invalid(message: str) -> _Error:
    return _Error("ValidationException", message)


def _unsupported(what: str) -> _Error:
    return _Error("ValidationException", f"StubDynamoClient does not support {what}")


def _param_error(report: str) -> NoReturn:
    raise ParamValidationError(report=report)


def _error_class(code: str) -> type[ClientError]:
    return type(code, (ClientError,), {})


# botocore raises these modeled errors as ClientError subclasses of the same names
_MODELED: Final[dict[str, type[ClientError]]] = {
    code: _error_class(code)
    for code in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
        "ResourceNotFoundException",
        "ResourceInUseException",
        "IdempotentParameterMismatchException",
    )
}
# the modeled error shapes' message member: botocore copies it into the response
_MESSAGE_MEMBER: Final = {
    "ConditionalCheckFailedException": "message",
    "ResourceNotFoundException": "message",
    "ResourceInUseException": "message",
    "TransactionCanceledException": "Message",
    "IdempotentParameterMismatchException": "Message",
}


class _Exceptions:
    """`client.exceptions`: the modeled error classes, by name."""

    def __getattr__(self, name: str) -> type[ClientError]:
        if name == "ClientError":
            return ClientError
        try:
            return _MODELED[name]
        except KeyError:
            raise AttributeError(name) from None


# --- attribute values --------------------------------------------------------------------------
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


_EXACT: Final = Context(prec=1000, Emin=-100000, Emax=100000)


def _normal_number(text: Any) -> str:
    """A number as DynamoDB stores it (normalized), or the error DynamoDB gives for it."""
    if type(text) is not str:
        _param_error(f"Invalid type for N value {text!r}, valid types: <class 'str'>")
    if text.isascii():
        digits = text[1:] if text[:1] == "-" else text
        if digits.isdigit() and len(digits) <= 38 and (digits[0] != "0" or text == "0"):
            return text
    if _NUMBER.fullmatch(text) is None:
        raise _invalid("A value provided cannot be converted into a number")
    value = Decimal(text)
    if not value:
        return "0"
    value = value.normalize(_EXACT)
    if len(value.as_tuple().digits) > 38:
        raise _invalid("Attempting to store more than 38 significant digits in a Number")
    if value.adjusted() > 125:
        raise _invalid("Number overflow. Attempting to store a number with magnitude larger than supported range")
    if value.adjusted() < -130:
        raise _invalid("Number underflow. Attempting to store a number with magnitude smaller than supported range")
    return format(value, "f")


def _num(text: str) -> int | Decimal:
    """A stored (normalized) number, for arithmetic and comparison."""
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


def _type_of(value: AttributeValue) -> str:
    for kind in value:
        return kind
    raise AssertionError("empty attribute value")


def _checked(value: Any, where: str) -> AttributeValue:
    """A private, validated, normalized copy of an attribute value from a request."""
    if type(value) is not dict or len(value) != 1:
        if type(value) is dict and not value:
            raise _invalid(
                f"Supplied AttributeValue is empty, must contain exactly one of the supported datatypes: {where}"
            )
        if type(value) is dict:
            raise _invalid(
                f"Supplied AttributeValue has more than one datatypes set, must contain exactly one: {where}"
            )
        _param_error(
            f"Invalid type for parameter {where}, value: {value!r}, type: {type(value)}, valid types: <class 'dict'>"
        )
    for kind, inner in value.items():
        if kind == "S":
            if type(inner) is not str:
                _param_error(f"Invalid type for parameter {where}.S, value: {inner!r}, valid types: <class 'str'>")
            return {"S": inner}
        if kind == "N":
            return {"N": _normal_number(inner)}
        if kind == "BOOL":
            if type(inner) is not bool:
                _param_error(f"Invalid type for parameter {where}.BOOL, value: {inner!r}, valid types: <class 'bool'>")
            return {"BOOL": inner}
        if kind == "NULL":
            if inner is not True:
                raise _invalid(
                    "One or more parameter values were invalid: Null attribute value types must have the value of true"
                )
            return {"NULL": True}
        if kind == "B":
            return {"B": _binary(inner, where)}
        if kind == "M":
            if type(inner) is not dict:
                _param_error(f"Invalid type for parameter {where}.M, value: {inner!r}, valid types: <class 'dict'>")
            return {"M": {name: _checked(v, f"{where}.M.{name}") for name, v in inner.items()}}
        if kind == "L":
            if type(inner) is not list:
                _param_error(f"Invalid type for parameter {where}.L, value: {inner!r}, valid types: <class 'list'>")
            return {"L": [_checked(v, f"{where}.L") for v in inner]}
        if kind in ("SS", "NS", "BS"):
            if type(inner) is not list:
                _param_error(
                    f"Invalid type for parameter {where}.{kind}, value: {inner!r}, valid types: <class 'list'>"
                )
            if not inner:
                noun = {"SS": "string", "NS": "number", "BS": "binary"}[kind]
                raise _invalid(f"One or more parameter values were invalid: An {noun} set  may not be empty")
            if kind == "SS":
                elements: list[Any] = []
                for s in inner:
                    if type(s) is not str:
                        _param_error(f"Invalid type for parameter {where}.SS, value: {s!r}, valid types: <class 'str'>")
                    elements.append(s)
                seen: list[Any] = elements
            elif kind == "NS":
                elements = [_normal_number(n) for n in inner]
                seen = [_num(n) for n in elements]
            else:
                elements = [_binary(b, where) for b in inner]
                seen = elements
            if len(set(seen)) != len(seen):
                raise _invalid(
                    f"One or more parameter values were invalid: Input collection {inner} contains duplicates."
                )
            return {kind: elements}
    _param_error(f'Unknown parameter in {where}: "{next(iter(value))}", must be one of: {", ".join(sorted(_TYPES))}')


def _binary(value: Any, where: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    _param_error(f"Invalid type for parameter {where}.B, value: {value!r}, valid types: <class 'bytes'>, <class 'str'>")


def _copy(value: AttributeValue) -> AttributeValue:
    """A copy the caller may change: stored values are never mutated, answers are copies."""
    for kind, inner in value.items():
        if kind == "M":
            return {"M": {name: _copy(v) for name, v in inner.items()}}
        if kind == "L":
            return {"L": [_copy(v) for v in inner]}
        if kind in ("SS", "NS", "BS"):
            return {kind: list(inner)}
    return dict(value)


def _copy_item(item: Mapping[str, AttributeValue]) -> Item:
    return {name: _copy(value) for name, value in item.items()}


def _value_size(value: AttributeValue) -> int:
    for kind, inner in value.items():
        if kind == "S":
            return len(inner) if inner.isascii() else len(inner.encode())
        if kind == "N":
            return len(inner.lstrip("-").replace(".", "")) // 2 + 2
        if kind == "B":
            return len(inner)
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "M":
            return 3 + sum(len(name) + _value_size(v) + 1 for name, v in inner.items())
        if kind == "L":
            return 3 + sum(_value_size(v) + 1 for v in inner)
        if kind == "SS":
            return sum(len(s.encode()) for s in inner)
        if kind == "NS":
            return sum(len(n) // 2 + 2 for n in inner)
        return sum(len(b) for b in inner)
    return 0


def _item_size(item: Mapping[str, AttributeValue]) -> int:
    return sum((len(name) if name.isascii() else len(name.encode())) + _value_size(v) for name, v in item.items())


def _equal(a: AttributeValue, b: AttributeValue) -> bool:
    kind = _type_of(a)
    if kind != _type_of(b):
        return False
    x, y = a[kind], b[kind]
    if kind == "N":
        return x == y or _num(x) == _num(y)
    if kind in ("SS", "BS"):
        return set(x) == set(y)
    if kind == "NS":
        return {_num(n) for n in x} == {_num(n) for n in y}
    if kind == "L":
        return len(x) == len(y) and all(_equal(p, q) for p, q in zip(x, y, strict=True))
    if kind == "M":
        return x.keys() == y.keys() and all(_equal(v, y[name]) for name, v in x.items())
    return bool(x == y)


def _scalar(value: AttributeValue) -> Any:
    """The Python value ordering S, N and B as DynamoDB does: code points (= UTF-8 bytes),
    numerically, bytes."""
    for kind, inner in value.items():
        return _num(inner) if kind == "N" else inner
    return None


def _ordered(op: str, a: AttributeValue, b: AttributeValue) -> bool:
    kind = _type_of(a)
    if kind != _type_of(b) or kind not in _ORDERED:
        return False
    x, y = _scalar(a), _scalar(b)
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _describe(value: AttributeValue) -> str:
    kind = _type_of(value)
    return f"AttributeValue: {{{kind}:{value[kind]}}}"


# --- expressions -------------------------------------------------------------------------------
def _reserved_words() -> frozenset[str]:
    """DynamoDB's reserved words, from moto's copy of the list in the DynamoDB documentation."""
    spec = importlib.util.find_spec("moto")
    if spec is None or spec.origin is None:
        raise RuntimeError("StubDynamoClient needs moto installed (for DynamoDB's reserved word list)")
    text = (Path(spec.origin).parent / "dynamodb" / "parsing" / "reserved_keywords.txt").read_text()
    return frozenset(word.strip().upper() for word in text.split() if word.strip())


RESERVED: Final = _reserved_words()

_TOKEN = re.compile(
    r"\s*(?:(?P<ph>#[A-Za-z0-9_]+)|(?P<val>:[A-Za-z0-9_]+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<num>[0-9]+)|(?P<op><>|<=|>=|[=<>(),.\[\]+-]))"
)
_COMPARATORS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})
_CONDITION_FUNCTIONS: Final = frozenset(
    {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"}
)
_UPDATE_FUNCTIONS: Final = frozenset({"if_not_exists", "list_append"})
_ATTRIBUTE_TYPES: Final = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")


@dataclass(slots=True)
class _Token:
    kind: str
    text: str


class _Eval:
    """One evaluation: the item and the request's placeholders."""

    __slots__ = ("item", "names", "values")

    def __init__(
        self, item: Mapping[str, AttributeValue], names: Mapping[str, str], values: Mapping[str, AttributeValue]
    ) -> None:
        self.item = item
        self.names = names
        self.values = values

    def resolve(self, path: tuple[Elem, ...]) -> tuple[Elem, ...]:
        names = self.names
        return tuple(names[e] if type(e) is str and e[0] == "#" else e for e in path)


def _resolved(path: tuple[Elem, ...], names: Mapping[str, str]) -> tuple[Elem, ...]:
    return tuple(names[e] if type(e) is str and e[0] == "#" else e for e in path)


def _lookup(item: Mapping[str, AttributeValue], path: tuple[Elem, ...]) -> AttributeValue | None:
    value = item.get(str(path[0]))
    for element in path[1:]:
        if value is None:
            return None
        if type(element) is int:
            items = value.get("L")
            value = items[element] if items is not None and element < len(items) else None
        else:
            entries = value.get("M")
            value = entries.get(element) if entries is not None else None
    return value


class _Path:
    __slots__ = ("elems",)

    def __init__(self, elems: tuple[Elem, ...]) -> None:
        self.elems = elems

    def value(self, ev: _Eval) -> AttributeValue | None:
        return _lookup(ev.item, ev.resolve(self.elems))


class _Val:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def value(self, ev: _Eval) -> AttributeValue | None:
        return ev.values[self.name]


class _Size:
    __slots__ = ("path",)

    def __init__(self, path: _Path) -> None:
        self.path = path

    def value(self, ev: _Eval) -> AttributeValue | None:
        target = self.path.value(ev)
        if target is None:
            return None
        kind = _type_of(target)
        inner = target[kind]
        if kind in ("N", "BOOL", "NULL"):
            return None
        return {"N": str(len(inner))}


Operand = _Path | _Val | _Size


class _Cmp:
    __slots__ = ("left", "op", "right")

    def __init__(self, op: str, left: Operand, right: Operand) -> None:
        self.op, self.left, self.right = op, left, right

    def test(self, ev: _Eval) -> bool:
        a, b = self.left.value(ev), self.right.value(ev)
        op = self.op
        if a is None or b is None:
            return op == "<>" and (a is not None or b is not None)
        if op == "=":
            return _equal(a, b)
        if op == "<>":
            return not _equal(a, b)
        return _ordered(op, a, b)


class _Between:
    __slots__ = ("high", "low", "operand")

    def __init__(self, operand: Operand, low: Operand, high: Operand) -> None:
        self.operand, self.low, self.high = operand, low, high

    def test(self, ev: _Eval) -> bool:
        a, lo, hi = self.operand.value(ev), self.low.value(ev), self.high.value(ev)
        if a is None or lo is None or hi is None:
            return False
        return _ordered(">=", a, lo) and _ordered("<=", a, hi)


class _In:
    __slots__ = ("operand", "options")

    def __init__(self, operand: Operand, options: list[Operand]) -> None:
        self.operand, self.options = operand, options

    def test(self, ev: _Eval) -> bool:
        a = self.operand.value(ev)
        if a is None:
            return False
        for option in self.options:
            b = option.value(ev)
            if b is not None and _equal(a, b):
                return True
        return False


class _Func:
    __slots__ = ("args", "name")

    def __init__(self, name: str, args: list[Operand]) -> None:
        self.name, self.args = name, args

    def test(self, ev: _Eval) -> bool:
        name = self.name
        target = self.args[0].value(ev)
        if name == "attribute_exists":
            return target is not None
        if name == "attribute_not_exists":
            return target is None
        if target is None:
            return False
        other = self.args[1].value(ev)
        if other is None:
            return False
        kind, other_kind = _type_of(target), _type_of(other)
        if name == "attribute_type":
            return bool(kind == other["S"])
        if name == "begins_with":
            return kind == other_kind and kind in ("S", "B") and bool(target[kind].startswith(other[kind]))
        # contains
        if kind in ("S", "B"):
            return other_kind == kind and other[kind] in target[kind]
        if (kind, other_kind) in (("SS", "S"), ("BS", "B")):
            return other[other_kind] in target[kind]
        if kind == "NS" and other_kind == "N":
            wanted = _num(other["N"])
            return any(_num(n) == wanted for n in target[kind])
        if kind == "L":
            return any(_equal(element, other) for element in target[kind])
        return False


class _And:
    __slots__ = ("left", "right")

    def __init__(self, left: Condition, right: Condition) -> None:
        self.left, self.right = left, right

    def test(self, ev: _Eval) -> bool:
        return self.left.test(ev) and self.right.test(ev)


class _Or:
    __slots__ = ("left", "right")

    def __init__(self, left: Condition, right: Condition) -> None:
        self.left, self.right = left, right

    def test(self, ev: _Eval) -> bool:
        return self.left.test(ev) or self.right.test(ev)


class _Not:
    __slots__ = ("condition",)

    def __init__(self, condition: Condition) -> None:
        self.condition = condition

    def test(self, ev: _Eval) -> bool:
        return not self.condition.test(ev)


Condition = _Cmp | _Between | _In | _Func | _And | _Or | _Not


@dataclass(slots=True)
class _Parsed:
    """A parsed expression: its tree, the placeholders it uses and the type checks its values need."""

    kind: str
    tree: Any
    names: frozenset[str]
    values: frozenset[str]
    # (placeholder, check, detail): checks of value types that DynamoDB makes before evaluating
    checks: tuple[tuple[str, str, str], ...] = ()
    paths: tuple[_Path, ...] = ()


@dataclass(slots=True)
class _SetAction:
    path: _Path
    value: Any  # _Path | _Val | tuple (operator or function, operands...)


@dataclass(slots=True)
class _UpdateTree:
    sets: list[_SetAction] = field(default_factory=list)
    removes: list[_Path] = field(default_factory=list)
    adds: list[tuple[_Path, _Val]] = field(default_factory=list)
    deletes: list[tuple[_Path, _Val]] = field(default_factory=list)


@dataclass(slots=True)
class _KeyCondition:
    """One or two `name <op> values` parts; which is the hash key is known once names are resolved."""

    parts: tuple[tuple[str, str, tuple[str, ...]], ...]


class _Parser:
    def __init__(self, text: str, kind: str) -> None:
        self.kind = kind
        self.text = text
        self.tokens: list[_Token] = []
        self.names: set[str] = set()
        self.values: set[str] = set()
        self.checks: list[tuple[str, str, str]] = []
        self.paths: list[_Path] = []
        position = 0
        stripped = text.rstrip()
        while position < len(stripped):
            match = _TOKEN.match(stripped, position)
            if match is None or match.end() == position:
                rest = stripped[position:].strip()
                raise self.error(f'Invalid {kind}: Syntax error; token: "{rest[:1]}", near: "{rest[:10]}"')
            group = match.lastgroup or ""
            self.tokens.append(_Token(group, match.group(group)))
            position = match.end()
        if not self.tokens:
            raise self.error(f"Invalid {kind}: The expression can not be empty;")
        self.i = 0

    @staticmethod
    def error(message: str) -> _Error:
        return _invalid(message)

    def peek(self, ahead: int = 0) -> _Token | None:
        index = self.i + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error(f'Invalid {self.kind}: Syntax error; token: <EOF>, near: "{self.near()}"')
        self.i += 1
        return token

    def near(self) -> str:
        return " ".join(t.text for t in self.tokens[max(0, self.i - 1) : self.i + 1])

    def syntax(self) -> _Error:
        token = self.peek()
        text = token.text if token is not None else "<EOF>"
        return self.error(f'Invalid {self.kind}: Syntax error; token: "{text}", near: "{self.near()}"')

    def at_op(self, op: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text == op

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "name" and token.text.upper() == word

    def expect_op(self, op: str) -> None:
        if not self.at_op(op):
            raise self.syntax()
        self.i += 1

    def end(self) -> None:
        if self.peek() is not None:
            raise self.syntax()

    # paths and operands
    def path(self) -> _Path:
        elems: list[Elem] = [self.path_name()]
        while True:
            if self.at_op("."):
                self.i += 1
                elems.append(self.path_name())
            elif self.at_op("["):
                self.i += 1
                token = self.take()
                if token.kind != "num":
                    raise self.syntax()
                elems.append(int(token.text))
                self.expect_op("]")
            else:
                path = _Path(tuple(elems))
                self.paths.append(path)
                return path

    def path_name(self) -> str:
        token = self.peek()
        if token is None or token.kind not in ("name", "ph"):
            raise self.syntax()
        self.i += 1
        if token.kind == "ph":
            self.names.add(token.text)
        elif token.text.upper() in RESERVED:
            raise self.error(
                f"Invalid {self.kind}: Attribute name is a reserved keyword; reserved keyword: {token.text}"
            )
        return token.text

    def value(self) -> _Val:
        token = self.take()
        if token.kind != "val":
            self.i -= 1
            raise self.syntax()
        self.values.add(token.text)
        return _Val(token.text)

    def operand(self) -> Operand:
        token = self.peek()
        if token is None:
            raise self.syntax()
        if token.kind == "val":
            return self.value()
        if token.kind == "name" and (after := self.peek(1)) is not None and after.text == "(":
            if token.text != "size":
                if token.text in _CONDITION_FUNCTIONS:
                    raise self.error(
                        f"Invalid {self.kind}: The function is not allowed to be used this way in an expression; "
                        f"function: {token.text}"
                    )
                raise self.error(f"Invalid {self.kind}: Invalid function name; function: {token.text}")
            self.i += 2
            size = _Size(self.path())
            self.expect_op(")")
            return size
        return self.path()

    # conditions
    def condition(self) -> Condition:
        tree = self.disjunction()
        self.end()
        return tree

    def disjunction(self) -> Condition:
        left = self.conjunction()
        while self.at_keyword("OR"):
            self.i += 1
            left = _Or(left, self.conjunction())
        return left

    def conjunction(self) -> Condition:
        left = self.negation()
        while self.at_keyword("AND"):
            self.i += 1
            left = _And(left, self.negation())
        return left

    def negation(self) -> Condition:
        if self.at_keyword("NOT"):
            self.i += 1
            return _Not(self.negation())
        return self.primary()

    def primary(self) -> Condition:
        if self.at_op("("):
            self.i += 1
            inner = self.disjunction()
            self.expect_op(")")
            return inner
        token = self.peek()
        after = self.peek(1)
        if token is not None and token.kind == "name" and after is not None and after.text == "(":  # noqa: SIM102
            if token.text in _CONDITION_FUNCTIONS:
                return self.function(token.text)
        left = self.operand()
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in _COMPARATORS:
            self.i += 1
            right = self.operand()
            if token.text not in ("=", "<>"):
                self.order_check(token.text, left, right)
            return _Cmp(token.text, left, right)
        if self.at_keyword("BETWEEN"):
            self.i += 1
            low = self.operand()
            if not self.at_keyword("AND"):
                raise self.syntax()
            self.i += 1
            high = self.operand()
            self.order_check("BETWEEN", left, low, high)
            if isinstance(low, _Val) and isinstance(high, _Val):
                self.checks.append((low.name, "between", high.name))
            return _Between(left, low, high)
        if self.at_keyword("IN"):
            self.i += 1
            self.expect_op("(")
            options = [self.operand()]
            while self.at_op(","):
                self.i += 1
                options.append(self.operand())
            self.expect_op(")")
            if len(options) > 100:
                raise self.error(
                    f"Invalid {self.kind}: The IN operator is provided with too many operands; number of "
                    f"operands: {len(options)}"
                )
            return _In(left, options)
        raise self.syntax()

    def order_check(self, op: str, *operands: Operand) -> None:
        for operand in operands:
            if isinstance(operand, _Val):
                self.checks.append((operand.name, "ordered", op))

    def function(self, name: str) -> _Func:
        self.i += 2
        args: list[Operand] = [self.path()]
        if name in ("attribute_exists", "attribute_not_exists"):
            self.expect_op(")")
            return _Func(name, args)
        self.expect_op(",")
        second = self.operand()
        self.expect_op(")")
        if name == "attribute_type":
            if not isinstance(second, _Val):
                raise self.error(
                    f"Invalid {self.kind}: Incorrect operand type for operator or function; operator or "
                    "function: attribute_type"
                )
            self.checks.append((second.name, "type_name", name))
        elif name == "begins_with" and isinstance(second, _Val):
            self.checks.append((second.name, "string_or_binary", name))
        args.append(second)
        return _Func(name, args)

    # update expressions
    def update(self) -> _UpdateTree:
        tree = _UpdateTree()
        seen: set[str] = set()
        while self.peek() is not None:
            clause_token = self.take()
            clause = clause_token.text.upper()
            if clause_token.kind != "name" or clause not in ("SET", "REMOVE", "ADD", "DELETE"):
                self.i -= 1
                raise self.syntax()
            if clause in seen:
                raise self.error(
                    f'Invalid {self.kind}: The "{clause}" section can only be used once in an update expression;'
                )
            seen.add(clause)
            while True:
                if clause == "SET":
                    target = self.path()
                    self.expect_op("=")
                    tree.sets.append(_SetAction(target, self.set_value()))
                elif clause == "REMOVE":
                    tree.removes.append(self.path())
                else:
                    target = self.path()
                    value = self.value()
                    if clause == "ADD":
                        self.checks.append((value.name, "add", "ADD"))
                        tree.adds.append((target, value))
                    else:
                        self.checks.append((value.name, "set", "DELETE"))
                        tree.deletes.append((target, value))
                if not self.at_op(","):
                    break
                self.i += 1
            token = self.peek()
            if token is not None and not (
                token.kind == "name" and token.text.upper() in ("SET", "REMOVE", "ADD", "DELETE")
            ):
                raise self.syntax()
        return tree

    def set_value(self) -> Any:
        left = self.set_operand()
        if self.at_op("+") or self.at_op("-"):
            op = self.take().text
            right = self.set_operand()
            for side in (left, right):
                if isinstance(side, _Val):
                    self.checks.append((side.name, "number", op))
            return (op, left, right)
        return left

    def set_operand(self) -> Any:
        token = self.peek()
        if token is None:
            raise self.syntax()
        if token.kind == "val":
            return self.value()
        after = self.peek(1)
        if token.kind == "name" and after is not None and after.text == "(":
            if token.text not in _UPDATE_FUNCTIONS:
                raise self.error(f"Invalid {self.kind}: Invalid function name; function: {token.text}")
            self.i += 2
            first: Any = self.path() if token.text == "if_not_exists" else self.set_operand()
            self.expect_op(",")
            second = self.set_operand()
            self.expect_op(")")
            if token.text == "list_append":
                for side in (first, second):
                    if isinstance(side, _Val):
                        self.checks.append((side.name, "list", "list_append"))
            return (token.text, first, second)
        return self.path()

    # projections
    def projection(self) -> list[_Path]:
        paths = [self.path()]
        while self.at_op(","):
            self.i += 1
            paths.append(self.path())
        self.end()
        return paths


_CACHE: dict[tuple[str, str], _Parsed] = {}


def _parse(kind: str, text: Any) -> _Parsed:
    """The parsed expression, cached: DynamoStore sends a few fixed expression strings."""
    cached = _CACHE.get((kind, text))
    if cached is not None:
        return cached
    if type(text) is not str:
        _param_error(f"Invalid type for parameter {kind}, value: {text!r}, valid types: <class 'str'>")
    parser = _Parser(text, kind)
    tree: Any
    if kind == "UpdateExpression":
        tree = parser.update()
    elif kind == "ProjectionExpression":
        tree = parser.projection()
    elif kind == "KeyConditionExpression":
        tree = _key_condition(parser)
    else:
        tree = parser.condition()
    parsed = _Parsed(
        kind, tree, frozenset(parser.names), frozenset(parser.values), tuple(parser.checks), tuple(parser.paths)
    )
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[(kind, text)] = parsed
    return parsed


def _key_condition(parser: _Parser) -> _KeyCondition:
    """`key = :v [AND range-condition]`, in either order, parentheses allowed."""
    tree = parser.condition()
    parts: list[Condition] = []

    def flatten(node: Condition) -> None:
        if isinstance(node, _And):
            flatten(node.left)
            flatten(node.right)
        elif isinstance(node, _Or | _Not):
            word = "OR" if isinstance(node, _Or) else "NOT"
            raise _invalid(f"Invalid operator used in KeyConditionExpression: {word}")
        else:
            parts.append(node)

    flatten(tree)
    if len(parts) > 2:
        raise _invalid("KeyConditionExpressions must only contain one condition per key")
    found: list[tuple[str, str, tuple[str, ...]]] = []
    values: tuple[str, ...]
    for part in parts:
        if isinstance(part, _Cmp) and isinstance(part.left, _Path) and isinstance(part.right, _Val):
            operand, op, values = part.left, part.op, (part.right.name,)
        elif isinstance(part, _Between) and isinstance(part.operand, _Path):
            if not (isinstance(part.low, _Val) and isinstance(part.high, _Val)):
                raise _unsupported("a KeyConditionExpression BETWEEN whose bounds are not values")
            operand, op, values = part.operand, "BETWEEN", (part.low.name, part.high.name)
        elif isinstance(part, _Func) and part.name == "begins_with" and isinstance(part.args[1], _Val):
            assert isinstance(part.args[0], _Path)  # the parser makes a function's first argument a path
            operand, op, values = part.args[0], "begins_with", (part.args[1].name,)
        elif isinstance(part, _Cmp | _Between | _Func | _In):
            raise _unsupported("this KeyConditionExpression (write `key <op> :value`)")
        else:
            raise _invalid("Invalid KeyConditionExpression: Syntax error")
        if op == "<>":
            raise _invalid("Unsupported operator on KeyConditionExpression: operator: <>")
        if len(operand.elems) != 1:
            raise _invalid("KeyConditionExpressions cannot contain nested attributes")
        found.append((str(operand.elems[0]), op, values))
    return _KeyCondition(tuple(found))


# --- tables ------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Index:
    """The table's own sort order or a secondary index: per partition, a sorted list of entries.

    Entries are (range value, table range) for the table and a local index, and
    (range value, table hash, table range) for a global index."""

    name: str | None
    kind: str  # TABLE, LSI, GSI
    hash_attr: str
    range_attr: str
    hash_type: str
    range_type: str
    projection: str
    include: frozenset[str]
    key_attrs: tuple[str, ...]
    parts: dict[Any, list[Entry]] = field(default_factory=dict)

    def entry(self, key: Key, item: Mapping[str, AttributeValue]) -> tuple[Any, Entry] | None:
        if self.kind == "TABLE":
            return key[0], (key[1], key[1])
        rng = item.get(self.range_attr)
        if rng is None:
            return None
        if self.kind == "LSI":
            return key[0], (_scalar(rng), key[1])
        hsh = item.get(self.hash_attr)
        if hsh is None:
            return None
        return _scalar(hsh), (_scalar(rng), key[0], key[1])

    def table_key(self, part: Any, entry: Entry) -> Key:
        if self.kind == "GSI":
            return entry[1], entry[2]
        return part, entry[1]

    def add(self, place: tuple[Any, Entry]) -> None:
        part, entry = place
        entries = self.parts.get(part)
        if entries is None:
            self.parts[part] = [entry]
        elif entry > entries[-1]:
            entries.append(entry)
        else:
            bisect.insort(entries, entry)

    def remove(self, place: tuple[Any, Entry]) -> None:
        part, entry = place
        entries = self.parts[part]
        index = bisect.bisect_left(entries, entry)
        del entries[index]
        if not entries:
            del self.parts[part]

    def project(self, item: Item) -> Item:
        if self.projection == "ALL" or self.kind != "GSI":
            return item
        return {
            name: value
            for name, value in item.items()
            if name in self.key_attrs or (self.projection == "INCLUDE" and name in self.include)
        }


@dataclass(slots=True)
class _Table:
    name: str
    hash_attr: str
    range_attr: str
    types: dict[str, str]
    description: dict[str, Any]
    items: dict[Key, tuple[Item, int]] = field(default_factory=dict)
    indexes: list[_Index] = field(default_factory=list)
    by_name: dict[str | None, _Index] = field(default_factory=dict)
    secondary: list[_Index] = field(default_factory=list)
    index_attrs: dict[str, list[str]] = field(default_factory=dict)

    def key_of(self, key: Any, where: str = "Key") -> Key:
        """The stored key of a Key parameter: exactly the table's key attributes."""
        if type(key) is not dict:
            _param_error(f"Invalid type for parameter {where}, value: {key!r}, valid types: <class 'dict'>")
        if len(key) != 2 or self.hash_attr not in key or self.range_attr not in key:
            raise _invalid("The provided key element does not match the schema")
        return self._key_value(key[self.hash_attr], self.hash_attr, f"{where}.{self.hash_attr}"), self._key_value(
            key[self.range_attr], self.range_attr, f"{where}.{self.range_attr}"
        )

    def item_key(self, item: Mapping[str, AttributeValue]) -> Key:
        for name in (self.hash_attr, self.range_attr):
            if name not in item:
                raise _invalid(f"One or more parameter values were invalid: Missing the key {name} in the item")
        return _scalar(self._checked_key(item[self.hash_attr], self.hash_attr)), _scalar(
            self._checked_key(item[self.range_attr], self.range_attr)
        )

    def _key_value(self, value: Any, name: str, where: str) -> Any:
        return _scalar(self._checked_key(_checked(value, where), name))

    def _checked_key(self, value: AttributeValue, name: str) -> AttributeValue:
        wanted = self.types[name]
        kind = _type_of(value)
        if kind != wanted:
            raise _invalid(
                f"One or more parameter values were invalid: Type mismatch for key {name} expected: {wanted} "
                f"actual: {kind}"
            )
        if kind in ("S", "B") and not value[kind]:
            raise _invalid(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
                f"an empty {'string' if kind == 'S' else 'binary'} value. Key: {name}"
            )
        return value

    def check_index_keys(self, item: Mapping[str, AttributeValue]) -> None:
        for name, index_names in self.index_attrs.items():
            value = item.get(name)
            if value is None:
                continue
            wanted = self.types[name]
            kind = _type_of(value)
            if kind != wanted:
                raise _invalid(
                    f"One or more parameter values were invalid: Type mismatch for Index Key {name} "
                    f"Expected: {wanted} Actual: {kind} IndexName: {index_names[0]}"
                )
            if kind in ("S", "B") and not value[kind]:
                raise _invalid(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not "
                    "supported. The AttributeValue for a key attribute cannot contain an empty string value. "
                    f"IndexName: {index_names[0]}, IndexKey: {name}"
                )

    def key_item(self, key: Key) -> Item:
        return {
            self.hash_attr: self._wire(self.hash_attr, key[0]),
            self.range_attr: self._wire(self.range_attr, key[1]),
        }

    def _wire(self, name: str, scalar: Any) -> AttributeValue:
        kind = self.types[name]
        if kind == "N":
            return {"N": str(scalar) if type(scalar) is int else format(scalar, "f")}
        return {kind: scalar}

    def write(self, key: Key, old: Item | None, new: Item | None, size: int = 0) -> None:
        """Store `new` (None deletes) in place of `old`, keeping every index in order."""
        if new is None:
            del self.items[key]
        else:
            self.items[key] = (new, size)
        for index in self.indexes:
            before = index.entry(key, old) if old is not None else None
            after = index.entry(key, new) if new is not None else None
            if before != after:
                if before is not None:
                    index.remove(before)
                if after is not None:
                    index.add(after)


def _table_from(definition: Mapping[str, Any]) -> _Table:
    name = definition["TableName"]
    types: dict[str, str] = {}
    for attribute in definition["AttributeDefinitions"]:
        if attribute["AttributeType"] not in ("S", "N", "B"):
            raise _invalid(f"Member must satisfy enum value set: [B, N, S]: {attribute['AttributeType']}")
        types[attribute["AttributeName"]] = attribute["AttributeType"]

    def schema(keys: list[Mapping[str, str]], where: str) -> tuple[str, str]:
        hashes = [k["AttributeName"] for k in keys if k["KeyType"] == "HASH"]
        ranges = [k["AttributeName"] for k in keys if k["KeyType"] == "RANGE"]
        if len(hashes) != 1 or len(ranges) != 1:
            raise _unsupported(f"a key schema without exactly one HASH and one RANGE key ({where})")
        for attribute in (*hashes, *ranges):
            if attribute not in types:
                raise _invalid(
                    "One or more parameter values were invalid: Some index key attributes are not defined in "
                    f"AttributeDefinitions. Keys: [{attribute}]"
                )
        return hashes[0], ranges[0]

    hash_attr, range_attr = schema(definition["KeySchema"], "table")
    table = _Table(name, hash_attr, range_attr, types, {})
    own = _Index(
        None,
        "TABLE",
        hash_attr,
        range_attr,
        types[hash_attr],
        types[range_attr],
        "ALL",
        frozenset(),
        (hash_attr, range_attr),
    )
    table.indexes.append(own)
    table.by_name[None] = own
    for kind, group in (("LSI", "LocalSecondaryIndexes"), ("GSI", "GlobalSecondaryIndexes")):
        for spec in definition.get(group) or []:
            index_hash, index_range = schema(spec["KeySchema"], spec["IndexName"])
            if kind == "LSI" and index_hash != hash_attr:
                raise _invalid(
                    "One or more parameter values were invalid: Index KeySchema does not have the same leading "
                    "hash key as table KeySchema for index: " + spec["IndexName"]
                )
            projection = spec.get("Projection", {})
            projection_type = projection.get("ProjectionType", "ALL")
            if projection_type not in ("ALL", "KEYS_ONLY", "INCLUDE"):
                raise _invalid(f"Unknown ProjectionType: {projection_type}")
            keys = tuple(dict.fromkeys((hash_attr, range_attr, index_hash, index_range)))
            index = _Index(
                spec["IndexName"],
                kind,
                index_hash,
                index_range,
                types[index_hash],
                types[index_range],
                projection_type,
                frozenset(projection.get("NonKeyAttributes") or ()),
                keys,
            )
            if index.name in table.by_name:
                raise _invalid(f"Duplicate index name: {index.name}")
            table.indexes.append(index)
            table.secondary.append(index)
            table.by_name[index.name] = index
            for attribute in (index_hash, index_range):
                if attribute not in (hash_attr, range_attr):
                    table.index_attrs.setdefault(attribute, []).append(spec["IndexName"])
    table.description = {
        "TableName": name,
        "TableStatus": "ACTIVE",
        "KeySchema": [dict(k) for k in definition["KeySchema"]],
        "AttributeDefinitions": [dict(a) for a in definition["AttributeDefinitions"]],
        "BillingModeSummary": {"BillingMode": definition.get("BillingMode", "PROVISIONED")},
        **{
            group: [
                {
                    "IndexName": spec["IndexName"],
                    "KeySchema": [dict(k) for k in spec["KeySchema"]],
                    "Projection": dict(spec.get("Projection", {})),
                    **({"IndexStatus": "ACTIVE"} if group == "GlobalSecondaryIndexes" else {}),
                }
                for spec in definition[group]
            ]
            for group in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes")
            if definition.get(group)
        },
    }
    return table


# --- the client --------------------------------------------------------------------------------
@cache
def _botocore_members(operation: str) -> frozenset[str]:
    """Every parameter botocore knows for the operation."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    shape = model.operation_model(operation).input_shape
    return frozenset(shape.members) if shape is not None else frozenset()


_EXPRESSION_PARAMS: Final = frozenset({"ExpressionAttributeNames", "ExpressionAttributeValues"})
_SUPPORTED: Final[dict[str, frozenset[str]]] = {
    "PutItem": _EXPRESSION_PARAMS
    | {"TableName", "Item", "ConditionExpression", "ReturnValues", "ReturnValuesOnConditionCheckFailure"},
    "GetItem": _EXPRESSION_PARAMS | {"TableName", "Key", "ConsistentRead", "ProjectionExpression"},
    "DeleteItem": _EXPRESSION_PARAMS
    | {"TableName", "Key", "ConditionExpression", "ReturnValues", "ReturnValuesOnConditionCheckFailure"},
    "UpdateItem": _EXPRESSION_PARAMS
    | {
        "TableName",
        "Key",
        "UpdateExpression",
        "ConditionExpression",
        "ReturnValues",
        "ReturnValuesOnConditionCheckFailure",
    },
    "Query": _EXPRESSION_PARAMS
    | frozenset(
        {
            "TableName",
            "IndexName",
            "KeyConditionExpression",
            "FilterExpression",
            "ProjectionExpression",
            "ScanIndexForward",
            "Limit",
            "ExclusiveStartKey",
            "ConsistentRead",
        }
    ),
    "BatchGetItem": frozenset({"RequestItems"}),
    "BatchWriteItem": frozenset({"RequestItems"}),
    "TransactWriteItems": frozenset({"TransactItems", "ClientRequestToken"}),
    "CreateTable": frozenset(
        {
            "TableName",
            "AttributeDefinitions",
            "KeySchema",
            "LocalSecondaryIndexes",
            "GlobalSecondaryIndexes",
            "BillingMode",
            "ProvisionedThroughput",
            "SSESpecification",
            "Tags",
            "DeletionProtectionEnabled",
            "TableClass",
        }
    ),
    "DescribeTable": frozenset({"TableName"}),
}
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "PutItem": ("TableName", "Item"),
    "GetItem": ("TableName", "Key"),
    "DeleteItem": ("TableName", "Key"),
    "UpdateItem": ("TableName", "Key"),
    "Query": ("TableName",),
    "BatchGetItem": ("RequestItems",),
    "BatchWriteItem": ("RequestItems",),
    "TransactWriteItems": ("TransactItems",),
    "CreateTable": ("TableName", "AttributeDefinitions", "KeySchema"),
    "DescribeTable": ("TableName",),
}
# members of TransactWriteItems' Put, Update, Delete and ConditionCheck the stub implements
_TRANSACT_SUPPORTED: Final[dict[str, frozenset[str]]] = {
    "Put": frozenset({"TableName", "Item", "ConditionExpression", "ReturnValuesOnConditionCheckFailure"}),
    "Update": frozenset(
        {"TableName", "Key", "UpdateExpression", "ConditionExpression", "ReturnValuesOnConditionCheckFailure"}
    ),
    "Delete": frozenset({"TableName", "Key", "ConditionExpression", "ReturnValuesOnConditionCheckFailure"}),
    "ConditionCheck": frozenset({"TableName", "Key", "ConditionExpression", "ReturnValuesOnConditionCheckFailure"}),
}
_TRANSACT_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "Put": ("TableName", "Item"),
    "Update": ("TableName", "Key", "UpdateExpression"),
    "Delete": ("TableName", "Key"),
    "ConditionCheck": ("TableName", "Key", "ConditionExpression"),
}
_NO_EFFECT: Final[dict[str, Any]] = {"ReturnConsumedCapacity": "NONE", "ReturnItemCollectionMetrics": "NONE"}


def _check_params(
    operation: str, params: Mapping[str, Any], supported: frozenset[str], required: Iterable[str]
) -> None:
    for name in required:
        if name not in params:
            _param_error(f'Missing required parameter in input: "{name}"')
    extra = params.keys() - supported
    if not extra:
        return
    known = _botocore_members(operation)
    for name in sorted(extra):
        if name not in known:
            _param_error(f'Unknown parameter in input: "{name}", must be one of: {", ".join(sorted(known))}')
    for name in sorted(extra):
        if name in _EXPRESSION_PARAMS:
            continue
        if _NO_EFFECT.get(name) == params[name]:
            continue
        raise _unsupported(f"{name} in {operation}")


def _check_type(params: Mapping[str, Any], name: str, kind: type) -> Any:
    value = params.get(name)
    if value is not None and type(value) is not kind:
        _param_error(f"Invalid type for parameter {name}, value: {value!r}, type: {type(value)}, valid types: {kind}")
    return value


class _Request:
    """The placeholders of one request and the expressions that use them."""

    __slots__ = ("names", "parsed", "values")

    def __init__(self, params: Mapping[str, Any]) -> None:
        names = params.get("ExpressionAttributeNames")
        values = params.get("ExpressionAttributeValues")
        if names is not None:
            if type(names) is not dict:
                _param_error(
                    f"Invalid type for parameter ExpressionAttributeNames, value: {names!r}, valid types: "
                    "<class 'dict'>"
                )
            if not names:
                raise _invalid("ExpressionAttributeNames must not be empty")
            for placeholder, name in names.items():
                if type(placeholder) is not str or not placeholder.startswith("#"):
                    raise _invalid(f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{placeholder}"')
                if type(name) is not str:
                    _param_error(
                        f"Invalid type for parameter ExpressionAttributeNames.{placeholder}, valid types: <class 'str'>"
                    )
                if not name:
                    raise _invalid(
                        f"ExpressionAttributeNames contains invalid value: Empty attribute name for key {placeholder}"
                    )
        if values is not None:
            if type(values) is not dict:
                _param_error(
                    f"Invalid type for parameter ExpressionAttributeValues, value: {values!r}, valid types: "
                    "<class 'dict'>"
                )
            if not values:
                raise _invalid("ExpressionAttributeValues must not be empty")
            checked: dict[str, AttributeValue] = {}
            for placeholder, value in values.items():
                if type(placeholder) is not str or not placeholder.startswith(":"):
                    raise _invalid(
                        f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{placeholder}"'
                    )
                checked[placeholder] = _checked(value, f"ExpressionAttributeValues.{placeholder}")
            values = checked
        self.names: dict[str, str] = names or {}
        self.values: dict[str, AttributeValue] = values or {}
        self.parsed: dict[str, _Parsed] = {}

    def parse(self, params: Mapping[str, Any], *kinds: str) -> None:
        for kind in kinds:
            text = params.get(kind)
            if text is not None:
                self.parsed[kind] = _parse(kind, text)

    def validate(self) -> None:
        """DynamoDB's checks that every placeholder used is defined and every one defined is used."""
        used_names: set[str] = set()
        used_values: set[str] = set()
        for parsed in self.parsed.values():
            used_names |= parsed.names
            used_values |= parsed.values
        for parsed in self.parsed.values():
            for name in parsed.names:
                if name not in self.names:
                    raise _invalid(
                        f"Invalid {parsed.kind}: An expression attribute name used in the document path is not "
                        "defined; "
                        f"attribute name: {name}"
                    )
            for value in parsed.values:
                if value not in self.values:
                    raise _invalid(
                        f"Invalid {parsed.kind}: An expression attribute value used in expression is not defined; "
                        f"attribute value: {value}"
                    )
        if self.names and not self.parsed:
            raise _invalid("ExpressionAttributeNames can only be specified when using expressions")
        if self.values and not (self.parsed.keys() - {"ProjectionExpression"}):
            raise _invalid("ExpressionAttributeValues can only be specified when using expressions")
        unused = self.names.keys() - used_names
        if unused:
            raise _invalid(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: "
                f"{{{', '.join(sorted(unused))}}}"
            )
        unused = self.values.keys() - used_values
        if unused:
            raise _invalid(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: "
                f"{{{', '.join(sorted(unused))}}}"
            )
        for parsed in self.parsed.values():
            for placeholder, check, detail in parsed.checks:
                self._check_value(parsed.kind, placeholder, check, detail)

    def _check_value(self, kind: str, placeholder: str, check: str, detail: str) -> None:
        value = self.values[placeholder]
        value_type = _type_of(value)
        if check == "ordered":
            bad = value_type not in _ORDERED
        elif check == "string_or_binary":
            bad = value_type not in ("S", "B")
        elif check == "number":
            bad = value_type != "N"
        elif check == "list":
            bad = value_type != "L"
        elif check == "add":
            bad = value_type not in ("N", "SS", "NS", "BS")
        elif check == "set":
            bad = value_type not in ("SS", "NS", "BS")
        elif check == "type_name":
            if value_type != "S" or value["S"] not in _ATTRIBUTE_TYPES:
                raise _invalid(
                    f"Invalid {kind}: Invalid attribute type name found; type: {value.get('S', value_type)}, "
                    "valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }"
                )
            return
        else:  # between: the bounds' order
            high = self.values[detail]
            if _type_of(high) != value_type:
                raise _invalid(
                    f"Invalid {kind}: The BETWEEN operator requires same data type for lower and upper bounds; "
                    f"lower bound operand: {_describe(value)}, upper bound operand: {_describe(high)}"
                )
            if _ordered(">", value, high):
                raise _invalid(
                    f"Invalid {kind}: The BETWEEN operator requires upper bound to be greater than or equal to lower "
                    f"bound; lower bound operand: {_describe(value)}, upper bound operand: {_describe(high)}"
                )
            return
        if bad:
            raise _invalid(
                f"Invalid {kind}: Incorrect operand type for operator or function; operator or function: {detail}, "
                f"operand type: {value_type}"
            )

    def condition(self, kind: str = "ConditionExpression") -> Condition | None:
        parsed = self.parsed.get(kind)
        return parsed.tree if parsed is not None else None

    def passes(self, item: Mapping[str, AttributeValue] | None, kind: str = "ConditionExpression") -> bool:
        parsed = self.parsed.get(kind)
        if parsed is None:
            return True
        tree: Condition = parsed.tree
        return tree.test(_Eval(item or {}, self.names, self.values))

    def projection(self) -> list[tuple[Elem, ...]] | None:
        parsed = self.parsed.get("ProjectionExpression")
        if parsed is None:
            return None
        paths = [_resolved(path.elems, self.names) for path in parsed.tree]
        if len(paths) > 1:
            _check_overlaps("ProjectionExpression", paths)
        return paths


def _project(item: Mapping[str, AttributeValue], paths: list[tuple[Elem, ...]]) -> Item:
    """A copy of the parts of `item` the paths name; nested paths keep their structure, list
    elements are compacted in index order."""
    tree: dict[Elem, Any] = {}
    for path in paths:
        if _lookup(item, path) is None:
            continue
        node = tree
        for element in path[:-1]:
            child = node.get(element)
            if child is None:
                child = node[element] = {}
            node = child
        node[path[-1]] = True
    return {str(name): _projected(item[str(name)], sub) for name, sub in tree.items()}


def _projected(value: AttributeValue, node: dict[Elem, Any] | bool) -> AttributeValue:
    if node is True:
        return _copy(value)
    assert isinstance(node, dict)
    if "M" in value:
        entries = value["M"]
        return {"M": {str(k): _projected(entries[str(k)], sub) for k, sub in node.items()}}
    elements = value["L"]
    return {"L": [_projected(elements[int(k)], node[k]) for k in sorted(node, key=int)]}


def _check_overlaps(kind: str, paths: list[tuple[Elem, ...]]) -> None:
    """DynamoDB refuses two paths of one expression where one contains the other."""
    for i, one in enumerate(paths):
        for two in paths[i + 1 :]:
            shared = min(len(one), len(two))
            common = 0
            while common < shared and one[common] == two[common] and type(one[common]) is type(two[common]):
                common += 1
            if common == shared:
                problem = "overlap"
            elif type(one[common]) is not type(two[common]):
                problem = "conflict"
            else:
                continue
            raise _invalid(
                f"Invalid {kind}: Two document paths {problem} with each other; must remove or rewrite one of these "
                f"paths; path one: [{', '.join(map(str, one))}], path two: [{', '.join(map(str, two))}]"
            )


class _UpdateError(Exception):
    pass


def _apply_at(
    container: Item, path: tuple[Elem, ...], apply: Callable[[dict[Any, Any] | list[Any], Elem], None]
) -> None:
    """Copy-on-write walk from the (already copied) top-level item to the parent of the path's last
    element, then `apply(parent, last)`. A missing or wrong-typed parent is an invalid path."""
    if len(path) == 1:
        apply(container, path[0])
        return
    first = path[0]
    parent: Any = container
    key: Any = first
    for element in path[1:]:
        current = parent.get(key) if isinstance(parent, dict) else (parent[key] if key < len(parent) else None)
        if current is None:
            raise _invalid(_INVALID_PATH)
        if type(element) is int:
            if "L" not in current:
                raise _invalid(_INVALID_PATH)
            copied: AttributeValue = {"L": list(current["L"])}
            inner: Any = copied["L"]
        else:
            if "M" not in current:
                raise _invalid(_INVALID_PATH)
            copied = {"M": dict(current["M"])}
            inner = copied["M"]
        parent[key] = copied
        parent, key = inner, element
    apply(parent, key)


def _put_at(target: dict[Any, Any] | list[Any], key: Elem, value: AttributeValue) -> None:
    if isinstance(target, list):
        assert type(key) is int
        if key < len(target):
            target[key] = value
        else:
            target.append(value)
    else:
        target[key] = value


def _putter(value: AttributeValue) -> Callable[[dict[Any, Any] | list[Any], Elem], None]:
    def put(target: dict[Any, Any] | list[Any], key: Elem) -> None:
        _put_at(target, key, value)

    return put


def _remove_at(target: dict[Any, Any] | list[Any], key: Elem) -> None:
    if isinstance(target, list):
        assert type(key) is int
        if key < len(target):
            del target[key]
    else:
        target.pop(key, None)


def _arith(op: str, a: AttributeValue, b: AttributeValue) -> AttributeValue:
    if "N" not in a or "N" not in b:
        raise _invalid(_BAD_OPERAND)
    x, y = _num(a["N"]), _num(b["N"])
    if type(x) is int and type(y) is int:
        result = x + y if op == "+" else x - y
        text = str(result)
        if len(text.lstrip("-")) <= 38:
            return {"N": text}
        return {"N": _normal_number(text)}
    exact = _EXACT.add(Decimal(x), Decimal(y)) if op == "+" else _EXACT.subtract(Decimal(x), Decimal(y))
    return {"N": _normal_number(str(exact))}


@dataclass(slots=True)
class _Write:
    """One write decided under the lock: the item before and after."""

    table: _Table
    key: Key
    old: Item | None
    new: Item | None
    size: int = 0


class StubDynamoClient:
    """An in-memory DynamoDB low-level client (see the module docstring for what it implements).

    Thread-safe: each request is atomic under one lock; `latency_s` is slept outside it.
    `calls` counts requests by operation name (PutItem, Query, ...)."""

    def __init__(self, latency_s: float = 0.005) -> None:
        self.latency_s = latency_s
        self.calls: Counter[str] = Counter()
        self.exceptions = _Exceptions()
        self.closed = False
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {}
        self._tokens: dict[str, tuple[float, Any]] = {}
        self._request_ids = itertools.count(1)

    # --- plumbing ----------------------------------------------------------------------------
    def _run(
        self, operation: str, params: dict[str, Any], handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        try:
            _check_params(operation, params, _SUPPORTED[operation], _REQUIRED[operation])
        except _Error as refused:
            raise self._client_error(operation, refused) from None
        half = self.latency_s / 2
        if half > 0:
            time.sleep(half)
        error: ClientError | None = None
        try:
            answer = handler(params)
        except _Error as failure:
            error = self._client_error(operation, failure)
        if half > 0:
            time.sleep(half)
        if error is not None:
            raise error
        answer["ResponseMetadata"] = self._metadata(200)
        return answer

    def _metadata(self, status: int) -> dict[str, Any]:
        return {
            "RequestId": f"stub-{next(self._request_ids)}",
            "HTTPStatusCode": status,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        }

    def _client_error(self, operation: str, failure: _Error) -> ClientError:
        response: dict[str, Any] = {
            "Error": {"Message": failure.message, "Code": failure.code},
            "ResponseMetadata": self._metadata(400),
        }
        member = _MESSAGE_MEMBER.get(failure.code)
        if member is not None:
            response[member] = failure.message
        response.update(failure.fields)
        return _MODELED.get(failure.code, ClientError)(response, operation)  # type: ignore[arg-type]

    def _table(self, name: Any) -> _Table:
        if type(name) is not str:
            _param_error(f"Invalid type for parameter TableName, value: {name!r}, valid types: <class 'str'>")
        table = self._tables.get(name)
        if table is None:
            raise _Error("ResourceNotFoundException", "Requested resource not found")
        return table

    def _new_item(self, table: _Table, raw: Any, where: str = "Item") -> tuple[Key, Item, int]:
        if type(raw) is not dict:
            _param_error(f"Invalid type for parameter {where}, value: {raw!r}, valid types: <class 'dict'>")
        item = {name: _checked(value, f"{where}.{name}") for name, value in raw.items()}
        for name in item:
            if not name:
                raise _invalid(
                    "One or more parameter values were invalid: An AttributeValue may not contain an empty "
                    "attribute name"
                )
        key = table.item_key(item)
        table.check_index_keys(item)
        size = _item_size(item)
        if size > ITEM_LIMIT:
            raise _invalid("Item size has exceeded the maximum allowed size")
        return key, item, size

    @staticmethod
    def _return_values(params: Mapping[str, Any], allowed: tuple[str, ...], name: str = "ReturnValues") -> str:
        value = params.get(name, "NONE")
        if value not in allowed:
            if name == "ReturnValues":
                raise _invalid("Return values set to invalid value")
            raise _invalid(
                f"1 validation error detected: Value '{value}' at '{name[0].lower() + name[1:]}' failed to satisfy "
                "constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
            )
        return str(value)

    @staticmethod
    def _condition_failed(old: Item | None, on_failure: str) -> _Error:
        if on_failure == "ALL_OLD" and old is not None:
            return _Error("ConditionalCheckFailedException", _CONDITION_FAILED, Item=_copy_item(old))
        return _Error("ConditionalCheckFailedException", _CONDITION_FAILED)

    # --- tables ------------------------------------------------------------------------------
    def create_table(self, **params: Any) -> dict[str, Any]:
        return self._run("CreateTable", params, self._create_table)

    def _create_table(self, params: dict[str, Any]) -> dict[str, Any]:
        table = _table_from(params)
        with self._lock:
            if table.name in self._tables:
                raise _Error("ResourceInUseException", f"Table already exists: {table.name}")
            self._tables[table.name] = table
        return {"TableDescription": dict(table.description)}

    def describe_table(self, **params: Any) -> dict[str, Any]:
        return self._run("DescribeTable", params, self._describe_table)

    def _describe_table(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            table = self._table(params["TableName"])
            return {"Table": {**table.description, "ItemCount": len(table.items)}}

    def close(self) -> None:
        self.closed = True

    # --- items -------------------------------------------------------------------------------
    def put_item(self, **params: Any) -> dict[str, Any]:
        return self._run("PutItem", params, self._put_item)

    def _put_item(self, params: dict[str, Any]) -> dict[str, Any]:
        table = self._table(params["TableName"])
        returns = self._return_values(params, ("NONE", "ALL_OLD"))
        on_failure = self._return_values(params, ("NONE", "ALL_OLD"), "ReturnValuesOnConditionCheckFailure")
        request = _Request(params)
        request.parse(params, "ConditionExpression")
        request.validate()
        key, item, size = self._new_item(table, params["Item"])
        with self._lock:
            self.calls["PutItem"] += 1
            stored = table.items.get(key)
            old = stored[0] if stored is not None else None
            if not request.passes(old):
                raise self._condition_failed(old, on_failure)
            table.write(key, old, item, size)
        if returns == "ALL_OLD" and old is not None:
            return {"Attributes": _copy_item(old)}
        return {}

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._run("GetItem", params, self._get_item)

    def _get_item(self, params: dict[str, Any]) -> dict[str, Any]:
        table = self._table(params["TableName"])
        _check_type(params, "ConsistentRead", bool)
        request = _Request(params)
        request.parse(params, "ProjectionExpression")
        request.validate()
        key = table.key_of(params["Key"])
        with self._lock:
            self.calls["GetItem"] += 1
            stored = table.items.get(key)
        if stored is None:
            return {}
        paths = request.projection()
        return {"Item": _project(stored[0], paths) if paths is not None else _copy_item(stored[0])}

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self._run("DeleteItem", params, self._delete_item)

    def _delete_item(self, params: dict[str, Any]) -> dict[str, Any]:
        table = self._table(params["TableName"])
        returns = self._return_values(params, ("NONE", "ALL_OLD"))
        on_failure = self._return_values(params, ("NONE", "ALL_OLD"), "ReturnValuesOnConditionCheckFailure")
        request = _Request(params)
        request.parse(params, "ConditionExpression")
        request.validate()
        key = table.key_of(params["Key"])
        with self._lock:
            self.calls["DeleteItem"] += 1
            stored = table.items.get(key)
            old = stored[0] if stored is not None else None
            if not request.passes(old):
                raise self._condition_failed(old, on_failure)
            if old is not None:
                table.write(key, old, None)
        if returns == "ALL_OLD" and old is not None:
            return {"Attributes": _copy_item(old)}
        return {}

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._run("UpdateItem", params, self._update_item)

    def _update_item(self, params: dict[str, Any]) -> dict[str, Any]:
        table = self._table(params["TableName"])
        returns = self._return_values(params, ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"))
        on_failure = self._return_values(params, ("NONE", "ALL_OLD"), "ReturnValuesOnConditionCheckFailure")
        request = _Request(params)
        request.parse(params, "UpdateExpression", "ConditionExpression")
        request.validate()
        key = table.key_of(params["Key"])
        paths = self._update_paths(table, request)
        with self._lock:
            self.calls["UpdateItem"] += 1
            stored = table.items.get(key)
            old = stored[0] if stored is not None else None
            if not request.passes(old):
                raise self._condition_failed(old, on_failure)
            new, size = self._updated(table, key, old, request)
            table.write(key, old, new, size)
        if returns == "NONE":
            return {}
        if returns == "ALL_OLD":
            return {"Attributes": _copy_item(old)} if old is not None else {}
        if returns == "ALL_NEW":
            return {"Attributes": _copy_item(new)}
        attributes = _project(old or {}, paths) if returns == "UPDATED_OLD" else _project(new, paths)
        return {"Attributes": attributes} if attributes else {}

    @staticmethod
    def _update_paths(table: _Table, request: _Request) -> list[tuple[Elem, ...]]:
        """The update's target paths, resolved; refuses key updates and overlapping paths."""
        parsed = request.parsed.get("UpdateExpression")
        if parsed is None:
            return []
        tree: _UpdateTree = parsed.tree
        targets = [
            *(action.path for action in tree.sets),
            *tree.removes,
            *(path for path, _ in tree.adds),
            *(path for path, _ in tree.deletes),
        ]
        resolved = [_resolved(path.elems, request.names) for path in targets]
        for path in resolved:
            if path[0] in (table.hash_attr, table.range_attr):
                raise _invalid(
                    f"One or more parameter values were invalid: Cannot update attribute {path[0]}. "
                    "This attribute is part of the key"
                )
        if len(resolved) > 1:
            _check_overlaps("UpdateExpression", resolved)
        return resolved

    def _updated(self, table: _Table, key: Key, old: Item | None, request: _Request) -> tuple[Item, int]:
        """The item after the update expression (the stored one is left untouched)."""
        new: Item = dict(old) if old is not None else table.key_item(key)
        parsed = request.parsed.get("UpdateExpression")
        if parsed is None:
            return new, _item_size(new)
        tree: _UpdateTree = parsed.tree
        names, values = request.names, request.values
        ev = _Eval(old or {}, names, values)

        def operand(node: Any) -> AttributeValue:
            if isinstance(node, _Val):
                return values[node.name]
            if isinstance(node, _Path):
                found = node.value(ev)
                if found is None:
                    raise _invalid(_MISSING_OPERAND)
                return found
            op, first, second = node
            if op == "if_not_exists":
                found = first.value(ev)
                return found if found is not None else operand(second)
            if op == "list_append":
                a, b = operand(first), operand(second)
                if "L" not in a or "L" not in b:
                    raise _invalid(_BAD_OPERAND)
                return {"L": [*a["L"], *b["L"]]}
            return _arith(op, operand(first), operand(second))

        # every right-hand side is evaluated on the item before the update
        assignments = [(_resolved(action.path.elems, names), operand(action.value)) for action in tree.sets]
        for path, value in assignments:
            _apply_at(new, path, _putter(_copy(value)))
        removes = sorted(
            (_resolved(path.elems, names) for path in tree.removes),
            key=lambda p: tuple((1, -e, "") if type(e) is int else (0, 0, e) for e in p),
        )
        for path in removes:
            _apply_at(new, path, _remove_at)
        for path_node, value_node in tree.adds:
            path = _resolved(path_node.elems, names)
            self._add(new, path, values[value_node.name], delete=False)
        for path_node, value_node in tree.deletes:
            path = _resolved(path_node.elems, names)
            self._add(new, path, values[value_node.name], delete=True)
        table.check_index_keys(new)
        size = _item_size(new)
        if size > ITEM_LIMIT:
            raise _invalid("Item size to update has exceeded the maximum allowed size")
        return new, size

    @staticmethod
    def _add(item: Item, path: tuple[Elem, ...], value: AttributeValue, *, delete: bool) -> None:
        def apply(target: dict[Any, Any] | list[Any], last: Elem) -> None:
            if isinstance(target, dict):
                current = target.get(last)
            else:
                current = target[last] if type(last) is int and last < len(target) else None
            kind = _type_of(value)
            if current is None:
                if not delete:
                    _put_at(target, last, _copy(value))
                return
            if _type_of(current) != kind:
                raise _invalid(_BAD_OPERAND)
            if kind == "N":
                _put_at(target, last, _arith("+", current, value))
                return
            if kind == "NS":
                have = {_num(n): n for n in current["NS"]}
                change = {_num(n): n for n in value["NS"]}
            else:
                have = {e: e for e in current[kind]}
                change = {e: e for e in value[kind]}
            if delete:
                left = [v for k, v in have.items() if k not in change]
                if left:
                    _put_at(target, last, {kind: left})
                else:
                    _remove_at(target, last)
            else:
                _put_at(target, last, {kind: [*have.values(), *(v for k, v in change.items() if k not in have)]})

        _apply_at(item, path, apply)

    # --- queries -----------------------------------------------------------------------------
    def query(self, **params: Any) -> dict[str, Any]:
        return self._run("Query", params, self._query)

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        table = self._table(params["TableName"])
        index_name = _check_type(params, "IndexName", str)
        index = table.by_name.get(index_name)
        if index is None:
            raise _invalid(f"The table does not have the specified index: {index_name}")
        consistent = _check_type(params, "ConsistentRead", bool)
        if consistent and index.kind == "GSI":
            raise _invalid("Consistent reads are not supported on global secondary indexes")
        forward = _check_type(params, "ScanIndexForward", bool)
        forward = True if forward is None else forward
        limit = _check_type(params, "Limit", int)
        if limit is not None and limit < 1:
            _param_error(f"Invalid value for parameter Limit, value: {limit}, valid min value: 1")
        if "KeyConditionExpression" not in params:
            raise _unsupported("a Query without KeyConditionExpression")
        request = _Request(params)
        request.parse(params, "KeyConditionExpression", "FilterExpression", "ProjectionExpression")
        request.validate()
        part, low, high = self._key_range(index, request)
        filtered = request.parsed.get("FilterExpression")
        if filtered is not None:
            for path in filtered.paths:
                name = _resolved(path.elems[:1], request.names)[0]
                if name in (index.hash_attr, index.range_attr):
                    raise _invalid(
                        f"Filter Expression can only contain non-primary key attributes: Primary key attribute: {name}"
                    )
        start = self._start(table, index, part, params.get("ExclusiveStartKey"), low, high)
        paths = request.projection()
        items: list[Item] = []
        scanned = 0
        read = 0
        last: Item | None = None
        with self._lock:
            self.calls["Query"] += 1
            entries = index.parts.get(part, [])
            lo, hi = low(entries), high(entries)
            if start is not None:
                if forward:
                    lo = max(lo, bisect.bisect_right(entries, start))
                else:
                    hi = min(hi, bisect.bisect_left(entries, start))
            positions = range(lo, hi) if forward else range(hi - 1, lo - 1, -1)
            for position in positions:
                entry = entries[position]
                stored = table.items[index.table_key(part, entry)]
                item = index.project(stored[0])
                scanned += 1
                read += stored[1] if index.kind != "GSI" or index.projection == "ALL" else _item_size(item)
                if request.passes(item, "FilterExpression"):
                    items.append(item)
                if (limit is not None and scanned >= limit) or read >= PAGE_LIMIT:
                    last = item  # DynamoDB does not look ahead: a full page has a next key
                    break
        answer: dict[str, Any] = {
            "Items": [_project(i, paths) if paths is not None else _copy_item(i) for i in items],
            "Count": len(items),
            "ScannedCount": scanned,
        }
        if last is not None:
            answer["LastEvaluatedKey"] = {name: _copy(last[name]) for name in index.key_attrs}
        return answer

    @staticmethod
    def _key_range(
        index: _Index, request: _Request
    ) -> tuple[Any, Callable[[list[Entry]], int], Callable[[list[Entry]], int]]:
        """The partition and the bounds (as functions of the partition's entries) of the key condition."""
        condition: _KeyCondition = request.parsed["KeyConditionExpression"].tree
        names, values = request.names, request.values
        parts = [(names.get(name, name), op, operands) for name, op, operands in condition.parts]
        on_hash = [p for p in parts if p[0] == index.hash_attr]
        if not on_hash:
            raise _invalid(f"Query condition missed key schema element: {index.hash_attr}")
        if len(on_hash) > 1:
            raise _invalid("KeyConditionExpressions must only contain one condition per key")
        if on_hash[0][1] != "=":
            raise _invalid("Query key condition not supported")
        hash_value = on_hash[0][2][0]
        on_range = [p for p in parts if p is not on_hash[0]]
        if on_range and on_range[0][0] != index.range_attr:
            raise _invalid(f"Query condition missed key schema element: {index.range_attr}")

        def key_value(placeholder: str, name: str, wanted: str) -> Any:
            value = values[placeholder]
            if _type_of(value) != wanted:
                raise _invalid(
                    "One or more parameter values were invalid: Condition parameter type does not match schema type"
                )
            if wanted in ("S", "B") and not value[wanted]:
                raise _invalid(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
                    f"an empty string value. Key: {name}"
                )
            return _scalar(value)

        part = key_value(hash_value, index.hash_attr, index.hash_type)
        everything: Callable[[list[Entry]], int] = _zero
        to_end: Callable[[list[Entry]], int] = len
        if not on_range:
            return part, everything, to_end
        _, op, range_values = on_range[0]
        if op == "begins_with" and index.range_type == "N":
            raise _invalid(
                "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
                "operator or function: begins_with, operand type: N"
            )
        bounds = [key_value(v, index.range_attr, index.range_type) for v in range_values]
        if op == "BETWEEN" and bounds[0] > bounds[1]:
            low_value, high_value = (values[v] for v in range_values)
            raise _invalid(
                "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal "
                f"to lower bound; lower bound operand: {_describe(low_value)}, upper bound operand: "
                f"{_describe(high_value)}"
            )
        first = itemgetter(0)
        v = bounds[0]

        def left(x: Any) -> Callable[[list[Entry]], int]:
            return lambda entries: bisect.bisect_left(entries, x, key=first)

        def right(x: Any) -> Callable[[list[Entry]], int]:
            return lambda entries: bisect.bisect_right(entries, x, key=first)

        if op == "=":
            return part, left(v), right(v)
        if op == "<":
            return part, everything, left(v)
        if op == "<=":
            return part, everything, right(v)
        if op == ">":
            return part, right(v), to_end
        if op == ">=":
            return part, left(v), to_end
        if op == "BETWEEN":
            return part, left(v), right(bounds[1])
        # begins_with: [prefix, successor of prefix)
        successor = _successor(v)
        return part, left(v), (left(successor) if successor is not None else to_end)

    @staticmethod
    def _start(
        table: _Table,
        index: _Index,
        part: Any,
        start_key: Any,
        low: Callable[[list[Entry]], int],
        high: Callable[[list[Entry]], int],
    ) -> Entry | None:
        """The ExclusiveStartKey as an entry of the index."""
        if start_key is None:
            return None
        if type(start_key) is not dict:
            _param_error(
                f"Invalid type for parameter ExclusiveStartKey, value: {start_key!r}, valid types: <class 'dict'>"
            )
        if set(start_key) != set(index.key_attrs):
            raise _invalid("The provided starting key is invalid: The provided key element does not match the schema")
        scalars: dict[str, Any] = {}
        for name in index.key_attrs:
            value = _checked(start_key[name], f"ExclusiveStartKey.{name}")
            if _type_of(value) != table.types[name]:
                raise _invalid(
                    "The provided starting key is invalid: The provided key element does not match the schema"
                )
            scalars[name] = _scalar(value)
        if scalars[index.hash_attr] != part:
            raise _invalid("The provided starting key is outside query boundaries based on provided conditions")
        key = (scalars[table.hash_attr], scalars[table.range_attr])
        if index.kind == "TABLE":
            entry: Entry = (key[1], key[1])
        elif index.kind == "LSI":
            entry = (scalars[index.range_attr], key[1])
        else:
            entry = (scalars[index.range_attr], key[0], key[1])
        probe = [entry]
        if not (low(probe) == 0 and high(probe) == 1):
            raise _invalid("The provided starting key is outside query boundaries based on provided conditions")
        return entry

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return self._run("BatchGetItem", params, self._batch_get_item)

    def _batch_get_item(self, params: dict[str, Any]) -> dict[str, Any]:
        request_items = params["RequestItems"]
        if type(request_items) is not dict:
            _param_error("Invalid type for parameter RequestItems, valid types: <class 'dict'>")
        if not request_items:
            raise _invalid(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member "
                "must have length greater than or equal to 1"
            )
        plans: list[tuple[str, _Table, list[tuple[Key, Any]], _Request]] = []
        total = 0
        for table_name, spec in request_items.items():
            table = self._table(table_name)
            extra = spec.keys() - {"Keys", "ConsistentRead", "ProjectionExpression", "ExpressionAttributeNames"}
            if extra:
                raise _unsupported(f"{', '.join(sorted(extra))} in BatchGetItem")
            if "Keys" not in spec:
                _param_error(f'Missing required parameter in RequestItems.{table_name}: "Keys"')
            _check_type(spec, "ConsistentRead", bool)
            request = _Request(spec)
            request.parse(spec, "ProjectionExpression")
            request.validate()
            keys = [(table.key_of(raw, f"RequestItems.{table_name}.Keys"), raw) for raw in spec["Keys"]]
            if not keys:
                raise _invalid(
                    "1 validation error detected: Value at 'requestItems.keys' failed to satisfy constraint: "
                    "Member must have length greater than or equal to 1"
                )
            if len({k for k, _ in keys}) != len(keys):
                raise _invalid("Provided list of item keys contains duplicates")
            total += len(keys)
            plans.append((table_name, table, keys, request))
        if total > 100:
            raise _invalid("Too many items requested for the BatchGetItem call")
        responses: dict[str, list[Item]] = {}
        unprocessed: dict[str, Any] = {}
        size = 0
        with self._lock:
            self.calls["BatchGetItem"] += 1
            found = [[table.items.get(key) for key, _ in keys] for _, table, keys, _ in plans]
        for (table_name, _, keys, request), stored_items in zip(plans, found, strict=True):
            paths = request.projection()
            out = responses.setdefault(table_name, [])
            for (_, raw), stored in zip(keys, stored_items, strict=True):
                if stored is None:
                    continue
                if size + stored[1] > BATCH_GET_LIMIT:
                    spec = request_items[table_name]
                    left = unprocessed.setdefault(
                        table_name, {**{k: v for k, v in spec.items() if k != "Keys"}, "Keys": []}
                    )
                    left["Keys"].append(raw)
                    continue
                size += stored[1]
                out.append(_project(stored[0], paths) if paths is not None else _copy_item(stored[0]))
        return {"Responses": responses, "UnprocessedKeys": unprocessed}

    def batch_write_item(self, **params: Any) -> dict[str, Any]:
        return self._run("BatchWriteItem", params, self._batch_write_item)

    def _batch_write_item(self, params: dict[str, Any]) -> dict[str, Any]:
        request_items = params["RequestItems"]
        if type(request_items) is not dict:
            _param_error("Invalid type for parameter RequestItems, valid types: <class 'dict'>")
        if not request_items:
            raise _invalid(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member "
                "must have length greater than or equal to 1"
            )
        plans: list[tuple[_Table, Key, Item | None, int]] = []
        seen: set[tuple[str, Key]] = set()
        for table_name, writes in request_items.items():
            table = self._table(table_name)
            if type(writes) is not list or not writes:
                raise _invalid(
                    "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map "
                    "value must satisfy constraint: [Member must have length less than or equal to 25, Member "
                    "must have length greater than or equal to 1]"
                )
            for write in writes:
                if type(write) is not dict or len(write) != 1 or not (write.keys() <= {"PutRequest", "DeleteRequest"}):
                    raise _invalid(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of "
                        "the supported datatypes"
                    )
                if "PutRequest" in write:
                    key, item, size = self._new_item(table, write["PutRequest"].get("Item"), "PutRequest.Item")
                    plans.append((table, key, item, size))
                else:
                    key = table.key_of(write["DeleteRequest"].get("Key"), "DeleteRequest.Key")
                    plans.append((table, key, None, 0))
                if (table_name, key) in seen:
                    raise _invalid("Provided list of item keys contains duplicates")
                seen.add((table_name, key))
        if len(plans) > 25:
            raise _invalid(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value "
                "must satisfy constraint: [Member must have length less than or equal to 25, Member must have "
                "length greater than or equal to 1]"
            )
        with self._lock:
            self.calls["BatchWriteItem"] += 1
            for table, key, new, size in plans:
                stored = table.items.get(key)
                old = stored[0] if stored is not None else None
                if new is not None or old is not None:
                    table.write(key, old, new, size)
        return {"UnprocessedItems": {}}

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return self._run("TransactWriteItems", params, self._transact_write_items)

    def _transact_write_items(self, params: dict[str, Any]) -> dict[str, Any]:
        actions = params["TransactItems"]
        if type(actions) is not list:
            _param_error("Invalid type for parameter TransactItems, valid types: <class 'list'>")
        if not 1 <= len(actions) <= 100:
            bound = "less than or equal to 100" if actions else "greater than or equal to 1"
            raise _invalid(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
                f"Member must have length {bound}"
            )
        token = _check_type(params, "ClientRequestToken", str)
        plans: list[tuple[str, _Table, Key, Item | None, int, _Request, str]] = []
        seen: set[tuple[str, Key]] = set()
        for action in actions:
            if type(action) is not dict or len(action) != 1:
                raise _invalid("TransactItems can only contain one of Check, Put, Update or Delete")
            ((verb, spec),) = action.items()
            if verb not in _TRANSACT_SUPPORTED:
                _param_error(
                    f'Unknown parameter in TransactItems: "{verb}", must be one of: ConditionCheck, Put, Delete, Update'
                )
            extra = spec.keys() - _TRANSACT_SUPPORTED[verb] - _EXPRESSION_PARAMS
            if extra:
                raise _unsupported(f"{', '.join(sorted(extra))} in TransactWriteItems {verb}")
            table = self._table(spec.get("TableName"))
            on_failure = self._return_values(spec, ("NONE", "ALL_OLD"), "ReturnValuesOnConditionCheckFailure")
            request = _Request(spec)
            for required in _TRANSACT_REQUIRED[verb]:
                if required not in spec:
                    _param_error(f'Missing required parameter in TransactItems.{verb}: "{required}"')
            request.parse(spec, "UpdateExpression", "ConditionExpression")
            request.validate()
            item: Item | None = None
            size = 0
            if verb == "Put":
                key, item, size = self._new_item(table, spec.get("Item"), "Put.Item")
            else:
                key = table.key_of(spec.get("Key"), f"{verb}.Key")
            if verb == "Update":
                self._update_paths(table, request)
            if (table.name, key) in seen:
                raise _invalid("Transaction request cannot include multiple operations on one item")
            seen.add((table.name, key))
            plans.append((verb, table, key, item, size, request, on_failure))
        with self._lock:
            self.calls["TransactWriteItems"] += 1
            now = time.monotonic()
            if token is not None:
                while self._tokens:
                    oldest = next(iter(self._tokens))
                    if now - self._tokens[oldest][0] < TOKEN_TTL_S:
                        break
                    del self._tokens[oldest]
                previous = self._tokens.get(token)
                if previous is not None:
                    if previous[1] != actions:
                        raise _Error(
                            "IdempotentParameterMismatchException",
                            "Request parameters do not match the previous request with the same client token",
                        )
                    return {}
            reasons: list[dict[str, Any]] = []
            writes: list[_Write] = []
            for verb, table, key, item, size, request, on_failure in plans:
                stored = table.items.get(key)
                old = stored[0] if stored is not None else None
                if not request.passes(old):
                    reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": _CONDITION_FAILED}
                    if on_failure == "ALL_OLD" and old is not None:
                        reason["Item"] = _copy_item(old)
                    reasons.append(reason)
                    continue
                try:
                    if verb == "Put":
                        writes.append(_Write(table, key, old, item, size))
                    elif verb == "Delete":
                        writes.append(_Write(table, key, old, None))
                    elif verb == "Update":
                        new, new_size = self._updated(table, key, old, request)
                        writes.append(_Write(table, key, old, new, new_size))
                except _Error as failure:
                    reasons.append({"Code": "ValidationError", "Message": failure.message})
                    continue
                reasons.append({"Code": "None"})
            if any(r["Code"] != "None" for r in reasons):
                codes = ", ".join(r["Code"] for r in reasons)
                raise _Error(
                    "TransactionCanceledException",
                    f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                    CancellationReasons=reasons,
                )
            for write in writes:
                if write.new is not None or write.old is not None:
                    write.table.write(write.key, write.old, write.new, write.size)
            if token is not None:
                self._tokens[token] = (now, _copy_request(actions))
        return {}

    # --- inspection (tests) ------------------------------------------------------------------
    def item_count(self, table_name: str) -> int:
        with self._lock:
            return len(self._table(table_name).items)


def _zero(entries: list[Entry]) -> int:
    return 0


def _copy_request(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_request(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_request(v) for v in value]
    return value


def _successor(prefix: Any) -> Any:
    """The least value above every value that starts with `prefix` (None: there is none)."""
    if isinstance(prefix, str):
        for i in range(len(prefix) - 1, -1, -1):
            if ord(prefix[i]) < 0x10FFFF:
                return prefix[:i] + chr(ord(prefix[i]) + 1)
        return None
    if isinstance(prefix, bytes):
        for i in range(len(prefix) - 1, -1, -1):
            if prefix[i] < 0xFF:
                return prefix[:i] + bytes([prefix[i] + 1])
        return None
    return None


__all__ = ["StubDynamoClient"]
