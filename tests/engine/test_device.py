"""Device choice and the torch thread count renders use."""

from __future__ import annotations

import pytest
import torch

from gpu_worker.engine.device import CPU_THREADS_ENV, render_threads, torch_threads


def test_cpu_renders_default_to_one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CPU_THREADS_ENV, raising=False)
    assert render_threads(torch.device("cpu")) == 1
    monkeypatch.setenv(CPU_THREADS_ENV, "3")
    assert render_threads(torch.device("cpu")) == 3
    monkeypatch.setenv(CPU_THREADS_ENV, "not a number")
    assert render_threads(torch.device("cpu")) == 1
    # On a GPU the CPU thread count is left alone.
    assert render_threads(torch.device("cuda")) == 0


def test_torch_threads_sets_and_restores() -> None:
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(other):
        raise RuntimeError("the setting comes back on errors too")
    assert torch.get_num_threads() == before
    with torch_threads(0):
        assert torch.get_num_threads() == before
