"""Which adapter version serves: the gate, promotion and rollback.

* :mod:`~moot.promotion.gate`: a candidate is served only if it is not measurably worse
  than the current version (:class:`~moot.promotion.gate.TaskGate`,
  :class:`~moot.promotion.gate.TrafficGate`);
* :mod:`~moot.promotion.lineage`: every version of every role, where it came from, and
  the moves between them (promote, refuse, roll back, serve by hand).
"""
