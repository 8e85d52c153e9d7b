"""The engine's watchdog ends a process whose loop stopped going round."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time


def test_a_stalled_loop_makes_the_process_exit_with_70() -> None:
    # given a loop whose last round is long past, watched with a short limit
    script = textwrap.dedent("""
        import time, types
        from services.engine.__main__ import _watchdog
        loop = types.SimpleNamespace(last_iteration=time.monotonic() - 10)
        _watchdog(loop, 0.4)
    """)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    # then the process ends itself, saying why
    assert done.returncode == 70, done.stderr
    assert "has not gone round" in done.stderr
    assert time.monotonic() - started < 30


def test_a_loop_that_goes_round_is_left_alone() -> None:
    # given a loop that keeps going round while the watchdog watches with a short limit
    script = textwrap.dedent("""
        import threading, time, types
        from services.engine.__main__ import _watchdog
        loop = types.SimpleNamespace(last_iteration=time.monotonic())
        threading.Thread(target=_watchdog, args=(loop, 0.4), daemon=True).start()
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            loop.last_iteration = time.monotonic()
            time.sleep(0.05)
        print("survived")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "survived" in done.stdout
