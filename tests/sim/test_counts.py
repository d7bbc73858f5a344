"""A recorder's counts as rows and back (`sim.counts`): how the daemon keeps its live report.
Rows of a run, split anyhow and added up again, give the run's own report."""

from __future__ import annotations

import random
from pathlib import Path
from zoneinfo import ZoneInfo

from journeyctl.project import validate
from journeyctl.sim import counts
from journeyctl.sim.host import Options, Simulation
from journeyctl.sim.recorder import Recorder
from tests.support import REPO

EXAMPLE = REPO / "journeys"


def example_run() -> tuple[Recorder, Simulation]:
    loaded = validate(EXAMPLE)
    assert loaded.project is not None
    simulation = Simulation(loaded.project, [], Options())
    recorder = Recorder(loaded.project, [cj.id for cj in simulation.engine.compiled.journeys],
                        simulation.tz)
    simulation.observers.insert(0, recorder)
    simulation.run([EXAMPLE / "data/events.jsonl"], EXAMPLE / "data/profiles.jsonl")
    return recorder, simulation


def fresh(recorder: Recorder) -> Recorder:
    return Recorder(recorder.project, recorder.journey_ids, ZoneInfo("UTC"))


def test_rows_split_anyhow_add_up_to_the_runs_report() -> None:
    recorder, simulation = example_run()
    rows = list(counts.flatten(recorder))
    assert any('"suppressed"' in path for path, _ in rows)  # the run counted suppressions
    assert any(isinstance(v, float) for _, v in rows) and any(isinstance(v, int) for _, v in rows)
    rng = random.Random(3)
    halves: list[Recorder] = [fresh(recorder), fresh(recorder)]
    for path, value in rows:  # each count split in two parts, as over two hours or daemons
        if isinstance(value, int):
            part: int | float = rng.randint(0, value)
        else:
            part = value / 2
        assert counts.add(halves[0], path, part)
        assert counts.add(halves[1], path, value - part)
    total = fresh(recorder)
    for half in halves:
        for path, value in counts.flatten(half):
            counts.add(total, path, value)
    stats, start = simulation.stats, simulation.start
    assert total.report(stats, start, simulation.until) == \
        recorder.report(stats, start, simulation.until)


def test_a_row_of_a_journey_the_project_no_longer_has_is_left_out() -> None:
    recorder, _ = example_run()
    assert not counts.add(recorder, '["journeys","gone","entered"]', 3)
    assert not counts.add(recorder, '["no_such_counter","x"]', 1)
    assert not counts.add(recorder, '["journeys"]', 1)
    assert counts.add(recorder, '["by_channel","carrier_pigeon"]', 2)
    assert recorder.by_channel["carrier_pigeon"] == 2


def test_a_path_is_json_with_tuple_keys_as_lists(tmp_path: Path) -> None:
    recorder, _ = example_run()
    edge = next(path for path, _ in counts.flatten(recorder) if '"edges"' in path)
    assert edge.startswith('["journeys","') and ',["' in edge  # (source, step, label)
