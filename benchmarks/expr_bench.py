"""Evaluations per second of compiled expressions (run: .venv/bin/python benchmarks/expr_bench.py).

Not a test: timings depend on the machine. The typical condition should stay in the low
microseconds; a regression by a factor shows up here first.
"""

from __future__ import annotations

import time
from typing import Any

from laneway.expr import compile_expression

CASES: list[tuple[str, dict[str, Any]]] = [
    ('amount > 100 and status = "open"', {"amount": 150, "status": "open"}),
    ("amount > 100 && approved", {"amount": 150, "approved": True}),
    ("order.total * 1.2 + shipping", {"order": {"total": 10}, "shipping": 5}),
    ('string length(name) > 3 and starts with(name, "A")', {"name": "Alice"}),
    ("sum(items[price > 10].price)", {"items": [{"price": p} for p in range(20)]}),
    ("for x in items return x * 2", {"items": list(range(20))}),
]


def bench(text: str, variables: dict[str, Any], seconds: float = 0.5) -> float:
    """Evaluations per second of `text`, compiled once."""
    compiled = compile_expression(text)
    evaluate = compiled.evaluate
    count = 0
    batch = 1000
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            evaluate(variables)
        count += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def main() -> None:
    """Print one line per expression: evaluations per second and microseconds per evaluation."""
    start = time.perf_counter()
    compile_expression.cache_clear()
    for text, _ in CASES:
        compile_expression(text)
    compile_ms = (time.perf_counter() - start) * 1000 / len(CASES)
    print(f"compile (first one builds the parser): {compile_ms:8.2f} ms per expression")
    for text, variables in CASES:
        rate = bench(text, variables)
        print(f"{rate:12,.0f} evals/s  {1e6 / rate:7.2f} us  {text}")


if __name__ == "__main__":
    main()
