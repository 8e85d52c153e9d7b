"""JavaScript in the engine's sandbox: QuickJS-ng with hard limits, JSON in and JSON out.

A script task whose `scriptFormat` is JavaScript (`javascript`, `ecmascript`, `js`, MIME types
such as `application/javascript`) runs here, in the engine, instead of becoming a job.
`run_js` is the one entry point; the script task processor calls it, and so may anything else
that runs a JavaScript snippet of a diagram (Camunda 7's `camunda:script` parameters).

The sandbox:
- a fresh QuickJS-ng context per run (about 0.1 ms), with a memory limit, a stack limit and a
  time limit (`ScriptLimits` in laneway/engine/limits.py); a script beyond any of them raises
  `ScriptError(runaway=True)`. The time is the interpreter's CPU time, checked in loops and in
  regular expressions alike (QuickJS-ng interrupts a backtracking regex; the original QuickJS
  binding did not), and its interrupt cannot be caught by the script's own `try`;
- only the ECMAScript built-ins: the binding loads no `std` or `os` module and has no module
  loader, so there is no `require`, no `import`, no `fetch`, no file, network or process;
- nothing of Python crosses: the variables go in as one JSON text and the results come out as
  one JSON text, parsed here and bounded in size;
- deterministic: `Date.now()` and `new Date()` are the command's timestamp,
  `performance.now()` is 0, `Math.random()` is a generator seeded from the element instance,
  and `WeakRef`/`FinalizationRegistry` (whose results follow the collector) are gone, so the
  same command writes the same events (replay never runs a script again anyway: the events
  carry its results). Dates shown in local time follow the host's time zone (the engine
  service runs in UTC).

What a script sees and changes:
- each variable whose name is a JavaScript identifier and no built-in (`JSON`, `Math`, ...) is
  a global; assigning a new value to one (`counter++`) writes it back; new globals the script
  declares stay in the script;
- `execution.getVariable(name)`, `execution.setVariable(name, value)`,
  `execution.hasVariable(name)`, `execution.getVariables()`, `getProcessInstanceId()`,
  `getProcessBusinessKey()`, `getProcessDefinitionId()` (the process id) and
  `getCurrentActivityId()` as in Camunda 7; a variable set this way is written back even when
  it did not exist;
- the script's completion value (its last expression) is `ScriptResult.value`, for the task's
  result variable;
- `throw new BpmnError("CODE", "message")`, `bpmnError("CODE")` or `throw {bpmnError: "CODE"}`
  throws a BPMN error (`ScriptResult.bpmn_error`) for a boundary event or event subprocess to
  catch; any other exception is `ScriptError` with the script's message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import quickjs

from laneway.engine.limits import DEFAULT_SCRIPT_LIMITS, ScriptLimits
from laneway.limits import json_size

__all__ = ["ScriptError", "ScriptResult", "is_javascript", "run_js"]

_JAVASCRIPT = frozenset({"javascript", "ecmascript", "js"})


def is_javascript(language: str | None) -> bool:
    """Whether a `scriptFormat`, normalised (`normalize_language`), is JavaScript."""
    return language in _JAVASCRIPT


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """What a script left: its completion value and the variables it wrote, as JSON values."""

    value: Any
    variables: dict[str, Any]
    bpmn_error: tuple[str, str] | None = None
    """(code, message) of a BPMN error the script threw, else None."""


class ScriptError(Exception):
    """The script failed: it threw, or went beyond a limit (`runaway`)."""

    def __init__(self, message: str, *, runaway: bool = False) -> None:
        super().__init__(message)
        self.runaway = runaway


# The harness runs the script with indirect eval, so the script is global code as written in
# a file (its `var`s and assignments reach the globals, its last expression is the completion
# value), and compares each variable's JSON before and after. It hides its own state in the
# closure; a script that breaks `JSON` only breaks its own results, which are then checked
# like any other JSON text.
_HARNESS = r"""
(function (input, source) {
  "use strict";
  const G = globalThis;
  delete G.__lanewayInput; delete G.__lanewaySource;
  const stringify = JSON.stringify, parse = JSON.parse, own = Object.prototype.hasOwnProperty;
  const data = parse(input);
  const vars = data.vars, about = data.about || {};
  const bound = Object.create(null), before = Object.create(null);
  const sets = Object.create(null);
  const copy = (v) => { const s = stringify(v); return s === undefined ? null : parse(s); };
  function BpmnError(code, message) {
    if (!(this instanceof BpmnError)) return new BpmnError(code, message);
    this.code = String(code);
    this.message = message === undefined ? "" : String(message);
  }
  BpmnError.prototype = Object.create(Error.prototype);
  BpmnError.prototype.name = "BpmnError";
  G.BpmnError = BpmnError;
  G.bpmnError = function (code, message) { throw new BpmnError(code, message); };
  G.execution = Object.freeze({
    getVariable(name) {
      name = String(name);
      if (bound[name]) return G[name];
      if (name in sets) return sets[name];
      return own.call(vars, name) ? vars[name] : null;
    },
    setVariable(name, value) {
      name = String(name);
      if (bound[name]) G[name] = copy(value); else sets[name] = copy(value);
    },
    hasVariable(name) {
      name = String(name);
      return !!bound[name] || name in sets || own.call(vars, name);
    },
    getVariables() {
      const all = Object.assign({}, vars);
      for (const name in bound) all[name] = G[name];
      return Object.assign(all, sets);
    },
    getProcessInstanceId: () => about.instanceId ?? null,
    getProcessBusinessKey: () => about.businessKey ?? null,
    getProcessDefinitionId: () => about.processId ?? null,
    getCurrentActivityId: () => about.elementId ?? null,
  });
  const RealDate = Date, now = data.now;
  function FrozenDate(...args) {
    if (!new.target) return new RealDate(now).toString();
    return args.length === 0 ? new RealDate(now) : new RealDate(...args);
  }
  FrozenDate.prototype = RealDate.prototype;
  FrozenDate.now = () => now;
  FrozenDate.parse = RealDate.parse;
  FrozenDate.UTC = RealDate.UTC;
  G.Date = FrozenDate;
  G.performance = Object.freeze({now: () => 0, timeOrigin: now});
  delete G.WeakRef; delete G.FinalizationRegistry;
  let seed = data.seed >>> 0;
  Math.random = function () {  // mulberry32: small, and the same numbers on every machine
    seed = (seed + 0x6D2B79F5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // bound last, so a variable never takes the place of a built-in or a helper above
  for (const name of Object.keys(vars)) {
    if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) && !(name in G)) {
      G[name] = vars[name];
      bound[name] = true;
      before[name] = stringify(vars[name]);
    }
  }
  let result, error = null;
  try {
    result = (0, eval)(source);
  } catch (e) {
    if (e instanceof BpmnError) error = [e.code, e.message];
    else if (e !== null && typeof e === "object" && typeof e.bpmnError === "string")
      error = [e.bpmnError, e.message === undefined ? "" : String(e.message)];
    else throw e;
  }
  const changed = {};
  for (const name in bound) {
    const s = stringify(G[name]);
    if (s !== before[name]) changed[name] = s === undefined ? null : parse(s);
  }
  for (const name in sets) changed[name] = sets[name];
  return stringify({value: error ? null : copy(result), changed: changed, error: error});
})(__lanewayInput, __lanewaySource)
"""


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "the script failed"
    return line[:1000]


def run_js(
    source: str,
    variables: dict[str, Any],
    limits: ScriptLimits = DEFAULT_SCRIPT_LIMITS,
    *,
    now_ms: int = 0,
    seed: int = 0,
    max_seconds: float | None = None,
    about: dict[str, str | None] | None = None,
) -> ScriptResult:
    """Run `source` with `variables` (JSON values) in a fresh sandbox.

    `now_ms` is what `Date.now()` gives, `seed` seeds `Math.random()`; `max_seconds`, when
    given and shorter, replaces the limit's time (the rest of a command's budget); `about`
    (`instanceId`, `businessKey`, `processId`, `elementId`) is what `execution`'s
    `getProcessInstanceId()`, `getProcessBusinessKey()`, `getProcessDefinitionId()` and
    `getCurrentActivityId()` answer. Raises
    `ScriptError`: the script threw (its message), or went beyond a limit (`runaway`).
    """
    if len(source) > limits.max_source_chars:
        raise ScriptError(f"the script has {len(source)} characters, more than the "
                          f"{limits.max_source_chars} allowed", runaway=True)
    seconds = limits.max_seconds if max_seconds is None else min(max_seconds, limits.max_seconds)
    try:
        data = json.dumps({"vars": variables, "now": now_ms, "seed": seed & 0xFFFFFFFF,
                           "about": about or {}},
                          ensure_ascii=False, allow_nan=False, default=str)
    except ValueError as exc:
        raise ScriptError(f"the variables are no JSON ({exc})") from None
    ctx = quickjs.Context()
    ctx.set_memory_limit(limits.max_memory_bytes)
    ctx.set_max_stack_size(limits.max_stack_bytes)
    ctx.set_time_limit(max(seconds, 0.001))
    ctx.set("__lanewayInput", data)
    ctx.set("__lanewaySource", source)
    try:
        out = ctx.eval(_HARNESS)
    except quickjs.StackOverflow:
        raise ScriptError(f"the script went deeper than the stack limit of "
                          f"{limits.max_stack_bytes} bytes", runaway=True) from None
    except quickjs.JSException as exc:
        message = _first_line(str(exc))
        if message == "InternalError: interrupted":
            raise ScriptError(f"the script ran longer than {seconds:g} s",
                              runaway=True) from None
        if message == "InternalError: out of memory":
            raise ScriptError(f"the script used more than {limits.max_memory_bytes} bytes "
                              "of memory", runaway=True) from None
        raise ScriptError(message) from None
    except MemoryError:
        raise ScriptError(f"the script used more than {limits.max_memory_bytes} bytes "
                          "of memory", runaway=True) from None
    return _result(out, limits)


def _result(out: Any, limits: ScriptLimits) -> ScriptResult:
    if not isinstance(out, str) or len(out) > 4 * limits.max_result_bytes:
        raise ScriptError(f"the script's results are larger than {limits.max_result_bytes} "
                          "bytes of JSON")
    try:
        parsed = json.loads(out)
        value, changed, error = parsed["value"], parsed["changed"], parsed["error"]
    except (ValueError, KeyError, TypeError):
        raise ScriptError("the script's results are no JSON (did it replace JSON?)") from None
    if not isinstance(changed, dict):
        raise ScriptError("the script's results are no JSON (did it replace JSON?)")
    size = json_size(changed) + json_size(value)
    if size > limits.max_result_bytes:
        raise ScriptError(f"the script's results are {size} bytes of JSON, more than the "
                          f"{limits.max_result_bytes} allowed")
    bpmn_error = None
    if error is not None:
        if (not isinstance(error, list) or len(error) != 2
                or not all(isinstance(e, str) for e in error)):
            raise ScriptError("the script's results are no JSON (did it replace JSON?)")
        bpmn_error = (error[0], error[1])
    return ScriptResult(value, changed, bpmn_error)
