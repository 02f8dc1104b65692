"""Install torch without pulling a multi-GB CUDA build onto a machine that has no GPU.

- torch already importable: nothing to do.
- A GPU (``nvidia-smi`` answers) or not Linux: pip's ordinary choice (``TORCH_SPEC``, default
  ``torch>=2.2``), which is the right build there (CUDA on a GPU box, the only build on macOS).
- Linux without a GPU: ask pip what ``torch==2.13.0`` would resolve to; a CPU build (``+cpu``, e.g. a
  wheel on the local disk) is installed as it is, otherwise the CPU build is taken from PyTorch's CPU
  index (``TORCH_CPU_INDEX``).

Run with the interpreter of the environment to install into: ``.venv/bin/python scripts/install_torch.py``.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

CPU_PIN = os.environ.get("TORCH_CPU_PIN", "torch==2.13.0")
CPU_INDEX = os.environ.get("TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], check=False)


def has_gpu() -> bool:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False
    try:
        return subprocess.run([exe, "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def resolved_version(spec: str) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps",
                            "--report", report, spec], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        with open(report, encoding="utf-8") as f:
            items = json.load(f).get("install", [])
    return next((i["metadata"]["version"] for i in items if i["metadata"]["name"].lower() == "torch"), None)


def main() -> int:
    try:
        import torch  # noqa: F401
        print(f"torch {torch.__version__} is already installed")
        return 0
    except ImportError:
        pass
    if has_gpu() or platform.system() != "Linux":
        spec = os.environ.get("TORCH_SPEC", "torch>=2.2")
        print(f"installing {spec} (pip's default build for this machine)")
        return pip("install", spec).returncode
    version = resolved_version(CPU_PIN)
    if version and "+cpu" in version:
        print(f"installing {CPU_PIN} (CPU build {version})")
        return pip("install", CPU_PIN).returncode
    print(f"no GPU: installing the CPU build of {CPU_PIN} from {CPU_INDEX}")
    return pip("install", CPU_PIN, "--index-url", CPU_INDEX).returncode


if __name__ == "__main__":
    sys.exit(main())
