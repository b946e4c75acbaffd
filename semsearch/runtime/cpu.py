"""What the CPU offers, read from ``/proc/cpuinfo`` (Linux; elsewhere nothing is known)."""

from __future__ import annotations

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
