"""moot: multi-agent LLM systems that improve themselves."""

import os

# moot makes no network calls at run time, but trl's trainer pings the Hub's telemetry on
# every training run; huggingface_hub reads this once, at import, so it is set here first.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
