"""Whether a CUDA GPU is there, asked without importing torch where the answer is plainly no.

On a machine without an NVIDIA device node, nothing is imported: most of this project's machines have no
GPU, and a query should not pay a torch import to learn that.
"""

from __future__ import annotations

import glob
import os
from functools import cache


@cache
def cuda_available() -> bool:
    """A CUDA device torch can use (``CUDA_VISIBLE_DEVICES=""`` hides them, as torch does)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "" or not glob.glob("/dev/nvidia[0-9]*"):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
