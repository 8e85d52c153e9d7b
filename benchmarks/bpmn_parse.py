"""How parsing and deploy checks grow with the size of a diagram.

    .venv/bin/python benchmarks/bpmn_parse.py [--sizes 2500,10000] [--cases chain,fan,...]

Not a test: timings depend on the machine. Each case is a generated diagram (below) at each
size; each measurement runs in a fresh interpreter so its peak memory is its own. Printed per
case and size: the file's size, the seconds of `parse`, of `validate`, of the engine's deploy
check and index (`DefinitionRepository.deploy`), and the peak resident memory; then the ratio
of the times at the largest and the smallest size. Linear work gives a ratio near the ratio of
the sizes (4 for 2,500 -> 10,000), quadratic work near its square (16).

| case | diagram |
|---|---|
| chain | start -> n service tasks -> end |
| fan | start -> inclusive split -> n tasks -> inclusive join -> end |
| nested | subprocesses nested 90 deep, n tasks spread over the levels |
| attrs | 500 namespaces declared on the root, n tasks with 8 extension attributes each |
| links | n pairs of link throw and catch events |
| processes | n / 10 processes of 10 tasks in one file |
| stores | n data stores, each referenced once |
| lanes | n user tasks in n lanes (the persona check at review) |
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" {extra}id="defs" '
    'targetNamespace="http://example.com/bench">\n'
)


def _doc(body: str, extra: str = "") -> bytes:
    return (HEAD.format(extra=extra) + body + "</definitions>\n").encode()


def _proc(pid: str, inner: str) -> str:
    return f'<process id="{pid}" isExecutable="true">\n{inner}</process>\n'


def _flow(fid: str, src: str, dst: str) -> str:
    return f'<sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}"/>\n'


def chain(n: int) -> bytes:
    parts = ['<startEvent id="s"/>\n']
    prev = "s"
    for i in range(n):
        parts.append(f'<serviceTask id="t{i}" name="Task {i}" laneway:type="work"/>\n')
        parts.append(_flow(f"f{i}", prev, f"t{i}"))
        prev = f"t{i}"
    parts.append('<endEvent id="e"/>\n' + _flow("fe", prev, "e"))
    return _doc(_proc("chain", "".join(parts)))


def fan(n: int) -> bytes:
    parts = ['<startEvent id="s"/>\n<inclusiveGateway id="split"/>\n',
             '<inclusiveGateway id="join"/>\n<endEvent id="e"/>\n',
             _flow("f0", "s", "split"), _flow("fe", "join", "e")]
    for i in range(n):
        parts.append(f'<serviceTask id="t{i}" laneway:type="work"/>\n')
        parts.append(_flow(f"a{i}", "split", f"t{i}"))
        parts.append(_flow(f"b{i}", f"t{i}", "join"))
    return _doc(_proc("fan", "".join(parts)))


def nested(n: int, depth: int = 90) -> bytes:
    per = max(1, n // depth)

    def level(d: int) -> str:
        parts = [f'<startEvent id="s{d}"/>\n']
        prev = f"s{d}"
        for i in range(per):
            tid = f"t{d}_{i}"
            parts.append(f'<serviceTask id="{tid}" laneway:type="work"/>\n')
            parts.append(_flow(f"f{d}_{i}", prev, tid))
            prev = tid
        if d + 1 < depth:
            parts.append(f'<subProcess id="sp{d + 1}">\n{level(d + 1)}</subProcess>\n')
            parts.append(_flow(f"fsp{d}", prev, f"sp{d + 1}"))
            prev = f"sp{d + 1}"
        parts.append(f'<endEvent id="e{d}"/>\n' + _flow(f"fe{d}", prev, f"e{d}"))
        return "".join(parts)

    return _doc(_proc("nested", level(0)))


def attrs(n: int, namespaces: int = 500) -> bytes:
    extra = "".join(f'xmlns:x{j}="urn:x{j}" ' for j in range(namespaces))
    parts = ['<startEvent id="s"/>\n']
    prev = "s"
    for i in range(n):
        foreign = " ".join(f'x{(i + k) % namespaces}:a{k}="v"' for k in range(8))
        parts.append(f'<serviceTask id="t{i}" laneway:type="work" {foreign}/>\n')
        parts.append(_flow(f"f{i}", prev, f"t{i}"))
        prev = f"t{i}"
    parts.append('<endEvent id="e"/>\n' + _flow("fe", prev, "e"))
    return _doc(_proc("attrs", "".join(parts)), extra)


def links(n: int) -> bytes:
    parts = ['<startEvent id="s"/>\n']
    prev = "s"
    for i in range(n):
        parts.append(f'<intermediateThrowEvent id="lt{i}"><linkEventDefinition name="L{i}"/>'
                     "</intermediateThrowEvent>\n")
        parts.append(f'<intermediateCatchEvent id="lc{i}"><linkEventDefinition name="L{i}"/>'
                     "</intermediateCatchEvent>\n")
        parts.append(_flow(f"f{i}", prev, f"lt{i}"))
        prev = f"lc{i}"
    parts.append('<endEvent id="e"/>\n' + _flow("fe", prev, "e"))
    return _doc(_proc("links", "".join(parts)))


def processes(n: int) -> bytes:
    # n / 10 processes of 10 tasks: at most 1,000 processes, the most any setting allows
    body = []
    for p in range(max(1, n // 10)):
        parts = [f'<startEvent id="s{p}"/>']
        prev = f"s{p}"
        for i in range(10):
            parts.append(f'<task id="t{p}_{i}"/>' + _flow(f"f{p}_{i}", prev, f"t{p}_{i}"))
            prev = f"t{p}_{i}"
        parts.append(f'<endEvent id="e{p}"/>' + _flow(f"fe{p}", prev, f"e{p}"))
        body.append(_proc(f"p{p}", "".join(parts)))
    return _doc("".join(body))


def stores(n: int) -> bytes:
    decl = "".join(f'<dataStore id="ds{i}"/>\n' for i in range(n))
    refs = "".join(f'<dataStoreReference id="r{i}" dataStoreRef="ds{i}"/>\n' for i in range(n))
    inner = '<startEvent id="s"/><endEvent id="e"/>' + _flow("f", "s", "e") + refs
    return _doc(decl + _proc("stores", inner))


def lanes(n: int) -> bytes:
    lane_xml = "".join(f'<lane id="l{i}"><flowNodeRef>u{i}</flowNodeRef></lane>\n'
                       for i in range(n))
    parts = [f"<laneSet>{lane_xml}</laneSet>\n", '<startEvent id="s"/>\n']
    prev = "s"
    for i in range(n):
        parts.append(f'<userTask id="u{i}"/>\n' + _flow(f"f{i}", prev, f"u{i}"))
        prev = f"u{i}"
    parts.append('<endEvent id="e"/>\n' + _flow("fe", prev, "e"))
    return _doc(_proc("lanes", "".join(parts)))


CASES: dict[str, Callable[[int], bytes]] = {
    "chain": chain, "fan": fan, "nested": nested, "attrs": attrs, "links": links,
    "processes": processes, "stores": stores, "lanes": lanes,
}


def measure(case: str, n: int) -> dict[str, float]:
    """Parse, validate and deploy one generated diagram; seconds and peak memory."""
    import laneway.bpmn
    from laneway.bpmn import parse, validate
    from laneway.engine import DefinitionRepository
    from laneway.engine.check import missing_personas

    # the growth is measured, not the limits: read with the most any setting allows (a
    # checkout from before the limits has none)
    limits = getattr(laneway.bpmn, "STORED_LIMITS", None)
    data = CASES[case](n)
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    defs = parse(data, f"{case}.bpmn", limits) if limits else parse(data, f"{case}.bpmn")
    t1 = time.perf_counter()
    validate(defs)
    t2 = time.perf_counter()
    DefinitionRepository().deploy(defs)
    for process in defs.processes:
        missing_personas(process, {})
    t3 = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"bytes": len(data), "parse": t1 - t0, "validate": t2 - t1, "deploy": t3 - t2,
            "peak_mib": max(0, peak_kib - base_kib) / 1024}


def _in_child(case: str, n: int, timeout: float) -> dict[str, float] | None:
    try:
        out = subprocess.run([sys.executable, __file__, "--one", case, str(n)],
                             capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{case} {n}: {exc.stderr.strip().splitlines()[-1]}") from None
    return dict(json.loads(out.stdout))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2500,10000")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds one measurement may take before it is reported as over")
    ap.add_argument("--one", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'case':<10} {'n':>7} {'KiB':>7} {'parse s':>8} {'valid s':>8} {'deploy s':>8} "
          f"{'peak MiB':>8}")
    for case in args.cases.split(","):
        totals: list[float] = []
        for n in sizes:
            r = _in_child(case, n, args.timeout)
            if r is None:
                print(f"{case:<10} {n:>7} over {args.timeout:.0f} s")
                continue
            totals.append(r["parse"] + r["validate"] + r["deploy"])
            print(f"{case:<10} {n:>7} {r['bytes'] / 1024:>7.0f} {r['parse']:>8.3f} "
                  f"{r['validate']:>8.3f} {r['deploy']:>8.3f} {r['peak_mib']:>8.1f}")
        if len(totals) == len(sizes) > 1 and totals[0] > 0:
            print(f"{case:<10} time ratio {sizes[-1] / sizes[0]:.0f}x size: "
                  f"{totals[-1] / totals[0]:.1f}x")


if __name__ == "__main__":
    main()
