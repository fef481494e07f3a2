"""A graph of your own in the improve loop: `moot improve path/to/file.py:function`."""

from __future__ import annotations

import json
import textwrap

import pytest
from fakes import scripted_pool
from typer.testing import CliRunner

from moot.cli import app
from moot.protocols.user_graph import GraphProtocol
from moot.protocols.user_graph_config import GraphConfig, load_builder
from moot.stores import ExperienceLibrary, ExperienceLogger

# A two-role team with its own state keys: "task" in, "reply" out.
TEAM = textwrap.dedent('''
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph


    class Ticket(TypedDict, total=False):
        task: str
        draft: str
        reply: str


    def build_team(pool):
        def draft(state):
            return {"draft": pool.model("drafter", max_tokens=4).invoke(state["task"]).content}

        def polish(state):
            return {"reply": pool.model("polisher", max_tokens=4).invoke(state["task"] + " " + state["draft"]).content}

        graph = StateGraph(Ticket)
        graph.add_node("draft", draft)
        graph.add_node("polish", polish)
        graph.add_edge(START, "draft")
        graph.add_edge("draft", "polish")
        graph.add_edge("polish", END)
        return graph.compile(name="team")
''')


@pytest.fixture
def team_file(tmp_path):
    path = tmp_path / "team.py"
    path.write_text(TEAM)
    return path


def test_a_user_graph_is_played_annotated_and_curated_per_role(team_file, tmp_path):
    config = GraphConfig(f"{team_file}:build_team", question_key="task", answer_key="reply")
    protocol = GraphProtocol(config)
    pool = scripted_pool(drafter=["add them", "guess"], polisher=["It is 7.", "It is 9."])
    library = ExperienceLibrary(tmp_path / "library")
    graph = protocol.build(pool, config)
    with ExperienceLogger(library, annotate=protocol.annotators) as logger:
        for episode in ("right", "wrong"):
            state = graph.invoke({"question": "3 + 4?"}, {"callbacks": [logger], "metadata": {"episode": episode,
                                                                                           "target": "7"}})
    assert protocol.final_answer(state) == "9"
    records = library.find()
    assert {(r["episode"], r["role"], r["final_correct"]) for r in records} == {
        ("right", "drafter", True), ("right", "polisher", True), ("wrong", "drafter", False), ("wrong", "polisher", False)}
    sets = protocol.curate(records, None)
    assert {role: [e.completion for e in examples] for role, examples in sets.items()} == {
        "drafter": ["add them"], "polisher": ["It is 7."]}


def test_a_builder_that_cannot_be_found_is_one_line(team_file, tmp_path):
    with pytest.raises(ValueError, match="graph file .*missing.py does not exist"):
        load_builder(f"{tmp_path}/missing.py:build")
    with pytest.raises(ValueError, match="has no function 'build_tean'"):
        load_builder(f"{team_file}:build_tean")
    broken = tmp_path / "broken.py"
    broken.write_text("import nothing_of_the_kind\n")
    with pytest.raises(ValueError, match="cannot import .*broken.py: ModuleNotFoundError"):
        load_builder(f"{broken}:build")


def test_moot_improve_trains_each_role_of_a_user_graph(team_file, tiny_model_dir, tmp_path):
    task = tmp_path / "task.jsonl"
    task.write_text("".join(json.dumps({"question": f"Ticket {i}: reset my password", "answer": "done"}) + "\n"
                            for i in range(8)))
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "improve", f"{team_file}:build_team", "--graph-question-key", "task", "--graph-answer-key", "reply",
        "--task", str(task), "--answer", "fakes:every_reply_is_right", "--model", str(tiny_model_dir),
        "--dtype", "float32", "--train-size", "4", "--validation-size", "2", "--test-size", "2",
        "--max-steps", "1", "--max-tokens", "4", "--gate-problems", "0", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "report.json").read_text())
    assert report["protocol"] == "graph" and report["config"]["graph"]["builder"] == f"{team_file}:build_team"
    assert {s["name"]: s["accuracy"] for s in report["scores"] if s["name"].startswith("graph")} == {
        "graph (base)": 1.0, "graph (iteration 1)": 1.0}
    trained = {e["role"]: e for e in report["training"]}
    assert set(trained) == {"drafter", "polisher"} and all(e["version"] for e in trained.values())
    for role in trained:
        assert (run_dir / "adapters" / "it1" / role / "adapter_model.safetensors").is_file()
    records = ExperienceLibrary(run_dir / "library").find(split="train")
    assert {r["role"] for r in records} == {"drafter", "polisher"} and all(r["reward"] == 1.0 for r in records)
