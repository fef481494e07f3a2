"""moot: multi-agent LLM systems that improve themselves.

The names a user needs are importable from here; they load on first use, so that
``moot --help`` stays fast::

    from moot import ImproveConfig, ImproveRun, LocalModelPool, ExperienceLibrary
"""

import importlib
import os
from typing import Any

# moot makes no network calls at run time, but trl's trainer pings the Hub's telemetry on
# every training run; huggingface_hub reads this once, at import, so it is set here first.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_EXPORTS = {
    # the loops and their configs
    # (the functions moot.improve.improve and moot.selfplay.selfplay share their modules'
    # names, so the package exports the run classes: ImproveRun(config).run())
    "ImproveConfig": "moot.improve", "ImproveRun": "moot.improve",
    "SelfPlayConfig": "moot.selfplay", "SelfPlayRun": "moot.selfplay",
    "BackendConfig": "moot.runner", "RunConfig": "moot.runner", "SplitSizes": "moot.tasks", "Task": "moot.tasks", "Problem": "moot.tasks",
    "arithmetic_task": "moot.tasks", "jsonl_task": "moot.tasks",
    "LiveConfig": "moot.live", "LiveRun": "moot.live",
    # live learning from an app's own traffic
    "Learner": "moot.learner", "LearnerConfig": "moot.learner", "GateConfig": "moot.gate", "TaskGate": "moot.gate",
    "TrafficGate": "moot.gate", "Feedback": "moot.stores", "FewShotMemory": "moot.nodes", "FewShotConfig": "moot.nodes", "RewardFilter": "moot.training.rewarded",
    "rewarded_training_sets": "moot.training.rewarded",
    # the protocols
    "Protocol": "moot.protocols", "PROTOCOLS": "moot.protocols", "get_protocol": "moot.protocols",
    "DebateConfig": "moot.nodes", "ChainConfig": "moot.nodes", "CritiqueConfig": "moot.nodes",
    "NegotiationConfig": "moot.nodes",
    "build_debate_graph": "moot.graphs", "build_chain_graph": "moot.graphs", "build_critique_graph": "moot.graphs",
    "build_negotiation_graph": "moot.graphs",
    # the library and its logger
    "ExperienceLibrary": "moot.stores", "ExperienceLogger": "moot.stores", "ExperienceRecord": "moot.stores",
    # the pools and the engine
    "LocalModelPool": "moot.nodes.serving", "SharedModelPool": "moot.nodes.serving", "VLLMModelPool": "moot.nodes.serving",
    "LocalEngine": "moot.nodes.serving", "SamplingParams": "moot.nodes.serving",
    # training
    "LoraTrainingConfig": "moot.training", "CurationConfig": "moot.training", "TrainingExample": "moot.training",
    "train_lora_adapter": "moot.training", "AdapterManifest": "moot.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'moot' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
