"""`laneway run` and an ad-hoc subprocess's decision job: `--jobs TYPE=` answers a choice with
`activities` and `done`, and the waiting line names the activities a choice may start (not
flows, which such a job does not take)."""

from __future__ import annotations

from pathlib import Path

import pytest

from laneway.cli import main
from laneway.cli._output import waiting_line

ROOT = Path(__file__).resolve().parents[2]
CLAIM = ROOT / "examples/connectors/llm-adhoc/claim.bpmn"


def test_the_waiting_line_of_an_ad_hoc_decision_names_its_activities() -> None:
    line = waiting_line("decision job of type 'llm' at 'work'", {"work": ["to_end"]},
                        {"work": ["a", "b"]})
    assert line == ("waiting: decision job of type 'llm' at 'work' (give --jobs llm="
                    "'{\"activities\": [\"a\", \"b\"], \"done\": false}' naming the activities "
                    "to start, or '{\"done\": true}')")
    # a gateway's still names its flows
    assert '{"flows": ["to_end"]}' in waiting_line("decision job of type 'llm' at 'work'",
                                                   {"work": ["to_end"]})


def test_a_run_without_choices_waits_on_the_ad_hoc_decision(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(CLAIM), "--var", 'claim={"id": "K-1", "text": "?"}'])
    err = capsys.readouterr().err
    assert code != 0
    assert '"activities": ["gather_facts", "assess_damage", "send_expert"]' in err


def test_choices_given_with_jobs_drive_the_ad_hoc_subprocess(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(CLAIM), "--var", 'claim={"id": "K-1", "text": "?"}',
                 "--jobs", 'llm={"activities": ["send_expert"]}', "--jobs", 'llm={"done": true}',
                 "--jobs", "claims-lookup={}"])
    out = capsys.readouterr().out
    assert code == 0
    decided = [line for line in out.splitlines() if '"AD_HOC_DECIDED"' in line]
    assert len(decided) == 2
    assert '"activities":["send_expert"]' in decided[0]
    assert '"done":true' in decided[1]
