"""Stores persist: the experience library (Chroma) and the callback that fills it."""

import lazy_loader

# Submodules load on first use, so that a light module (a config, the CLI) imports without torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "experience_callback": ["Annotator", "ExperienceLogger"],
        "experience_library": ["ExperienceLibrary", "ExperienceRecord", "Feedback", "LibraryUnavailable", "record_id"],
        "record_schema": ["RECORD_FIELDS", "CallSite", "EpisodeContext", "Outcome", "RecordMetadata"],
    },
)
