"""Outputs and ledger of a Sluice run against the reference interpreter
(examples/common/sluref.py, which runs one input at a time in PyTorch).

    vs_reference.py MODEL.slu WEIGHTS X.npy Y.npy LEDGER.jsonl

Outputs within rtol 1e-4, atol 1e-5; every record's exit, decisions and
FLOPs equal, except inputs the reference marks near a threshold.  Prints
one line; exit status 1 on any mismatch.
"""
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "examples", "common"))
import sluref  # noqa: E402


def main():
    slu, weights, xp, yp, lp = sys.argv[1:6]
    x, y = np.load(xp), np.load(yp)
    with open(lp) as f:
        led = [json.loads(line) for line in f]
    ref_y, ref_led = sluref.load(slu, weights).run_batch(x)
    bad = near = 0
    for i, r in enumerate(ref_led):
        near += r["near_threshold"]
        got = {k: v for k, v in led[i].items() if k != "input"}
        want = {k: v for k, v in r.items() if k not in ("input", "near_threshold")}
        d = np.abs(y[i].astype(np.float64) - ref_y[i])
        ok = got == want and not np.any(d > 1e-5 + 1e-4 * np.abs(ref_y[i]))
        if not ok and not r["near_threshold"]:
            bad += 1
            if bad <= 5:
                print("input %d: got %s, reference %s, max |diff| %.3g" % (i, got, want, d.max()))
    print("%s: %d inputs, %d mismatches, %d near a threshold" %
          (os.path.basename(slu), len(ref_led), bad, near))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
