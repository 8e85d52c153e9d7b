"""The console's figures: `python -m benchmarks.console_bench` (`make bench-console`).

1. First load, cold cache (a new browser context), through the edge on the local stack:
   - the modeler: `/sign-in`, pick a development user, then `/modeler` until bpmn-js's palette
     and canvas are there (usable): bytes over the wire (every response's encoded body and
     headers) and milliseconds;
   - the public form: `/forms/<process>` until its first field is there.
2. Event produced -> shown on an open instance page, during the e2e benchmark's paced phase
   (start -> service task -> end at 100 starts/s, benchmarks/e2e): N pages in headless
   Chromium, each open on an instance looping on a 1-second timer (benchmarks/e2e/live.py),
   each recording when it drew each live event (`window.__lanewayLive`: the event's Kafka
   timestamp, `at`, and `Date.now()` after the DOM was updated); p50 and p99 over every event
   produced during the phase. Browser and engine share the machine's clock.

Needs the local stack (`python -m scripts.stack up`), the built console (`make console`) and
Chromium (`make browser`). Every run has its own topics and schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, Request, ViewportSize, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from benchmarks.e2e import pct
from benchmarks.e2e.__main__ import PACED_RATE, deploy, paced_latency
from benchmarks.e2e.live import LOOP
from laneway.bpmn import LANEWAY_NS
from scripts.console.__main__ import CHROMIUM
from scripts.stack import Settings, up
from scripts.stack.testing import unique_name, wait_until
from tests.auth import signing_key, token
from tests.console.ui import sign_in
from tests.e2e.harness import Completions, Laneway, TopicReader, job_worker

FORM = {"type": "object", "title": "A bench form", "required": ["name"],
        "properties": {"name": {"type": "string", "maxLength": 100},
                       "email": {"type": "string", "format": "email", "maxLength": 300}}}


def _authorize(lw: Laneway, xml: bytes) -> str:
    """Deploy through the API as ana, review, approve and authorize as ben."""
    ana = {"Authorization": "Bearer " + token("ana", roles=["modeler"])}
    ben = {"Authorization": "Bearer " + token("ben", roles=["reviewer", "authorizer"])}
    with httpx.Client(base_url=lw.public_url, timeout=30) as api:
        r = api.post("/api/definitions", content=xml, headers={
            **ana, "Content-Type": "application/xml"})
        r.raise_for_status()
        d = r.json()["deployed"][0]
        url = f"/api/definitions/{d['processId']}/versions/{d['version']}/transitions"
        for who, to in ((ana, "REVIEW"), (ben, "APPROVED"), (ben, "AUTHORIZED")):
            api.post(url, json={"to": to}, headers=who).raise_for_status()
        return str(d["processId"])


def _timed_load(browser: Browser, viewport: ViewportSize, what: str,
                load: Callable[[Page], None]) -> str:
    """`load` in a fresh context (a cold cache): its time and the bytes every response took
    over the wire (encoded body and headers)."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    sizes: list[int] = []

    def on_finished(request: Request) -> None:
        s = request.sizes()
        sizes.append(s["responseBodySize"] + s["responseHeadersSize"])
    page.on("requestfinished", on_finished)
    began = time.perf_counter()
    load(page)
    ms = 1000 * (time.perf_counter() - began)
    context.close()
    return (f"first load, {what}: {ms:,.0f} ms, {sum(sizes) / 1024:,.0f} KiB in "
            f"{len(sizes)} responses")


def first_load(browser: Browser, base: str, form_process: str) -> list[str]:
    desktop = ViewportSize(width=1280, height=800)
    phone = ViewportSize(width=390, height=844)

    def modeler(page: Page) -> None:
        sign_in(page, base, "ana", "/modeler")
        page.locator(".djs-palette").wait_for()
        page.locator(".djs-container svg").first.wait_for()

    def worklist(page: Page) -> None:
        sign_in(page, base, "carla", "/tasks")
        page.get_by_role("heading", name="Worklist").wait_for()

    def public_form(page: Page) -> None:
        page.goto(f"{base}/forms/{form_process}")
        page.locator("form input").first.wait_for()

    return [
        _timed_load(browser, desktop, "modeler usable (sign-in page, pick a user, /modeler)",
                    modeler),
        _timed_load(browser, desktop, "worklist shown (sign-in page, pick a user, /tasks)",
                    worklist),
        _timed_load(browser, phone, "public form at 390x844 (first field shown)", public_form),
    ]


def live_pages(browser: Browser, lw: Laneway, loop_pid: str, pages: int,
               paced_seconds: int) -> str:
    job_type = unique_name("bench").replace("-", "")
    pid = unique_name("bench").replace("-", "_")
    deploy(lw, pid, job_type)
    olga = {"Authorization": "Bearer " + token("olga", roles=["operator"])}
    ids = []
    with httpx.Client(base_url=lw.public_url, timeout=30, headers=olga) as api:
        for _ in range(pages):
            r = api.post("/api/instances", json={"processId": loop_pid})
            r.raise_for_status()
            ids.append(r.json()["instanceId"])
    # one browser context per page, as N people watching: a browser keeps at most 6
    # HTTP/1.1 connections to one origin, and each open stream holds one (docs/console.md)
    contexts = []
    opened = []
    for iid in ids:
        contexts.append(browser.new_context(viewport={"width": 1280, "height": 800}))
        page = contexts[-1].new_page()
        sign_in(page, lw.public_url, "olga", f"/instances/{iid}")
        try:
            page.wait_for_function("() => (window.__lanewayLive || []).length > 0",
                                   timeout=30_000)
        except PlaywrightError:
            raise AssertionError(f"the page on {iid} showed no live event in 30 s; it says: "
                                 f"{page.locator('main').inner_text()[:500]}") from None
        opened.append(page)
    events = TopicReader(lw.bootstrap, lw.topics.events)
    done = Completions(events)
    try:
        with job_worker(lw.bootstrap, lw.topics, job_type):
            began = time.time()
            paced = paced_latency(lw, done, pid, PACED_RATE, paced_seconds)
            ended = time.time()
        # every page past the phase: it drew an event produced after it ended
        wait_until(lambda: all(p.evaluate(
            "(t) => window.__lanewayLive.some((e) => e.at > t)", ended * 1000)
            for p in opened), 30, 0.2, "every page past the paced phase")
    finally:
        events.close()
    lags: list[float] = []
    for p in opened:
        for e in p.evaluate("() => window.__lanewayLive"):
            if began * 1000 <= e["at"] <= ended * 1000:
                lags.append(e["shownAt"] - e["at"])
    for context in contexts:
        context.close()
    if not lags:
        raise AssertionError("the pages drew no event during the paced phase")
    return (f"event produced -> shown on an open instance page, {pages} pages, paced at "
            f"{paced[0]}/s for {paced_seconds} s (its start->complete p99 "
            f"{paced[2]:.0f} ms): {len(lags)} events, p50 {statistics.median(lags):.0f} ms, "
            f"p99 {pct(lags, 99):.0f} ms, max {max(lags):.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console_bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=10,
                        help="instance pages open during the paced phase")
    parser.add_argument("--paced-seconds", type=int, default=10)
    args = parser.parse_args(argv)
    conns = up(Settings.from_env())
    with tempfile.TemporaryDirectory(prefix="laneway-console-bench-") as tmp:
        lw = Laneway(bootstrap=conns.kafka_bootstrap_servers, database_url=conns.database_url,
                     redis_url=conns.redis_url, workdir=Path(tmp),
                     env_overrides={"LANEWAY_DEV_SIGNIN": "1",
                                    "LANEWAY_DEV_KEY_FILE": str(signing_key())})
        lw.start()
        try:
            admin = {"Authorization": "Bearer " + token("mo", roles=["modeler"])}
            with httpx.Client(base_url=lw.public_url, timeout=30, headers=admin) as api:
                api.put("/api/form-schemas/bench-form", json=FORM).raise_for_status()
            form_pid = f"benchform_{uuid.uuid4().hex[:8]}"
            _authorize(lw, FORM_DIAGRAM.format(ns=LANEWAY_NS, pid=form_pid).encode())
            loop_pid = _authorize(lw, LOOP.format(ns=LANEWAY_NS,
                                                  pid=f"benchloop_{uuid.uuid4().hex[:8]}")
                                  .encode())
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                            args=["--no-sandbox"])
                for line in first_load(browser, lw.public_url, form_pid):
                    print(line, flush=True)
                print(live_pages(browser, lw, loop_pid, args.pages, args.paced_seconds),
                      flush=True)
                browser.close()
        finally:
            lw.close()
    return 0


FORM_DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="s" laneway:form="bench-form"/><endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="e"/>
  </process>
</definitions>"""


if __name__ == "__main__":
    sys.exit(main())
