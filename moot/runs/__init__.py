"""What every run shares: its settings, its run folder, the driver base class and logged episodes.

A loop (:mod:`moot.loops`) subclasses :class:`~moot.runs.driver.RunDriver` and gets the run
folder, resume, episode ids, progress bars and role training from here.
"""
