"""The compute dtype is chosen from the machine, and adapters cross dtypes."""

from __future__ import annotations

import pytest
import torch

from moot.nodes import LocalEngine
from moot.nodes.serving import compute_dtype
from moot.nodes.serving.compute_dtype import cpu_flags, has_bf16_matrix_units, resolve_dtype
from moot.training import AdapterManifest, LoraTrainingConfig, TrainingExample, train_lora_adapter

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a CPU with the given flags and bf16 probe speed-up; count probe runs."""
    probes = []

    def pretend(flags: set[str], speedup: float) -> list:
        resolve_dtype.cache_clear()
        monkeypatch.setattr(compute_dtype, "cpu_flags", lambda *a: frozenset(flags))
        monkeypatch.setattr(compute_dtype, "bf16_probe_speedup", lambda: probes.append(1) or speedup)
        return probes

    yield pretend
    resolve_dtype.cache_clear()


def test_auto_falls_back_to_float32_without_bf16_units_and_never_probes(machine):
    probes = machine({"avx2", "fma"}, speedup=9.0)
    assert resolve_dtype("auto") == torch.float32 and probes == []


def test_auto_takes_bf16_only_when_the_probe_confirms_it(machine):
    machine({"avx512_bf16"}, speedup=2.3)
    assert resolve_dtype("auto") == torch.bfloat16
    machine({"amx_bf16"}, speedup=1.05)  # units reported, but no faster here: keep float32
    assert resolve_dtype("auto") == torch.float32


def test_explicit_choices_win_and_bad_names_are_refused(machine):
    probes = machine(set(), speedup=1.0)
    assert resolve_dtype("bfloat16") == torch.bfloat16 and resolve_dtype("float32") == torch.float32
    assert probes == []
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        resolve_dtype("float16")  # type: ignore[arg-type]


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16 amx_tile\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "sse2", "avx512_bf16", "amx_tile"}
    assert has_bf16_matrix_units(cpu_flags(info)) and not has_bf16_matrix_units(cpu_flags(tmp_path / "none"))


def test_the_engine_loads_the_float32_folder_in_either_dtype(tiny_model_dir_each_seed):
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        engine = LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype=name)
        assert engine.dtype == name and next(engine.model.parameters()).dtype == dtype


@pytest.mark.parametrize(("trained_in", "served_in"), [("bfloat16", "float32"), ("float32", "bfloat16")])
def test_an_adapter_trained_in_one_dtype_serves_in_the_other(tiny_model_dir_each_seed, tmp_path, trained_in, served_in):
    examples = [TrainingExample(f"r{i}", "solver", QUESTION, "apple") for i in range(8)]
    config = LoraTrainingConfig(rank=8, alpha=16, learning_rate=1e-2, max_steps=20, batch_size=4, dropout=0.0,
                                dtype=trained_in)
    train_lora_adapter(tiny_model_dir_each_seed, examples, tmp_path / "a", role="solver", config=config)
    assert AdapterManifest.load(tmp_path / "a").dtype == trained_in

    engine = LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype=served_in)
    before = engine.log_likelihood(QUESTION, "apple")
    engine.load_adapter("a", tmp_path / "a")
    assert {p.dtype for n, p in engine.model.named_parameters() if ".a." in n} == {resolve_dtype(served_in)}
    assert engine.log_likelihood(QUESTION, "apple", "a") > before + 2.0
    assert engine.generate([QUESTION], adapters=["a"])[0].adapter == "a"
