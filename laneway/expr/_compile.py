"""Compile a parse tree into a tree of Python closures, once; evaluate them many times.

Each node of the lark tree becomes a closure `fn(scope) -> value`. The lark tree is walked only
at compile time, so evaluating `amount > 100 and status = "open"` is a handful of Python calls.

A scope is anything with `.get(name)`: the caller's Mapping itself when the expression binds no
names of its own (the fast path), or a `_Scope` chain when it iterates or builds a context whose
entries refer to each other. Only `_Scope` carries the work budget, so every node that iterates
marks the expression `scoped` and `CompiledExpression` then wraps the caller's variables.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from lark import Token, Tree

from laneway.expr._errors import EvalProblem, ExpressionError, Mismatch, where
from laneway.expr._functions import FUNCTIONS, ArgMismatch
from laneway.expr._grammar import parse
from laneway.expr._juel import JuelCalls, java_remainder
from laneway.expr._values import (
    MAX_INT_BITS,
    MAX_LIST,
    a_kind,
    add,
    divide,
    equal,
    get_path,
    greater,
    greater_equal,
    is_empty,
    is_list,
    kind,
    less,
    less_equal,
    multiply,
    negate,
    normalize,
    not_equal,
    order,
    power,
    subtract,
)

Fn = Callable[[Any], Any]

#: Deepest nesting of operators and brackets accepted. Chains of `and`/`or` are flattened and do
#: not count; this bounds Python recursion at compile and evaluation time.
MAX_DEPTH = 100

#: How many loop steps (for, some, every, filters) one evaluation may take in total: nested
#: loops over long lists must end with an error, not run for hours.
MAX_STEPS = 1_000_000

_MISSING = object()


class _NoVariables:
    """The end of every scope chain: every name is unknown, so null."""

    __slots__ = ()

    def get(self, name: str, default: Any = None) -> Any:
        return default


_NO_VARIABLES = _NoVariables()


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_STEPS


class _Scope:
    """Names bound by the expression (loop variables, context entries) over an outer scope."""

    __slots__ = ("budget", "local", "parent")

    def __init__(self, local: Mapping[str, Any], parent: Any, budget: _Budget) -> None:
        self.local = local
        self.parent = parent
        self.budget = budget

    def get(self, name: str, default: Any = None) -> Any:
        value = self.local.get(name, _MISSING)
        if value is _MISSING:
            return self.parent.get(name, default)
        return value


class _ItemScope:
    """Inside a filter `items[...]`: `item` is the element and a context's entries are names."""

    __slots__ = ("budget", "item", "parent")

    def __init__(self, item: Any, parent: Any, budget: _Budget) -> None:
        self.item = item
        self.parent = parent
        self.budget = budget

    def get(self, name: str, default: Any = None) -> Any:
        item = self.item
        if isinstance(item, Mapping):
            value = item.get(name, _MISSING)
            if value is not _MISSING:
                return value
        if name == "item":
            return item
        return self.parent.get(name, default)


def _step(scope: Any) -> None:
    budget = scope.budget
    budget.left -= 1
    if budget.left < 0:
        raise EvalProblem(f"Expression takes too many steps (more than {MAX_STEPS} loop steps)")


#: Characters of a string argument that cost one step: string functions run in C, about a
#: hundred times faster per character than a loop step.
_CHARS_PER_STEP = 100


def _charge(scope: Any, values: list[Any]) -> None:
    """A built-in function's call costs one step and one per item of each list it is given
    (and per hundred characters of each string): `for x in 1..1000 return sum(items)` over a
    long list does a million steps' work in a thousand loop steps, and must count as such."""
    budget = getattr(scope, "budget", None)
    if budget is None:
        # the fast path (no loop in the expression): one call, bounded by its arguments
        return
    cost = 1
    for value in values:
        if isinstance(value, list):
            cost += len(value)
        elif isinstance(value, str):
            cost += len(value) // _CHARS_PER_STEP
    budget.left -= cost
    if budget.left < 0:
        raise EvalProblem(f"Expression takes too many steps (more than {MAX_STEPS} loop steps)")


def _charge_string(scope: Any, text: str) -> None:
    """A string an operator built costs a step per hundred characters: `for x in 1..99999
    return s + "."` over a string near the size limit takes few steps but asks for 100 GB."""
    budget = getattr(scope, "budget", None)
    if budget is None:
        return
    budget.left -= len(text) // _CHARS_PER_STEP
    if budget.left < 0:
        raise EvalProblem(f"Expression takes too many steps (more than {MAX_STEPS} loop steps)")


class _NullDomain(Exception):
    """`for`/`some`/`every` over null: the whole expression is null."""


@dataclass(frozen=True, slots=True)
class _Node:
    fn: Fn
    #: 'literal', 'var' (name or path), 'bool' (always true/false/null), 'not_kw' (a bare
    #: `not x`, see _no_bare_not), 'interval' or 'other'.
    kind: str
    #: How the operand is written, for messages: 'amount', 100, "open".
    desc: str
    start: int
    names: frozenset[str]
    #: Needs a _Scope root (iterates or chains context entries).
    scoped: bool = False
    value: Any = None


class CompiledExpression:
    """A parsed and compiled expression; evaluate it as often as needed, from any thread."""

    __slots__ = ("_fn", "_scoped", "text", "variables")

    def __init__(self, text: str, fn: Fn, variables: frozenset[str], scoped: bool) -> None:
        self.text = text
        #: Top-level variable names the expression reads (see `variable_names`).
        self.variables = variables
        self._fn = fn
        self._scoped = scoped

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r})"

    def evaluate(self, variables: Mapping[str, Any] | None = None) -> Any:
        """Evaluate with `variables`; unknown names are null.

        Returns JSON-like values (Decimal results become int or float) or dates/durations.
        Raises `ExpressionError` for type errors and exceeded limits, never anything else.
        """
        scope: Any = variables if variables is not None else {}
        if self._scoped:
            scope = _Scope(scope, _NO_VARIABLES, _Budget())
        try:
            result = self._fn(scope)
        except ExpressionError:
            raise
        except EvalProblem as problem:
            raise ExpressionError(problem.message, self.text, problem.position) from None
        except RecursionError:
            raise ExpressionError("Values are nested too deeply", self.text) from None
        except Exception as exc:
            # Defensive: helpers turn known failures into clear messages. Anything they missed
            # (or a caller's Mapping that raises) must still reach the engine as an
            # ExpressionError - an incident on one instance - never crash a worker.
            raise ExpressionError(
                f"Cannot evaluate: {type(exc).__name__}: {exc}", self.text
            ) from exc
        t = type(result)
        if t is bool or t is int or t is str or result is None:
            return result
        return normalize(result)

    def evaluate_condition(self, variables: Mapping[str, Any] | None = None) -> bool:
        """Evaluate as a sequence-flow condition: true is True; false and null are False.

        FEEL says a condition that is null (an unknown variable, `null > 1`) is not met. A result
        that is neither boolean nor null (a number, a string) is an `ExpressionError`: silently
        treating "false" or 0 as false is how conditions go wrong unnoticed.
        """
        result = self.evaluate(variables)
        if result is True:
            return True
        if result is False or result is None:
            return False
        raise ExpressionError(
            f"A condition must be true or false, but this expression gives {a_kind(result)}",
            self.text,
        )


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str) -> CompiledExpression:
    """Parse and compile `text` once (cached); raises `ExpressionError` on syntax errors.

    Unknown functions, wrong argument counts and ambiguous `not` are also reported here, at
    deploy time, rather than when a process instance first reaches the expression.
    """
    tree = parse(text)
    try:
        node = _Compiler(text).compile(tree, 0)
    except ExpressionError:
        raise
    except Exception as exc:  # defensive, as in evaluate: callers only handle ExpressionError
        raise ExpressionError(f"Cannot compile: {type(exc).__name__}: {exc}", text) from exc
    return CompiledExpression(text, node.fn, node.names, node.scoped)


def evaluate(text: str, variables: Mapping[str, Any] | None = None) -> Any:
    """Compile (cached) and evaluate `text` with `variables`."""
    return compile_expression(text).evaluate(variables)


def evaluate_condition(text: str, variables: Mapping[str, Any] | None = None) -> bool:
    """Compile (cached) and evaluate `text` as a condition: null counts as false."""
    return compile_expression(text).evaluate_condition(variables)


def variable_names(text: str) -> frozenset[str]:
    """Top-level variable names `text` reads (names bound by for/some/every are left out).

    Inside a filter `items[price > 10]`, `price` may be a field of each item or a variable;
    it is listed (an over-approximation), `item` is not.
    """
    return compile_expression(text).variables


# --- the compiler ----------------------------------------------------------------------------

_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _decode_string(raw: str) -> str:
    """The value of a string literal; unknown escapes such as \\d are kept for regexes."""
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        hexdigits = body[i + 2 : i + 6]
        if nxt == "u" and len(hexdigits) == 4 and all(c in _HEX for c in hexdigits):
            out.append(chr(int(hexdigits, 16)))
            i += 6
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch + nxt)
            i += 2
    return "".join(out)


_BOOL_KINDS = frozenset({"bool", "not_kw"})

_COMPARE = {
    "=": equal,
    "==": equal,
    "eq": equal,
    "!=": not_equal,
    "ne": not_equal,
    "<": less,
    "lt": less,
    "<=": less_equal,
    "le": less_equal,
    ">": greater,
    "gt": greater,
    ">=": greater_equal,
    "ge": greater_equal,
}

_ARITHMETIC: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "+": (add, "a number or string"),
    "-": (subtract, "a number"),
    "*": (multiply, "a number"),
    "/": (divide, "a number"),
    # JUEL: `div` is `/`; `mod` and `%` are Java's remainder (the sign of the dividend)
    "div": (divide, "a number"),
    "mod": (java_remainder, "a number"),
    "%": (java_remainder, "a number"),
}

_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: kind(v) == "string",
    "number": lambda v: kind(v) == "number",
    "boolean": lambda v: kind(v) == "boolean",
    "list": lambda v: kind(v) == "list",
    "context": lambda v: kind(v) == "context",
    "date": lambda v: kind(v) == "date",
    "date and time": lambda v: kind(v) == "date and time",
    "duration": lambda v: kind(v) == "duration",
    "days and time duration": lambda v: kind(v) == "duration",
    "years and months duration": lambda v: kind(v) == "duration",
    "Any": lambda v: v is not None,
    "Null": lambda v: v is None,
}


class _Compiler(JuelCalls):
    def __init__(self, text: str) -> None:
        self.text = text

    # -- helpers --

    def error(self, message: str, position: int | None) -> ExpressionError:
        return ExpressionError(message, self.text, position)

    def start_of(self, tree: Tree[Any] | Token, fallback: int = 0) -> int:
        if isinstance(tree, Token):
            return tree.start_pos if tree.start_pos is not None else fallback
        meta = tree.meta
        if meta.empty:
            return fallback
        return int(meta.start_pos)

    def source(self, tree: Tree[Any] | Token) -> str:
        if isinstance(tree, Token):
            return str(tree)
        if tree.meta.empty:
            return "(...)"
        snippet = " ".join(self.text[tree.meta.start_pos : tree.meta.end_pos].split())
        return snippet if len(snippet) <= 40 else snippet[:37] + "..."

    def mismatch(
        self, m: Mismatch, nodes: list[_Node], values: list[Any], fallback: str
    ) -> ExpressionError:
        """Word a type error as 'Expected a number, but 'amount' is a string'."""
        if m.blame is not None:
            blame = m.blame
        elif nodes[0].kind == "literal" and nodes[-1].kind != "literal":
            blame = len(nodes) - 1
        else:
            blame = 0
        expected = m.expected
        if expected is None:
            others = [v for i, v in enumerate(values) if i != blame and v is not None]
            if others and kind(others[0]) != kind(values[blame]):
                expected = a_kind(others[0])
            else:
                expected = fallback
        node = nodes[blame]
        return self.error(
            f"Expected {expected}, but {node.desc} is {a_kind(values[blame])}", node.start
        )

    def no_bare_not(self, node: _Node, operator: str) -> None:
        """Refuse `not a = b`: JUEL reads it as (not a) = b, Python as not (a = b)."""
        if node.kind == "not_kw":
            raise self.error(
                f"Ambiguous 'not' before {operator!r} at {where(self.text, node.start)}: write "
                f"not(a {operator} b) to negate the comparison, or (not a) {operator} b",
                node.start,
            )

    # -- dispatch --

    def compile(self, tree: Tree[Any] | Token, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise self.error(
                f"Expression nests too deeply (more than {MAX_DEPTH} levels)", self.start_of(tree)
            )
        if isinstance(tree, Token):  # pragma: no cover - every token sits inside a rule
            raise self.error(f"Unexpected token {tree!s}", self.start_of(tree))
        handler = getattr(self, "c_" + str(tree.data), None)
        if handler is None:  # pragma: no cover - grammar and compiler out of step
            raise self.error(f"Unsupported construct {tree.data}", self.start_of(tree))
        node: _Node = handler(tree, depth + 1)
        return node

    def literal(self, tree: Tree[Any], value: Any) -> _Node:
        return _Node(
            lambda s: value,
            "literal",
            self.source(tree),
            self.start_of(tree),
            frozenset(),
            value=value,
        )

    # -- literals and names --

    def c_number(self, tree: Tree[Any], depth: int) -> _Node:
        text = str(tree.children[0])
        if "." in text:
            return self.literal(tree, Decimal(text))
        if len(text) > 1200:
            raise self.error("Number is too long", self.start_of(tree))
        value = int(text)
        if value.bit_length() > MAX_INT_BITS:
            raise self.error("Number is too large", self.start_of(tree))
        return self.literal(tree, value)

    def c_string(self, tree: Tree[Any], depth: int) -> _Node:
        return self.literal(tree, _decode_string(str(tree.children[0])))

    def c_true(self, tree: Tree[Any], depth: int) -> _Node:
        return replace(self.literal(tree, True), desc="true")

    def c_false(self, tree: Tree[Any], depth: int) -> _Node:
        return replace(self.literal(tree, False), desc="false")

    def c_null(self, tree: Tree[Any], depth: int) -> _Node:
        return replace(self.literal(tree, None), desc="null")

    def name_of(self, tree: Tree[Any]) -> str:
        token = str(tree.children[0])
        name = token[1:-1] if token.startswith("`") else token
        if name.startswith("__"):
            # The sandbox never looks inside Python objects anyway; refusing `x.__class__` and
            # friends at compile time says so plainly instead of answering null.
            start = self.start_of(tree)
            raise self.error(
                f"Names starting with '__' are not allowed ('{name}' at {where(self.text, start)})",
                start,
            )
        return name

    def c_var(self, tree: Tree[Any], depth: int) -> _Node:
        name = self.name_of(tree.children[0])

        def fn(s: Any) -> Any:
            return s.get(name)

        return _Node(fn, "var", f"'{name}'", self.start_of(tree), frozenset({name}))

    def c_paren(self, tree: Tree[Any], depth: int) -> _Node:
        inner = self.compile(tree.children[0], depth)
        # Parentheses settle what a bare `not` applies to: (not a) = b is not ambiguous.
        return replace(inner, kind="bool") if inner.kind == "not_kw" else inner

    def c_path(self, tree: Tree[Any], depth: int) -> _Node:
        target = self.compile(tree.children[0], depth)
        key = self.name_of(tree.children[1])
        tfn = target.fn

        def fn(s: Any) -> Any:
            value = tfn(s)
            if type(value) is dict:
                return value.get(key)
            return get_path(value, key)

        desc = f"'{self.source(tree)}'"
        kind_ = "var" if target.kind == "var" else "other"
        return _Node(fn, kind_, desc, self.start_of(tree), target.names, target.scoped)

    def c_list(self, tree: Tree[Any], depth: int) -> _Node:
        items = [self.compile(child, depth) for child in tree.children if child is not None]
        fns = [item.fn for item in items]

        def fn(s: Any) -> Any:
            return [f(s) for f in fns]

        return self.other(tree, fn, items)

    def other(self, tree: Tree[Any], fn: Fn, parts: list[_Node], kind_: str = "other") -> _Node:
        names: frozenset[str] = frozenset().union(*(p.names for p in parts))
        return _Node(
            fn,
            kind_,
            f"'{self.source(tree)}'",
            self.start_of(tree),
            names,
            any(p.scoped for p in parts),
        )

    def c_context(self, tree: Tree[Any], depth: int) -> _Node:
        entries: list[tuple[str, _Node]] = []
        names: set[str] = set()
        chained = False
        for entry in tree.children:
            if entry is None:
                continue
            key_tree, value_tree = entry.children
            if isinstance(key_tree, Token):
                key = _decode_string(str(key_tree))
            else:
                key = self.name_of(key_tree)
            value = self.compile(value_tree, depth)
            earlier = {k for k, _ in entries}
            # FEEL lets an entry use the ones before it: {a: 1, b: a + 1}.
            if value.names & earlier:
                chained = True
            names |= value.names - earlier
            entries.append((key, value))
        pairs = [(key, value.fn) for key, value in entries]

        if chained:

            def fn(s: Any) -> Any:
                result: dict[str, Any] = {}
                inner = _Scope(result, s, s.budget)
                for key, f in pairs:
                    result[key] = f(inner)
                return result

        else:

            def fn(s: Any) -> Any:
                return {key: f(s) for key, f in pairs}

        node = self.other(tree, fn, [v for _, v in entries])
        return replace(node, names=frozenset(names), scoped=node.scoped or chained)

    # -- calls --

    def c_call(self, tree: Tree[Any], depth: int) -> _Node:
        name_tree, *arg_trees = tree.children
        name = " ".join(str(name_tree.children[0]).split())
        args = [self.compile(a, depth) for a in arg_trees if a is not None]
        start = self.start_of(tree)
        function = FUNCTIONS.get(name)
        if function is None:
            raise self.error(f"Unknown function '{name}' at {where(self.text, start)}", start)
        if len(args) < function.least or (function.most is not None and len(args) > function.most):
            if function.most is None:
                wanted = f"at least {function.least}"
            elif function.least == function.most:
                wanted = str(function.least)
            else:
                wanted = f"{function.least} to {function.most}"
            raise self.error(
                f"Function '{name}' takes {wanted} argument{'s' if wanted != '1' else ''}, "
                f"but got {len(args)}",
                start,
            )
        fns = [a.fn for a in args]
        impl = function.impl
        nulls = function.null_in_null_out
        text = self.text

        def fn(s: Any) -> Any:
            values = [f(s) for f in fns]
            _charge(s, values)
            if nulls:
                for value in values:
                    if value is None:
                        return None
            try:
                return impl(values)
            except ArgMismatch as m:
                arg = args[m.index]
                actual = m.actual or a_kind(values[m.index])
                raise ExpressionError(
                    f"Expected {m.expected}, but {arg.desc} is {actual} "
                    f"(argument {m.index + 1} of '{name}')",
                    text,
                    arg.start,
                ) from None
            except EvalProblem as p:
                if p.position is None:
                    p.position = start
                raise

        kind_ = "bool" if name in _BOOLEAN_FUNCTIONS else "other"
        return self.other(tree, fn, args, kind_)

    # -- operators --

    def c_neg(self, tree: Tree[Any], depth: int) -> _Node:
        inner = self.compile(tree.children[0], depth)
        if inner.kind == "literal" and kind(inner.value) == "number":
            # Fold -1 into a literal: error messages, and `items[-1]` as an index, want it.
            return self.literal(tree, -inner.value)
        ifn = inner.fn

        def fn(s: Any) -> Any:
            value = ifn(s)
            try:
                return negate(value)
            except Mismatch as m:
                raise self.mismatch(m, [inner], [value], "a number") from None

        return self.other(tree, fn, [inner])

    def c_not_kw(self, tree: Tree[Any], depth: int) -> _Node:
        return self.negation(tree, depth, "not_kw")

    def c_not_bang(self, tree: Tree[Any], depth: int) -> _Node:
        return self.negation(tree, depth, "bool")

    def negation(self, tree: Tree[Any], depth: int, kind_: str) -> _Node:
        inner = self.compile(tree.children[0], depth)
        ifn = inner.fn

        def fn(s: Any) -> Any:
            value = ifn(s)
            if value is True:
                return False
            if value is False:
                return True
            return None  # FEEL: not(non-boolean) is null

        return self.other(tree, fn, [inner], kind_)

    def c_empty(self, tree: Tree[Any], depth: int) -> _Node:
        inner = self.compile(tree.children[0], depth)
        ifn = inner.fn
        return self.other(tree, lambda s: is_empty(ifn(s)), [inner], "bool")

    def binary_node(
        self,
        tree: Tree[Any],
        left: _Node,
        right: _Node,
        op: Callable[[Any, Any], Any],
        fallback: str,
        kind_: str = "other",
    ) -> _Node:
        lfn, rfn = left.fn, right.fn
        start = self.start_of(tree)

        def fn(s: Any) -> Any:
            a = lfn(s)
            b = rfn(s)
            try:
                result = op(a, b)
            except Mismatch as m:
                raise self.mismatch(m, [left, right], [a, b], fallback) from None
            except EvalProblem as p:
                if p.position is None:
                    p.position = start
                raise
            if type(result) is str and len(result) >= _CHARS_PER_STEP:
                try:
                    _charge_string(s, result)
                except EvalProblem as p:
                    p.position = start
                    raise
            return result

        return self.other(tree, fn, [left, right], kind_)

    def c_pow(self, tree: Tree[Any], depth: int) -> _Node:
        left = self.compile(tree.children[0], depth)
        right = self.compile(tree.children[1], depth)
        return self.binary_node(tree, left, right, power, "a number")

    def c_binary(self, tree: Tree[Any], depth: int) -> _Node:
        left = self.compile(tree.children[0], depth)
        operator = str(tree.children[1].children[0])
        right = self.compile(tree.children[2], depth)
        self.no_bare_not(left, operator)
        op, fallback = _ARITHMETIC[operator]
        return self.binary_node(tree, left, right, op, fallback)

    def c_compare(self, tree: Tree[Any], depth: int) -> _Node:
        left = self.compile(tree.children[0], depth)
        operator = str(tree.children[1].children[0])
        right = self.compile(tree.children[2], depth)
        self.no_bare_not(left, operator)
        op = _COMPARE[operator]
        fallback = "a number, string, date or duration"
        return self.binary_node(tree, left, right, op, fallback, "bool")

    def c_between(self, tree: Tree[Any], depth: int) -> _Node:
        value, low, high = (self.compile(child, depth) for child in tree.children)
        self.no_bare_not(value, "between")
        vfn, lfn, hfn = value.fn, low.fn, high.fn

        def fn(s: Any) -> Any:
            v, lo, hi = vfn(s), lfn(s), hfn(s)
            try:
                c1 = order(v, lo)
                c2 = order(v, hi)
            except Mismatch as m:
                raise self.mismatch(
                    m, [value, low, high], [v, lo, hi], "a number, string, date or duration"
                ) from None
            if c1 is None or c2 is None:
                return None
            return c1 >= 0 and c2 <= 0

        return self.other(tree, fn, [value, low, high], "bool")

    def c_in_expr(self, tree: Tree[Any], depth: int) -> _Node:
        return self.membership(tree, depth, negated=False)

    def c_not_in_expr(self, tree: Tree[Any], depth: int) -> _Node:
        return self.membership(tree, depth, negated=True)

    def membership(self, tree: Tree[Any], depth: int, negated: bool) -> _Node:
        value = self.compile(tree.children[0], depth)
        self.no_bare_not(value, "in")
        target_tree = tree.children[1]
        vfn = value.fn
        if isinstance(target_tree, Tree) and target_tree.data == "interval":
            test, parts = self.interval(target_tree, value, depth)
        else:
            target = self.compile(target_tree, depth)
            tfn = target.fn
            parts = [target]

            def test(s: Any) -> Any:
                v = vfn(s)
                t = tfn(s)
                # FEEL: `x in [1, 2]` is membership; `x in 5` is equality.
                if is_list(t):
                    return any(equal(v, item) for item in t)
                return equal(v, t)

        if not negated:
            return self.other(tree, test, [value, *parts], "bool")

        def negation(s: Any) -> Any:
            result = test(s)
            return None if result is None else not result

        return self.other(tree, negation, [value, *parts], "bool")

    def interval(self, tree: Tree[Any], value: _Node, depth: int) -> tuple[Fn, list[_Node]]:
        opening, low_tree, _dots, high_tree, closing = tree.children
        low = self.compile(low_tree, depth)
        high = self.compile(high_tree, depth)
        low_closed = str(opening) == "["
        high_closed = str(closing) == "]"
        vfn, lfn, hfn = value.fn, low.fn, high.fn

        def test(s: Any) -> Any:
            v, lo, hi = vfn(s), lfn(s), hfn(s)
            try:
                c1 = order(v, lo)
                c2 = order(v, hi)
            except Mismatch as m:
                raise self.mismatch(
                    m, [value, low, high], [v, lo, hi], "a number, string, date or duration"
                ) from None
            if c1 is None or c2 is None:
                return None
            above = c1 > 0 or (low_closed and c1 == 0)
            below = c2 < 0 or (high_closed and c2 == 0)
            return above and below

        return test, [low, high]

    def c_instance_of(self, tree: Tree[Any], depth: int) -> _Node:
        value = self.compile(tree.children[0], depth)
        self.no_bare_not(value, "instance of")
        type_name = " ".join(str(tree.children[1].children[0]).split())
        test = _TYPE_TESTS.get(type_name)
        if test is None:
            known = ", ".join(_TYPE_TESTS)
            raise self.error(
                f"Unknown type '{type_name}' (known: {known})", self.start_of(tree.children[1])
            )
        vfn = value.fn
        return self.other(tree, lambda s: test(vfn(s)), [value], "bool")

    # -- logic --

    def flatten(self, tree: Tree[Any], depth: int) -> list[_Node]:
        """Operands of a chain `a or b or c`, without recursing once per link."""
        chain: list[Tree[Any]] = []
        current: Any = tree
        while isinstance(current, Tree) and current.data == tree.data:
            chain.append(current.children[1])
            current = current.children[0]
        chain.append(current)
        chain.reverse()
        return [self.compile(part, depth) for part in chain]

    def c_and_expr(self, tree: Tree[Any], depth: int) -> _Node:
        parts = self.flatten(tree, depth)
        fns = [p.fn for p in parts]
        if len(fns) == 2:
            first, second = fns

            def fn(s: Any) -> Any:
                a = first(s)
                if a is False:
                    return False
                b = second(s)
                if b is False:
                    return False
                if a is True and b is True:
                    return True
                return None  # FEEL: true and null (or a non-boolean) is null

        else:

            def fn(s: Any) -> Any:
                unknown = False
                for f in fns:
                    value = f(s)
                    if value is False:
                        return False
                    if value is not True:
                        unknown = True
                return None if unknown else True

        return self.other(tree, fn, parts, "bool")

    def c_or_expr(self, tree: Tree[Any], depth: int) -> _Node:
        parts = self.flatten(tree, depth)
        fns = [p.fn for p in parts]

        def fn(s: Any) -> Any:
            unknown = False
            for f in fns:
                value = f(s)
                if value is True:
                    return True
                if value is not False:
                    unknown = True
            return None if unknown else False

        return self.other(tree, fn, parts, "bool")

    def c_cond_expr(self, tree: Tree[Any], depth: int) -> _Node:
        return self.c_if_expr(tree, depth)

    def c_if_expr(self, tree: Tree[Any], depth: int) -> _Node:
        cond, then, other = (self.compile(child, depth) for child in tree.children)
        cfn, tfn, ofn = cond.fn, then.fn, other.fn

        def fn(s: Any) -> Any:
            # Only true picks `then`: null and non-booleans pick `else`, as in FEEL.
            return tfn(s) if cfn(s) is True else ofn(s)

        return self.other(tree, fn, [cond, then, other])

    # -- iteration --

    def iterations(
        self, trees: list[Tree[Any]], depth: int
    ) -> tuple[Callable[[Any], Iterator[Any]], frozenset[str], set[str]]:
        """Compile `x in xs, y in ys`; returns a generator of scopes, free names, bound names."""
        contexts: list[tuple[str, _Node, _Node | None]] = []
        free: set[str] = set()
        bound: set[str] = set()
        for tree in trees:
            name_tree, domain_tree, upper_tree = tree.children
            domain = self.compile(domain_tree, depth)
            upper = self.compile(upper_tree, depth) if upper_tree is not None else None
            free |= domain.names - bound
            if upper is not None:
                free |= upper.names - bound
            name = self.name_of(name_tree)
            bound.add(name)
            contexts.append((name, domain, upper))
        text = self.text

        def values(s: Any, domain: _Node, upper: _Node | None) -> list[Any]:
            low = domain.fn(s)
            if upper is not None:
                high = upper.fn(s)
                if low is None or high is None:
                    raise _NullDomain
                for node, bound_value in ((domain, low), (upper, high)):
                    if kind(bound_value) != "number" or bound_value != int(bound_value):
                        raise ExpressionError(
                            f"Expected a whole number, but {node.desc} is {a_kind(bound_value)}",
                            text,
                            node.start,
                        )
                lo, hi = int(low), int(high)
                if abs(hi - lo) >= MAX_LIST:
                    raise ExpressionError(
                        f"Range is too long (more than {MAX_LIST} numbers)", text, domain.start
                    )
                # FEEL ranges may count down: 3..1 is 3, 2, 1.
                return list(range(lo, hi + 1)) if lo <= hi else list(range(lo, hi - 1, -1))
            if low is None:
                raise _NullDomain
            if not is_list(low):
                raise ExpressionError(
                    f"Expected a list, but {domain.desc} is {a_kind(low)}", text, domain.start
                )
            return list(low)

        def scopes(s: Any) -> Iterator[Any]:
            def walk(index: int, scope: Any) -> Iterator[Any]:
                if index == len(contexts):
                    yield scope
                    return
                name, domain, upper = contexts[index]
                for item in values(scope, domain, upper):
                    _step(scope)
                    yield from walk(index + 1, _Scope({name: item}, scope, scope.budget))

            return walk(0, s)

        return scopes, frozenset(free), bound

    def c_for_expr(self, tree: Tree[Any], depth: int) -> _Node:
        *iteration_trees, body_tree = tree.children
        scopes, free, bound = self.iterations(iteration_trees, depth)
        body = self.compile(body_tree, depth)
        bfn = body.fn
        self_start = self.start_of(tree)

        def fn(s: Any) -> Any:
            result: list[Any] = []
            try:
                for scope in scopes(s):
                    result.append(bfn(scope))
                    if len(result) > MAX_LIST:
                        raise EvalProblem(
                            f"List is too long (more than {MAX_LIST} items)", self_start
                        )
            except _NullDomain:
                return None
            return result

        names = free | (body.names - bound)
        return _Node(fn, "other", f"'{self.source(tree)}'", self.start_of(tree), names, True)

    def c_quantified(self, tree: Tree[Any], depth: int) -> _Node:
        quantifier_tree, *iteration_trees, body_tree = tree.children
        every = str(quantifier_tree.children[0]) == "every"
        scopes, free, bound = self.iterations(iteration_trees, depth)
        body = self.compile(body_tree, depth)
        bfn = body.fn

        def fn(s: Any) -> Any:
            try:
                for scope in scopes(s):
                    satisfied = bfn(scope) is True
                    if every and not satisfied:
                        return False
                    if satisfied and not every:
                        return True
            except _NullDomain:
                return None
            return every

        names = free | (body.names - bound)
        return _Node(fn, "bool", f"'{self.source(tree)}'", self.start_of(tree), names, True)

    def c_filter(self, tree: Tree[Any], depth: int) -> _Node:
        target = self.compile(tree.children[0], depth)
        predicate = self.compile(tree.children[1], depth)
        tfn, pfn = target.fn, predicate.fn

        def index(items: list[Any], position: Any) -> Any:
            if position != int(position):
                return None
            at = int(position)
            # FEEL lists are 1-based; negative positions count from the end; 0 is nothing.
            if 0 < at <= len(items):
                return items[at - 1]
            if 0 < -at <= len(items):
                return items[at]
            return None

        def keep(s: Any, items: list[Any]) -> list[Any]:
            budget = s.budget
            result = []
            for item in items:
                _step(s)
                if pfn(_ItemScope(item, s, budget)) is True:
                    result.append(item)
            return result

        def as_list(value: Any) -> list[Any] | None:
            if value is None:
                return None
            return list(value) if is_list(value) else [value]  # FEEL: a single value is a list

        if predicate.kind == "literal" and kind(predicate.value) == "number":
            position = predicate.value

            def fn(s: Any) -> Any:
                items = as_list(tfn(s))
                return None if items is None else index(items, position)

        elif predicate.kind == "literal" and isinstance(predicate.value, str):
            key = predicate.value

            # `m["key"]`, as JUEL, Python and JavaScript write an entry lookup.
            def fn(s: Any) -> Any:
                value = tfn(s)
                return get_path(value, key) if isinstance(value, Mapping) else None

        elif predicate.kind in _BOOL_KINDS or predicate.kind == "literal":

            def fn(s: Any) -> Any:
                items = as_list(tfn(s))
                return None if items is None else keep(s, items)

        else:
            # `items[n]` or `items[active]`: decided per evaluation. A number outside the items'
            # scope is an index; anything else filters each item.
            def fn(s: Any) -> Any:
                items = as_list(tfn(s))
                if items is None:
                    return None
                try:
                    position = pfn(s)
                except (ExpressionError, EvalProblem):
                    position = None
                if kind(position) == "number":
                    return index(items, position)
                return keep(s, items)

        names = target.names | (predicate.names - {"item"})
        kind_ = "var" if target.kind == "var" else "other"
        return _Node(fn, kind_, f"'{self.source(tree)}'", self.start_of(tree), names, True)


_BOOLEAN_FUNCTIONS = frozenset(
    {
        "contains",
        "starts with",
        "ends with",
        "matches",
        "list contains",
        "is defined",
        "is empty",
        "all",
        "any",
        "odd",
        "even",
    }
)
