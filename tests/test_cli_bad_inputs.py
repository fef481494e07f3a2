"""Every bad input a user can give the CLI: one line naming the culprit, exit code 2, nothing left behind.

The table grows with every new option. None of these rows loads the model: each is refused
before the run folder is claimed or the model is loaded.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moot.cli import app


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# (id, arguments with {tmp} for a scratch folder, text the one-line message must contain)
BAD_INPUTS = [
    ("unknown protocol", ["improve", "chess"], "'chess' is not one of"),
    ("negotiation is not a task protocol", ["improve", "negotiation"], "'negotiation' is not one of"),
    ("agents for a chain", ["improve", "chain", "--agents", "4"], "--agents"),
    ("rounds for critique", ["improve", "critique", "--rounds", "3"], "--rounds"),
    ("agents for a live chain", ["live", "chain", "--agents", "2"], "--agents"),
    ("an objective live", ["live", "debate", "--objective", "dpo"], "No such option: --objective"),
    ("grpo in self-play", ["selfplay", "sell-buy", "--objective", "grpo"], "a negotiation turn has none"),
    ("grpo on a chain", ["improve", "chain", "--objective", "grpo"], "no call of chain answers the task alone"),
    ("task file missing", ["improve", "debate", "--task", "{tmp}/missing.jsonl"], "missing.jsonl"),
    ("task is a folder", ["improve", "debate", "--task", "{tmp}"], "is a folder"),
    ("task not utf-8", ["improve", "debate", "--task", "{tmp}/latin.jsonl"], "latin.jsonl is not UTF-8"),
    ("task line not json", ["improve", "debate", "--task", "{tmp}/broken.jsonl"], "broken.jsonl:1"),
    ("task of another format", ["improve", "debate", "--task", "{tmp}/notes.txt"], "moot reads .jsonl, .csv, .parquet"),
    ("unknown answer type", ["improve", "debate", "--task", "{tmp}/letters.jsonl", "--answer", "colour"],
     "unknown answer type 'colour'"),
    ("answers of another type", ["improve", "debate", "--task", "{tmp}/letters.jsonl"],
     "letters.jsonl:1: the answer 'B' does not read as answer type 'number'"),
    ("answer type for arithmetic", ["live", "debate", "--answer", "choice"], "arithmetic answers are numbers"),
    ("unmapped question field", ["improve", "debate", "--task", "{tmp}/letters.jsonl", "--answer", "choice",
                                 "--question-field", "prompt"], "expected the fields 'prompt' and 'answer'"),
    ("answer function missing", ["live", "debate", "--task", "{tmp}/letters.jsonl", "--answer", "json:nothing"],
     "cannot import 'nothing' from 'json'"),
    ("graph file missing", ["improve", "{tmp}/missing.py:build"], "missing.py does not exist"),
    ("graph function missing", ["improve", "{tmp}/graph.py:buld"], "has no function 'buld'"),
    ("graph file broken", ["live", "{tmp}/broken_graph.py:build"], "cannot import"),
    ("prompt search on a graph", ["improve", "{tmp}/graph.py:build", "--prompt-rounds", "1"], "drop --prompt-rounds"),
    ("eval split", ["improve", "debate", "--eval-split", "train"], "--eval-split"),
    ("filter", ["improve", "debate", "--filter", "vibes"], "--filter"),
    ("roles", ["improve", "debate", "--roles", "everyone"], "--roles"),
    ("level", ["improve", "debate", "--level", "calculus"], "calculus"),
    ("zero epochs", ["improve", "debate", "--epochs", "0"], "epochs=0"),
    ("negative epochs", ["improve", "debate", "--epochs", "-1"], "epochs=-1"),
    ("zero learning rate", ["improve", "debate", "--learning-rate", "0"], "learning rate=0"),
    ("zero rank", ["improve", "debate", "--rank", "0"], "rank=0"),
    ("dtype", ["improve", "debate", "--dtype", "float16"], "--dtype"),
    ("concurrency", ["improve", "debate", "--concurrency", "0"], "--concurrency"),
    ("vllm without url", ["improve", "debate", "--backend", "vllm"], "--base-url"),
    ("backend", ["improve", "debate", "--backend", "tpu"], "--backend"),
    ("unreachable vllm", ["improve", "debate", "--backend", "vllm", "--base-url", "http://127.0.0.1:{port}/v1",
                          "--request-timeout", "2"], "127.0.0.1:{port}"),
    ("malformed vllm url", ["improve", "debate", "--backend", "vllm", "--base-url", "nonsense"], "nonsense"),
    ("unreachable library", ["improve", "debate", "--library", "http://127.0.0.1:{port}"], "127.0.0.1:{port}"),
    ("library is a file", ["improve", "debate", "--library", "{tmp}/a-file"], "a-file"),
    ("run dir is a file", ["improve", "debate", "--run-dir", "{tmp}/a-file"], "a-file"),
    ("run dir under a file", ["improve", "debate", "--run-dir", "{tmp}/a-file/run"], "a-file"),
    ("model is not a model folder", ["improve", "debate", "--model", "{tmp}"], "no config.json"),
    ("model does not exist", ["live", "debate", "--model", "{tmp}/missing"], "no config.json"),
    ("negative repairs", ["improve", "chain", "--repairs", "-1"], "--repairs"),
    ("gate larger than its split", ["improve", "debate", "--validation-size", "5", "--gate-problems", "50"],
     "validation split has 5"),
    ("gate too small to promote", ["improve", "debate", "--gate-problems", "2"], "can never promote"),
    ("live gate larger than its split", ["live", "debate", "--validation-size", "5", "--gate-problems", "8"],
     "validation split has 5"),
    ("resume nothing", ["improve", "debate", "--resume"], "no run to resume"),
    ("resume and overwrite", ["improve", "debate", "--resume", "--overwrite"], "--resume"),
    ("used run folder", ["improve", "debate", "--run-dir", "{tmp}/used"], "--resume"),
    ("selfplay game", ["selfplay", "poker"], "sell-buy"),
    ("selfplay keep", ["selfplay", "sell-buy", "--keep", "luck"], "won"),
    ("selfplay variant", ["selfplay", "sell-buy", "--variant", "chaos"], "--variant"),
    ("selfplay zero learning rate", ["selfplay", "sell-buy", "--learning-rate", "0"], "learning rate=0"),
    ("selfplay zero epochs", ["selfplay", "sell-buy", "--epochs", "0"], "epochs=0"),
    ("selfplay warm start", ["selfplay", "sell-buy", "--warm-start-games", "-1"], "--warm-start-games"),
    ("selfplay dtype", ["selfplay", "sell-buy", "--dtype", "int8"], "--dtype"),
    ("selfplay unreachable library", ["selfplay", "sell-buy", "--library", "http://127.0.0.1:{port}"], "127.0.0.1:{port}"),
    ("serve open host without key", ["serve", "--host", "0.0.0.0"], "API key"),
    ("serve dtype", ["serve", "--dtype", "float64"], "--dtype"),
    ("report without reports", ["report", "{tmp}"], "no report.json"),
    # Experiment files: `report` refuses exactly what `run` refuses.
    *[(f"experiment {command}: {name}", ["experiment", command, f"{{tmp}}/{name}.toml", "--runs-dir", "{tmp}/runs"],
       message) for command in ("run", "report") for name, message in [
        ("escaping-name", "name '../../escaped' must be a plain folder name"),
        ("seed-typo", "unknown key 'seed'; did you mean 'seeds'?"),
        ("no-seeds", "seeds: list should have at least 1 item"),
        ("seeds-not-a-list", "seeds: input should be a valid list"),
        ("repeated-seeds", "seeds repeat: [1, 1]"),
        ("sizes-not-a-table", "settings.sizes: expected a table of settings"),
        ("unknown-protocol", "arm 1 ('only'): arm.protocol: input should be 'debate', 'chain', 'critique' or 'graph'"),
        ("wrong-type", "settings.iterations: input should be a valid integer"),
        ("setting-typo", "DebateConfig has no setting 'n_agent'; did you mean 'n_agents'?"),
        ("no-arms", "arms: field required"),
    ]],
]

# The experiment files of the table: one line changed from a valid one.
EXPERIMENTS = {
    "escaping-name": 'name = "../../escaped"',
    "seed-typo": "seed = [0, 1]",
    "no-seeds": "seeds = []",
    "seeds-not-a-list": "seeds = 3",
    "repeated-seeds": "seeds = [1, 1]",
    "sizes-not-a-table": "[settings]\nsizes = 5",
    "unknown-protocol": "[[arms]]\nname = \"only\"\nprotocol = \"chess\"",
    "wrong-type": "[settings]\niterations = \"two\"",
    "setting-typo": "[settings]\ndebate = { n_agent = 1 }",
}


@pytest.fixture
def scratch(tmp_path):
    (tmp_path / "latin.jsonl").write_bytes('{"question": "caf\xe9", "answer": "1"}\n'.encode("latin-1"))
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    (tmp_path / "notes.txt").write_text("What is 1 + 1? 2\n")
    (tmp_path / "graph.py").write_text("def build(pool):\n    raise NotImplementedError\n")
    (tmp_path / "broken_graph.py").write_text("def build(pool) return\n")
    (tmp_path / "letters.jsonl").write_text('{"question": "Which?", "answer": "B"}\n')
    for name, change in EXPERIMENTS.items():
        arms = "" if change.startswith("[[arms]]") else '[[arms]]\nname = "only"\n'
        (tmp_path / f"{name}.toml").write_text(f"{change}\n{arms}")
    (tmp_path / "no-arms.toml").write_text("seeds = [0]\n")
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "config.json").write_text('{"run_id": "used-1234"}')
    return tmp_path


@pytest.mark.parametrize(("arguments", "message"), [row[1:] for row in BAD_INPUTS], ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_is_one_clear_line_and_exit_2(arguments, message, scratch, monkeypatch):
    monkeypatch.delenv("MOOT_API_KEY", raising=False)
    port = unused_port()
    fill = lambda text: text.format(tmp=scratch, port=port)  # noqa: E731
    args = [fill(a) for a in arguments]
    run_dir = scratch / "run"
    if args[0] in ("improve", "selfplay") and "--run-dir" not in args:
        args += ["--run-dir", str(run_dir)]
    before = sorted(p.relative_to(scratch) for p in scratch.rglob("*"))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert fill(message) in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert sorted(p.relative_to(scratch) for p in scratch.rglob("*")) == before  # nothing left behind


def test_an_unwritable_run_folder_is_one_clear_line(tmp_path):
    if os.geteuid() == 0:
        # root writes anywhere; a read-only place it cannot write is /proc.
        target = Path("/proc/moot-run")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "run"
    result = CliRunner().invoke(app, ["improve", "debate", "--run-dir", str(target)])
    assert result.exit_code == 2 and str(target) in " ".join(result.output.split()), result.output
