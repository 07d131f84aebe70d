"""Random weights and inputs for a benchmark model (numpy only).

    make-weights.py MODEL.slu SLUICEC OUT_DIR [N_INPUTS]

Reads the model's manifest (sluicec --emit=manifest), writes
OUT_DIR/weights.safetensors with small random values for every tensor, and
OUT_DIR/inputs.npy with N_INPUTS random inputs.
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "common"))
from slutil import save_safetensors  # noqa: E402


def main():
    slu, sluicec, out = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 4096
    rng = np.random.default_rng(0)
    tensors = {}
    width = None
    for line in subprocess.check_output([sluicec, "--emit=manifest", slu], text=True).splitlines():
        name, ty = line.split(" ", 1)
        shape = [int(d) for d in ty[4:-1].split(",")]
        fan_in = shape[-1] if len(shape) == 2 else 1
        tensors[name] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        if width is None and len(shape) == 2:
            width = shape[1]
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "weights.safetensors"), tensors)
    np.save(os.path.join(out, "inputs.npy"), rng.random((n, width), dtype=np.float32))


if __name__ == "__main__":
    main()
