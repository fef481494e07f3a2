"""Live learning for any LangChain or LangGraph app: :class:`~moot.live.learner.Learner`.

The learner logs the app's calls and takes feedback; :mod:`moot.training.distiller` turns
the kept ones into candidate adapters, and :mod:`moot.promotion` gates, promotes and rolls
them back.
"""
