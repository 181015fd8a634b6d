"""Choosing the torch device: CUDA when present, the CPU otherwise, same code."""

from __future__ import annotations

import torch

__all__ = ["pick_device", "DeviceError"]


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
