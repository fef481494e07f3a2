"""Stores persist: the experience library (Chroma) and the callback that fills it."""

from .experience_callback import Annotator, ExperienceLogger
from .experience_library import (
    ExperienceLibrary,
    ExperienceRecord,
    Feedback,
    LibraryUnavailable,
    record_id,
)
from .record_schema import (
    RECORD_FIELDS,
    CallSite,
    EpisodeContext,
    Outcome,
    RecordMetadata,
)

__all__ = [
    "RECORD_FIELDS",
    "Annotator",
    "CallSite",
    "EpisodeContext",
    "Outcome",
    "RecordMetadata",
    "ExperienceLibrary",
    "ExperienceLogger",
    "ExperienceRecord",
    "Feedback",
    "LibraryUnavailable",
    "record_id",
]
