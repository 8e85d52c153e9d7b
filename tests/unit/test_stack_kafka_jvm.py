"""The local broker's JVM options: the collector `LANEWAY_KAFKA_GC` names, and its GC log."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.stack.config import KAFKA_GC, Settings, StackError
from scripts.stack.kafka import Kafka


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LANEWAY_STACK_DIR": str(tmp_path), **env})


def collectors(options: list[str]) -> list[str]:
    return [o for o in options if o.startswith("-XX:+Use") and o.endswith("GC")]


def test_the_broker_runs_g1_unless_told_otherwise(tmp_path: Path) -> None:
    options = Kafka(settings(tmp_path)).jvm_options()
    assert collectors(options) == ["-XX:+UseG1GC"]
    assert "-XX:MaxGCPauseMillis=20" in options


@pytest.mark.parametrize("raw", ["zgc", " ZGC "])
def test_the_setting_names_the_collector(tmp_path: Path, raw: str) -> None:
    s = settings(tmp_path, LANEWAY_KAFKA_GC=raw)
    assert s.kafka_gc == "zgc"
    options = Kafka(s).jvm_options()
    assert collectors(options) == ["-XX:+UseZGC"]
    assert "-XX:MaxGCPauseMillis=20" not in options  # G1's goal is not passed to another


def test_an_unknown_collector_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"LANEWAY_KAFKA_GC must be one of g1, zgc, got 'cms'"):
        settings(tmp_path, LANEWAY_KAFKA_GC="cms")


def test_the_gc_log_goes_to_the_stack_logs_and_is_bounded(tmp_path: Path) -> None:
    kafka = Kafka(settings(tmp_path))
    assert kafka.gc_log == kafka.s.logs_dir / "kafka-gc.log"
    logs = [o for o in kafka.jvm_options() if o.startswith("-Xlog:")]
    assert logs == [f"-Xlog:gc:file={kafka.gc_log}:time,uptimemillis:filecount=2,filesize=10m"]


@pytest.mark.skipif(shutil.which("java") is None, reason="no java on PATH (the stack installs it)")
@pytest.mark.parametrize("gc", sorted(KAFKA_GC))
def test_this_java_accepts_each_collectors_options(tmp_path: Path, gc: str) -> None:
    """Run `java <options> -version`: a collector this JVM lacks, or an option it does not
    know, fails here and not at the broker's start."""
    kafka = Kafka(settings(tmp_path, LANEWAY_KAFKA_GC=gc))
    kafka.s.logs_dir.mkdir(parents=True)
    java = shutil.which("java")
    assert java is not None
    done = subprocess.run([java, *kafka.jvm_options(), "-version"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert kafka.gc_log.exists()  # the JVM opened its GC log where the options say
