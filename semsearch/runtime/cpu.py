"""What the CPU offers, read from ``/proc/cpuinfo`` (Linux; elsewhere nothing is known)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # int8 dot-product instructions


@cache
def flags() -> frozenset[str]:
    """The CPU's feature flags; empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.split(":", 1)[1].split()) if ":" in line else frozenset()


def has_fast_int8() -> bool:
    """True when the CPU has int8 dot-product instructions (VNNI or AMX), where int8 pays off.

    Without them (older x86, most ARM) int8 is still correct but may not be faster than fp32.
    """
    return any(flag in flags() for flag in INT8_DOT_FLAGS)


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which a container or ``taskset`` narrows), not the
    machine's count."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


@cache
def model_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for telling machines apart; "unknown" where unreadable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def has_bf16() -> bool:
    """True when the CPU computes in bf16 natively (AVX-512 BF16 or AMX), where bf16 can pay off."""
    return any(flag in flags() for flag in ("avx512_bf16", "amx_bf16"))
