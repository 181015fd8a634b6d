"""Choosing the torch device: CUDA when present, the CPU otherwise, same code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["pick_device", "DeviceError", "render_threads", "torch_threads", "CPU_THREADS_ENV"]


class DeviceError(ValueError):
    """The requested device does not exist on this machine."""


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """`None`/"auto": the first CUDA GPU if there is one, else the CPU.

    "cpu", "cuda" or "cuda:N" force a device; asking for a GPU that is not there is
    an error rather than a silent fall-back, so a worker never renders on the wrong
    device without saying so.
    """
    if isinstance(requested, torch.device):
        requested = str(requested)
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"unknown device {requested!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("device cuda was requested but no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {requested} does not exist: this machine has "
                              f"{torch.cuda.device_count()} CUDA GPU(s)")
    elif device.type != "cpu":
        raise DeviceError(f"unsupported device {requested!r}; use cpu, cuda or cuda:N")
    return device


CPU_THREADS_ENV = "REEL_ARENA_TORCH_THREADS"


def render_threads(device: torch.device) -> int:
    """torch intra-op threads a render uses on `device` (0 = leave torch's setting).

    On the CPU one thread by default: the operators run many small element-wise
    kernels per frame, and torch's OpenMP workers wait for each other at the end of
    every kernel. When the cores are shared (a worker runs several renders, or other
    jobs run beside it) a waiting worker loses its time slice and each kernel stalls;
    measured on a shared 2-core machine, the faithful preset ran 3-10x faster on one
    thread than on two. `REEL_ARENA_TORCH_THREADS` sets another count.
    """
    if device.type != "cpu":
        return 0
    raw = os.environ.get(CPU_THREADS_ENV, "").strip()
    try:
        return max(1, int(raw)) if raw else 1
    except ValueError:
        return 1


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch intra-op threads (0: unchanged), then restore."""
    if count <= 0 or count == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
