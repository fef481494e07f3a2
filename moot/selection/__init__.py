"""Choosing among candidates: UCB exploration, the candidate-adapter search and prompt search.

These are still research; :mod:`moot.experimental` names what users may try.
"""
