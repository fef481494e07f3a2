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

# About fifteen names: the two loops and their configs, live learning, the pools, the library
# and the tasks. Everything else is in the subpackage named after it (moot.runs, moot.loops,
# moot.live, moot.promotion, moot.evaluation, moot.protocols) or, while still research, in
# moot.experimental.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["experimental"],
    submod_attrs={
        "loops.improve": ["ImproveRun"],
        "loops.improve_config": ["ImproveConfig"],
        "loops.selfplay": ["SelfPlayRun"],
        "loops.selfplay_config": ["SelfPlayConfig"],
        "live.learner": ["Learner"],
        "live.learner_config": ["LearnerConfig"],
        "promotion.gate": ["TaskGate"],
        "evaluation.tasks": ["Task", "arithmetic_task", "file_task"],
        "stores": ["ExperienceLibrary", "ExperienceLogger", "Feedback"],
        "nodes.serving": ["LocalModelPool", "SharedModelPool", "VLLMModelPool"],
    },
)
