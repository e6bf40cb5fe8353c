"""What accelerator and TensorRT this device has, for keying TensorRT engine caches.

An engine built for one GPU or TensorRT version is invalid on another, so the cache key
names both. Everything here degrades to "unknown"/"none" on machines without them, or
whose tools fail.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import re
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)
_JETSON_MODEL = Path("/proc/device-tree/model")
_NVIDIA_SMI_TIMEOUT_S = 10.0


@functools.cache
def gpu_name() -> str:
    """The first GPU's name (nvidia-smi, or the Jetson board model), else ``"none"``;
    ``"unknown"`` when nvidia-smi is there but cannot be run or does not answer."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            result = subprocess.run(
                [smi, "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=_NVIDIA_SMI_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            # A wedged driver or a GPU fallen off the bus hangs nvidia-smi: that must cost
            # the TensorRT engine cache its GPU name, not stop sessions from being created.
            log.warning("cannot ask nvidia-smi for the GPU's name (%s); using 'unknown'", exc)
            return "unknown"
        first = result.stdout.strip().splitlines()
        if result.returncode == 0 and first:
            return first[0].strip()
    if _JETSON_MODEL.exists():
        return _JETSON_MODEL.read_text(errors="replace").strip("\x00 \n")
    return "none"


@functools.cache
def tensorrt_version() -> str:
    """TensorRT's version from its Python package or its library, else ``"none"``."""
    try:
        import tensorrt  # type: ignore[import-not-found]  # JetPack or NVIDIA only

        return str(tensorrt.__version__)
    except ImportError:
        pass
    for soname in ("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"):
        try:
            library = ctypes.CDLL(soname)
        except OSError:
            continue
        return _decode_trt_version(int(library.getInferLibVersion()))
    return "none"


def _decode_trt_version(encoded: int) -> str:
    # NV_TENSORRT_VERSION is major*1000 + minor*100 + patch before TensorRT 10, and
    # major*10000 + minor*100 + patch from 10 on.
    if encoded >= 100000 or (encoded >= 10000 and encoded // 10000 >= 10):
        return f"{encoded // 10000}.{encoded // 100 % 100}.{encoded % 100}"
    return f"{encoded // 1000}.{encoded // 100 % 10}.{encoded % 100}"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "unknown"
