"""Research features whose API may still change: the league, candidate search, prompt search.

Examples:
    >>> from moot.experimental import CandidateConfig
    >>> CandidateConfig(count=3).learning_rate(2e-4, 0) > 0
    True
"""

from moot.loops.selfplay_config import League
from moot.selection.bandits import UCB, lucb
from moot.selection.candidates import CandidateConfig, select_candidate
from moot.selection.prompts import PromptOptimizationConfig, propose_prompt

__all__ = ["CandidateConfig", "League", "PromptOptimizationConfig", "UCB", "lucb", "propose_prompt", "select_candidate"]
