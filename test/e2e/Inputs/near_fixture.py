"""near_fixture.py EXAMPLE OUT_DIR NEAR

Copies EXAMPLE's test labels and reference into OUT_DIR, then changes the
reference of input 0 as if PyTorch had decided it the other way: another
exit (exit0 instead of exit1, with exit0's FLOPs) and other outputs with the
same argmax (so accuracy is unchanged); marks it near a threshold when NEAR
is 1.  compare.py must then allow the difference (NEAR 1) or fail on it
(NEAR 0)."""
import json
import os
import shutil
import sys

import numpy as np


def main():
    example, out, near = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    os.makedirs(os.path.join(out, "ref"), exist_ok=True)
    shutil.copy(os.path.join(example, "test_labels.npy"), out)
    with open(os.path.join(example, "ref", "ledger.jsonl")) as f:
        ledger = [json.loads(line) for line in f]
    first = ledger[0]
    assert first["exit"] == "exit1", first
    exit0_flops = next(r["flops"] for r in ledger if r["exit"] == "exit0")
    first.update(exit="exit0", flops=exit0_flops, near_threshold=near)
    with open(os.path.join(out, "ref", "ledger.jsonl"), "w") as f:
        for r in ledger:
            f.write(json.dumps(r) + "\n")
    y = np.load(os.path.join(example, "ref", "outputs.npy"))
    y[0] = 0.5 * y[0] + 0.5 * (np.arange(10) == np.argmax(y[0]))  # same argmax, other values
    np.save(os.path.join(out, "ref", "outputs.npy"), y.astype(np.float32))


if __name__ == "__main__":
    main()
