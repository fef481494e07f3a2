"""moot: multi-agent LLM systems that improve themselves.

The names a user needs are importable from here; they load on first use, so that
``moot --help`` stays fast::

    from moot import ImproveConfig, ImproveRun, LocalModelPool, ExperienceLibrary
"""

import os

import lazy_loader

# moot makes no network calls at run time, but trl's trainer pings the Hub's telemetry on
# every training run; huggingface_hub reads this once, at import, so it is set here first.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# The loops and their configs, live learning, the protocols, the library and its logger, the
# pools and the engine, training. (The functions moot.improve.improve and moot.selfplay.selfplay
# share their modules' names, so the package exports the run classes: ImproveRun(config).run().)
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "improve": ["ImproveRun"],
        "improve_config": ["ImproveConfig"],
        "selfplay": ["SelfPlayRun"],
        "selfplay_config": ["SelfPlayConfig"],
        "run_config": ["BackendConfig", "RunConfig"],
        "tasks": ["Problem", "SplitSizes", "Task", "arithmetic_task", "jsonl_task"],
        "live": ["LiveRun"],
        "live_config": ["LiveConfig"],
        "learner": ["Learner"],
        "learner_config": ["LearnerConfig"],
        "gate": ["TaskGate", "TrafficGate"],
        "gate_config": ["GateConfig"],
        "candidate_selection": ["CandidateConfig"],
        "prompt_optimization": ["PromptOptimizationConfig"],
        "stores": ["ExperienceLibrary", "ExperienceLogger", "ExperienceRecord", "Feedback"],
        "nodes": ["ChainConfig", "CritiqueConfig", "DebateConfig", "FewShotConfig", "FewShotMemory", "NegotiationConfig"],
        "training.rewarded": ["RewardFilter", "rewarded_training_sets"],
        "protocols": ["PROTOCOLS", "Protocol", "get_protocol"],
        "graphs": ["build_chain_graph", "build_critique_graph", "build_debate_graph", "build_negotiation_graph"],
        "nodes.serving": ["LocalEngine", "LocalModelPool", "SamplingParams", "SharedModelPool", "VLLMModelPool"],
        "training": ["AdapterManifest", "CurationConfig", "LoraTrainingConfig", "TrainingExample", "train_lora_adapter"],
    },
)
