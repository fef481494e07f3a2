"""Stores persist: the experience library (Chroma) and the callback that fills it."""

from .experience_callback import Annotator, ExperienceLogger
from .experience_library import ExperienceLibrary, ExperienceRecord, LibraryUnavailable, record_id

__all__ = ["Annotator", "ExperienceLibrary", "ExperienceLogger", "ExperienceRecord", "LibraryUnavailable", "record_id"]
