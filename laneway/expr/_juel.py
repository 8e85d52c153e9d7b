"""Compiling JUEL's method calls: `s.contains("a")`, `execution.getVariable("x")`, and
Flowable's `variables:get(x)` functions, onto the bridge's table (`_methods.METHODS`).

A mixin of the compiler (`_compile._Compiler`): it owns the grammar's `method_call` and
`ns_call` nodes. The method's name is looked up once, at compile time; an unknown name is an
`ExpressionError` there, so the diagram is refused at deploy with its element and line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import DecimalException
from typing import TYPE_CHECKING, Any

from lark import Token, Tree

from laneway.expr._errors import EvalProblem, ExpressionError, Mismatch, where
from laneway.expr._methods import (
    EXECUTION_METHODS,
    FLOWABLE_FUNCTIONS,
    METHODS,
    MethodArgMismatch,
    ReceiverMismatch,
)
from laneway.expr._values import (
    DECIMAL,
    a_kind,
    equal,
    is_empty,
    is_list,
    is_number,
    order,
    to_decimal,
)

if TYPE_CHECKING:
    from laneway.expr._compile import _Node

_MISSING = object()

#: Methods whose result is always a boolean (or null): lets `not s.isEmpty() == x` be refused
#: as ambiguous like any other bare `not`, and keeps the node kinds honest.
_BOOLEAN_METHODS = frozenset(
    {"equals", "equalsIgnoreCase", "startsWith", "endsWith", "contains", "isEmpty",
     "containsKey", "containsValue", "booleanValue"}
)


def java_remainder(a: Any, b: Any) -> Any:
    """JUEL's `mod` / `%`: Java's remainder, with the sign of the dividend; by zero is null."""
    if a is None or b is None:
        return None
    if not is_number(a):
        raise Mismatch("a number", 0)
    if not is_number(b):
        raise Mismatch("a number", 1)
    if b == 0:
        return None
    if type(a) is int and type(b) is int:
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    try:
        # Decimal's remainder truncates towards zero, as Java's does
        result = DECIMAL.remainder(to_decimal(a), to_decimal(b))
    except DecimalException:
        raise EvalProblem("Number is too large") from None
    if isinstance(a, float) or isinstance(b, float):
        return float(result)
    return int(result) if result == result.to_integral_value() else result


class JuelCalls:
    """The compiler's handlers for method calls and Flowable's variable functions."""

    text: str

    if TYPE_CHECKING:

        def compile(self, tree: Tree[Any] | Token, depth: int) -> _Node: ...
        def error(self, message: str, position: int | None) -> ExpressionError: ...
        def start_of(self, tree: Tree[Any] | Token, fallback: int = 0) -> int: ...
        def name_of(self, tree: Tree[Any]) -> str: ...
        def other(
            self, tree: Tree[Any], fn: Callable[[Any], Any], parts: list[_Node],
            kind_: str = "other",
        ) -> _Node: ...

    def c_method_call(self, tree: Tree[Any], depth: int) -> _Node:
        from laneway.expr._compile import _charge  # the compiler imports this module

        target_tree, name_tree, *arg_trees = tree.children
        name = self.name_of(name_tree)
        start = self.start_of(name_tree)
        args = [self.compile(a, depth) for a in arg_trees if a is not None]
        if (
            isinstance(target_tree, Tree)
            and target_tree.data == "var"
            and self.name_of(target_tree.children[0]) == "execution"
        ):
            return self.execution_call(tree, name, args, start)
        # the receiver first: in `x.getClass().getName()` the first unknown method is named
        target = self.compile(target_tree, depth)
        method = METHODS.get(name)
        if method is None:
            known = ", ".join(sorted(METHODS))
            raise self.error(
                f"Unknown method '{name}' at {where(self.text, start)} (the methods that can "
                f"be called: {known})",
                start,
            )
        if not method.least <= len(args) <= method.most:
            wanted = (str(method.least) if method.least == method.most
                      else f"{method.least} to {method.most}")
            raise self.error(
                f"Method '{name}' takes {wanted} argument{'' if wanted == '1' else 's'}, "
                f"but got {len(args)}",
                start,
            )
        tfn = target.fn
        fns = [a.fn for a in args]
        impl = method.impl
        text = self.text

        def fn(s: Any) -> Any:
            receiver = tfn(s)
            if receiver is None:
                return None  # as an unknown variable: null, not Java's exception
            values = [f(s) for f in fns]
            _charge(s, [receiver, *values])
            try:
                return impl(receiver, values)
            except ReceiverMismatch:
                raise ExpressionError(
                    f"Method '{name}' is for {method.receivers}, but {target.desc} is "
                    f"{a_kind(receiver)}",
                    text,
                    start,
                ) from None
            except MethodArgMismatch as m:
                arg = args[m.index]
                raise ExpressionError(
                    f"Expected {m.expected}, but {arg.desc} is {a_kind(values[m.index])} "
                    f"(argument {m.index + 1} of '{name}')",
                    text,
                    arg.start,
                ) from None
            except EvalProblem as p:
                if p.position is None:
                    p.position = start
                raise

        kind_ = "bool" if name in _BOOLEAN_METHODS else "other"
        return self.other(tree, fn, [target, *args], kind_)

    def execution_call(
        self, tree: Tree[Any], name: str, args: list[_Node], start: int
    ) -> _Node:
        """`execution.getVariable(name)` and its relatives read the variables in scope."""
        if name not in EXECUTION_METHODS:
            known = ", ".join(sorted(EXECUTION_METHODS))
            raise self.error(
                f"Unknown method 'execution.{name}' at {where(self.text, start)} (on execution "
                f"only these read variables: {known})",
                start,
            )
        if len(args) != 1:
            raise self.error(
                f"Method 'execution.{name}' takes 1 argument, but got {len(args)}", start
            )
        node = self.variable_lookup(tree, args[0], f"execution.{name}",
                                    exists=name.startswith("has"))
        return node

    def variable_lookup(self, tree: Tree[Any], arg: _Node, what: str, exists: bool) -> _Node:
        """A variable read by a name the expression computes (usually a literal)."""
        afn = arg.fn
        text = self.text

        def name_of(s: Any) -> str:
            name = afn(s)
            if not isinstance(name, str):
                raise ExpressionError(
                    f"Expected a variable name (a string), but {arg.desc} is {a_kind(name)} "
                    f"(argument 1 of '{what}')",
                    text,
                    arg.start,
                )
            return name

        if exists:

            def fn(s: Any) -> Any:
                return s.get(name_of(s), _MISSING) is not _MISSING

        else:

            def fn(s: Any) -> Any:
                return s.get(name_of(s))

        node = self.other(tree, fn, [arg], "bool" if exists else "var")
        if arg.kind == "literal" and isinstance(arg.value, str):
            # the variable it reads, for `variable_names` (what a conditional event watches)
            node = replace(node, names=node.names | {arg.value})
        return node

    def c_ns_call(self, tree: Tree[Any], depth: int) -> _Node:
        """Flowable's `variables:get(x)`, `vars:eq(x, 1)`, `var:exists('x')`: the first
        argument names a variable, bare (`x`) or quoted (`'x'`)."""
        from laneway.expr._compile import _Node

        token, *arg_trees = tree.children
        start = self.start_of(token)
        spelled = str(token).split(":", 1)[1]
        function = FLOWABLE_FUNCTIONS.get(spelled)
        if function is None:
            known = ", ".join(sorted(FLOWABLE_FUNCTIONS))
            raise self.error(
                f"Unknown function '{token}' at {where(self.text, start)} (known after "
                f"'variables:': {known})",
                start,
            )
        present = [a for a in arg_trees if a is not None]
        if not present:
            raise self.error(f"Function '{token}' needs a variable name", start)
        first, *rest_trees = present
        if isinstance(first, Tree) and first.data == "var":
            var_name = self.name_of(first.children[0])
        elif isinstance(first, Tree) and first.data == "string":
            from laneway.expr._compile import _decode_string

            var_name = _decode_string(str(first.children[0]))
        else:
            raise self.error(
                f"Expected a variable name as the first argument of '{token}'", start
            )
        rest = [self.compile(a, depth) for a in rest_trees]
        wanted = {"get": 0, "exists": 0, "isEmpty": 0, "isNotEmpty": 0, "getOrDefault": 1}
        if function in wanted and len(rest) != wanted[function]:
            raise self.error(
                f"Function '{token}' takes {wanted[function] + 1} argument"
                f"{'s' if wanted[function] else ''}, but got {len(rest) + 1}",
                start,
            )
        if function not in wanted and (len(rest) < 1 or (
                function not in ("contains", "containsAny") and len(rest) != 1)):
            raise self.error(f"Function '{token}' takes a variable name and a value", start)
        fns = [r.fn for r in rest]
        impl = _flowable_impl(function, self.text, start)

        def fn(s: Any) -> Any:
            value = s.get(var_name, _MISSING)
            return impl(value, [f(s) for f in fns])

        node = self.other(tree, fn, rest, "other" if function in ("get", "getOrDefault")
                          else "bool")
        return _Node(node.fn, node.kind, f"'{token}({var_name})'", start,
                     node.names | {var_name}, node.scoped)


def _flowable_impl(function: str, text: str, start: int) -> Callable[[Any, list[Any]], Any]:
    def compare(value: Any, other: Any) -> int | None:
        if value is _MISSING or value is None or other is None:
            return None
        try:
            return order(value, other)
        except Mismatch:
            raise ExpressionError(
                f"Cannot compare {a_kind(value)} with {a_kind(other)} in '{function}'",
                text, start,
            ) from None

    def contains(value: Any, wanted: Any) -> bool:
        if isinstance(value, str):
            return isinstance(wanted, str) and wanted in value
        if is_list(value):
            return any(equal(item, wanted) for item in value)
        return False

    def run(value: Any, args: list[Any]) -> Any:
        present = value is not _MISSING
        current = value if present else None
        if function == "get":
            return current
        if function == "getOrDefault":
            return args[0] if current is None else current
        if function == "exists":
            return present
        if function == "isEmpty":
            return is_empty(current)
        if function == "isNotEmpty":
            return not is_empty(current)
        if function == "equals":
            return equal(current, args[0])
        if function == "notEquals":
            return not equal(current, args[0])
        if function == "contains":
            return current is not None and all(contains(current, a) for a in args)
        if function == "containsAny":
            return current is not None and any(contains(current, a) for a in args)
        c = compare(current, args[0])
        if c is None:
            return False
        return {"lt": c < 0, "lte": c <= 0, "gt": c > 0, "gte": c >= 0}[function]

    return run


__all__ = ["JuelCalls", "java_remainder"]
