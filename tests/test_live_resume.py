"""A live run killed mid-traffic and resumed: it serves only the minutes left, continues the
timeline, and no episode id ever names two requests."""

from __future__ import annotations

import io
import json
import os
import textwrap
from collections import defaultdict
from pathlib import Path

from conftest import run_until_it_kills_itself
from rich.console import Console

from moot.live.learner_config import LearnerConfig
from moot.loops.live import TRAFFIC_FILE, live
from moot.loops.live_config import LiveConfig
from moot.nodes import LocalEngine, LocalModelPool
from moot.nodes.debate import DebateConfig
from moot.runs.config import BackendConfig
from moot.stores import ExperienceLibrary
from moot.evaluation.tasks import SplitSizes

MINUTES = 0.25


def config(model_dir: str, run_dir: str) -> LiveConfig:
    # No distillation (every is out of reach): this test is about the traffic's bookkeeping.
    return LiveConfig(level="sum1", sizes=SplitSizes(train=6, validation=2, test=2), minutes=MINUTES,
                      traffic_concurrency=2, gate_problems=0, learner=LearnerConfig(every=10**6, poll_s=0.2),
                      debate=DebateConfig(n_agents=2, n_rounds=1, temperature=0.7, max_tokens=3, roles="shared"),
                      run_dir=Path(run_dir), model_dir=Path(model_dir), concurrency=2, flush_every_s=0.0,
                      backend=BackendConfig(dtype="float32"))


# The child serves traffic and kills itself a few seconds in: after the learner's logger has
# flushed (every 2 s), so the library holds some of its episodes.
CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_live_resume import config
    from moot.loops.live import TRAFFIC_FILE, live
    from moot.nodes import LocalEngine, LocalModelPool

    log = Path({run_dir!r}) / TRAFFIC_FILE

    class KilledMidTraffic(LocalEngine):
        traffic_since = None

        def submit(self, *args, **kwargs):
            if log.exists():
                KilledMidTraffic.traffic_since = KilledMidTraffic.traffic_since or time.monotonic()
                if time.monotonic() - KilledMidTraffic.traffic_since > 4.5:
                    os.kill(os.getpid(), signal.SIGKILL)
            return super().submit(*args, **kwargs)

    live(config({model_dir!r}, {run_dir!r}), LocalModelPool(KilledMidTraffic.from_pretrained({model_dir!r}, dtype="float32")))
""")


def test_a_resumed_live_run_serves_the_time_left_with_new_episode_ids(tiny_model_dir, tmp_path):
    run_dir = tmp_path / "live"
    run_until_it_kills_itself(CHILD.format(tests=os.path.dirname(__file__), run_dir=str(run_dir),
                                           model_dir=str(tiny_model_dir)))
    before = [json.loads(line)["request"] for line in (run_dir / TRAFFIC_FILE).read_text().splitlines()
              if '"request"' in line]
    served_before = max(r["end_s"] for r in before)
    assert len(before) >= 4 and served_before < 60 * MINUTES

    out = io.StringIO()
    report = live(config(str(tiny_model_dir), str(run_dir)),
                  LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")),
                  Console(file=out, width=200), mode="resume")
    assert "served before this resume; serving the rest" in out.getvalue()
    assert report.traffic[:len(before)] == before  # the first attempt's requests are kept
    resumed = report.traffic[len(before):]
    assert resumed and min(r["start_s"] for r in resumed) >= served_before  # the timeline continues
    # Start times are logged to 10 ms, so one submitted just before the deadline can read as on it.
    assert max(r["start_s"] for r in report.traffic) <= 60 * MINUTES  # no request starts after the minutes

    run_id = json.loads((run_dir / "config.json").read_text())["run_id"]
    problems_per_episode, agent_calls = defaultdict(set), defaultdict(int)
    for record in ExperienceLibrary(run_dir / "library").find(run=run_id, setting="traffic"):
        problems_per_episode[record["episode"]].add(record["problem_id"])
        agent_calls[record["episode"]] += record["node"] == "agent"
    assert len(problems_per_episode) >= len(resumed)
    # An id names one request: one problem, and no more calls than one debate of 2 agents x 1 round makes.
    assert all(len(problems) == 1 for problems in problems_per_episode.values())
    assert max(agent_calls.values()) == 2
    assert {str(e).split("/")[-1].split("-")[0] for e in problems_per_episode} == {"a1", "a2"}
