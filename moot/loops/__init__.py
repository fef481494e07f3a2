"""The loops the CLI runs, each with its config beside it (trl's pattern).

* :mod:`~moot.loops.improve`: play -> log -> curate -> train -> gate -> swap -> evaluate on a task;
* :mod:`~moot.loops.selfplay`: negotiation self-play against frozen opponents;
* :mod:`~moot.loops.live`: a protocol serving traffic while the live learner distils behind it;
* :mod:`~moot.loops.experiment`: many arms and seeds from one TOML file.
"""
