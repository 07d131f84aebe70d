"""close_weights.py A.safetensors B.safetensors REL

Checks that two weight files hold the same tensor names and shapes, each
tensor of A within REL * max|B| of B's; prints one line saying so, or what
differs (and exits 1)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "common"))
import slutil  # noqa: E402


def main():
    a, b, rel = slutil.load_safetensors(sys.argv[1])[0], slutil.load_safetensors(sys.argv[2])[0], float(sys.argv[3])
    if list(a) != list(b):
        print(f"names differ: {list(a)} vs {list(b)}")
        return 1
    for name in a:
        if a[name].shape != b[name].shape:
            print(f"{name}: shape {a[name].shape} vs {b[name].shape}")
            return 1
        diff, scale = float(np.abs(a[name] - b[name]).max(initial=0)), float(np.abs(b[name]).max(initial=0))
        if diff > rel * scale:
            print(f"{name}: differs by {diff:g}, more than {rel:g} of {scale:g}")
            return 1
    print(f"{len(a)} tensors, same names and shapes, each within {rel * 100:g}% of its largest weight")
    return 0


if __name__ == "__main__":
    sys.exit(main())
