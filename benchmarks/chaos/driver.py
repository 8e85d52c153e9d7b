"""The clients of the chaos run: they start instances, complete user tasks and publish messages
through the public API while its services are being killed.

Every call is retried on what a crash looks like from outside (no connection, a 502 from the
edge while a service is down, a 503 or 504) until it gets an answer, so each one is at least
once; what makes a repeat harmless is the API's part:

- a task completion repeated is refused by the engine (409, the task is completed);
- a message carries its own `messageId` (`chaos-<instance>`) and a time to live, so a repeat
  is refused as a duplicate and a publish before the instance waits is kept for it;
- a start has no key the API dedupes on: a start whose answer was lost and that is sent again
  may start a second instance (same business key). Those are counted (`starts_ambiguous`); the
  second instance runs like any other, so it must complete too.
"""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE = frozenset({500, 502, 503, 504})
MESSAGE = "chaos-go"


class Stopped(Exception):
    """The run was stopped while a call was still being retried."""


@dataclass
class Figures:
    """What the clients did, counted under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, str] = field(default_factory=dict)
    """Business key -> the instance id of the start's 201."""
    completed_tasks: set[str] = field(default_factory=set)
    published: set[str] = field(default_factory=set)
    """Instances whose message was accepted (202)."""
    refusals: list[str] = field(default_factory=list)
    """Answers no retry can change (4xx other than an expected 409), first 50."""

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n

    def refused(self, what: str) -> None:
        with self.lock:
            self.counts["refused"] += 1
            if len(self.refusals) < 50:
                self.refusals.append(what)


def call(client: httpx.Client, method: str, url: str, stop: threading.Event,
         figures: Figures, what: str, **kwargs: Any) -> tuple[httpx.Response, int]:
    """The request until it gets an answer that is not a crash's, and how many tries that
    took; Stopped when `stop` is set. Backs off from 0.1 s to 2 s with jitter, so a
    restarting service is not hammered."""
    delay = 0.1
    tries = 0
    while True:
        tries += 1
        try:
            response = client.request(method, url, **kwargs)
            if response.status_code not in RETRYABLE:
                return response, tries
            figures.add(f"{what}_retried_{response.status_code}")
        except httpx.TransportError:
            figures.add(f"{what}_retried_connection")
        if stop.wait(delay * random.uniform(0.5, 1.5)):
            raise Stopped(what)
        delay = min(delay * 2, 2.0)


@dataclass
class Driver:
    """Starts `instances` at `rate` per second; completes the process's open tasks as they
    appear and publishes each instance's message after its task."""

    base_url: str
    process_id: str
    instances: int
    rate: float
    starter_headers: Mapping[str, str]
    clerk_headers: Mapping[str, str]
    """A person with the lane's persona: lists and completes the tasks."""
    publisher_headers: Mapping[str, str]
    workers: int = 8
    figures: Figures = field(default_factory=Figures)
    stop: threading.Event = field(default_factory=threading.Event)
    starts_done: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _tasks: queue.Queue[dict[str, Any]] = field(default_factory=lambda: queue.Queue(1000))
    _queued: set[str] = field(default_factory=set)
    errors: list[BaseException] = field(default_factory=list)

    def client(self, headers: Mapping[str, str]) -> httpx.Client:
        # a task completion waits up to LANEWAY_TASK_ANSWER_S (10 s) for the engine
        return httpx.Client(base_url=self.base_url, headers=dict(headers), timeout=20)

    def start(self) -> None:
        targets: list[Callable[[], None]] = [self._starter, self._lister]
        targets += [self._worker] * self.workers
        for n, target in enumerate(targets):
            thread = threading.Thread(target=self._guard(target), daemon=True,
                                      name=f"chaos-driver-{n}")
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(30)

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Stopped:
                pass
            except BaseException as exc:  # reported at the end, never silently lost
                self.errors.append(exc)
        return run

    # -- starts -------------------------------------------------------------------------------

    def _starter(self) -> None:
        began = time.monotonic()
        with self.client(self.starter_headers) as api:
            for n in range(self.instances):
                due = began + n / self.rate
                if self.stop.wait(max(0.0, due - time.monotonic())):
                    return
                key = f"chaos-{n}"
                # the instance id is chosen here, so a start retried after a lost answer
                # names the same instance and the engine refuses the copy (ALREADY_EXISTS)
                response, tries = call(
                    api, "POST", "/api/instances", self.stop, self.figures, "start",
                    json={"processId": self.process_id, "businessKey": key,
                          "instanceId": str(uuid.uuid4()), "variables": {"n": n}})
                if tries > 1:  # an earlier try may have produced the command too
                    self.figures.add("starts_ambiguous")
                if response.status_code == 201:
                    with self.figures.lock:
                        self.figures.acknowledged[key] = response.json()["instanceId"]
                else:
                    self.figures.refused(f"start {key}: {response.status_code} "
                                         f"{response.text[:200]}")
        self.starts_done.set()

    # -- tasks and messages -------------------------------------------------------------------

    def _lister(self) -> None:
        """Lists the open tasks of the process and queues those not being worked on."""
        with self.client(self.clerk_headers) as api:
            while not self.stop.is_set():
                try:
                    response = api.get("/api/tasks", params={
                        "processId": self.process_id, "state": "open", "sort": "created",
                        "limit": 500})
                except httpx.TransportError:
                    response = None
                if response is None or response.status_code != 200:
                    self.figures.add("task_list_failed")
                    self.stop.wait(0.5)
                    continue
                queued = 0
                for task in response.json()["items"]:
                    # a task shows as open until its completion is projected; each is queued
                    # once, and its worker retries until the engine answered (a lost answer
                    # is sent again: the engine refuses the repeat)
                    if task["taskId"] in self._queued:
                        continue
                    self._queued.add(task["taskId"])
                    self._tasks.put(task)
                    queued += 1
                self.stop.wait(0.2 if queued else 0.5)

    def _worker(self) -> None:
        with self.client(self.clerk_headers) as tasks, \
                self.client(self.publisher_headers) as messages:
            while not self.stop.is_set():
                try:
                    task = self._tasks.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._complete(tasks, task)
                self._publish(messages, task["instanceId"])

    def _complete(self, api: httpx.Client, task: dict[str, Any]) -> None:
        iid, tid = task["instanceId"], task["taskId"]
        # the message correlates by `ref`, set here: unique per instance, duplicates included
        response, tries = call(api, "POST", f"/api/tasks/{tid}/complete", self.stop,
                               self.figures, "complete", json={"variables": {"ref": iid}})
        if response.status_code == 200:
            self.figures.add("tasks_completed")
            with self.figures.lock:
                self.figures.completed_tasks.add(iid)
        elif response.status_code in (404, 409) and tries > 1:
            # an earlier attempt got through and its answer was lost: the engine refuses the
            # repeat (NOT_FOUND, "to be open, but it is not", for a completed task)
            self.figures.add("tasks_already_completed")
        else:
            self.figures.refused(f"complete {tid}: {response.status_code} "
                                 f"{response.text[:200]}")

    def _publish(self, api: httpx.Client, iid: str) -> None:
        response, _ = call(api, "POST", "/api/messages", self.stop, self.figures, "publish",
                        json={"name": MESSAGE, "correlationKey": iid,
                              "messageId": f"chaos-{iid}", "ttlSeconds": 3600})
        if response.status_code == 202:
            self.figures.add("messages_published")
            with self.figures.lock:
                self.figures.published.add(iid)
        else:
            self.figures.refused(f"publish {iid}: {response.status_code} "
                                 f"{response.text[:200]}")
