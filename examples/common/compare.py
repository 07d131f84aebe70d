"""Compare a Sluice executable's outputs and --stats ledger with an example's
reference fixtures (what PyTorch computed for the same inputs).

    /usr/bin/python3 examples/common/compare.py examples/moe \
        --outputs /tmp/out.npy --ledger /tmp/stats.jsonl [--ref ref/override]

For every input:
  - outputs within rtol 1e-4 / atol 1e-5 of the reference
    (|out - ref| <= atol + rtol * |ref|, element by element);
  - decisions (exit, gates, routes, blocks), flops and dense_flops equal to
    the reference's, keys in the same order;
except inputs the reference marks "near_threshold" (a decision within 1e-5
of flipping), which may legitimately decide differently: they are counted
and reported, not failed.  Accuracy (argmax of the outputs against the
example's test_labels.npy) must equal the reference's.  Exit status 0 when
everything matches, 1 with every mismatch listed by input otherwise.
"""
import argparse
import json
import os
import sys

import numpy as np

RTOL, ATOL = 1e-4, 1e-5


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("example", help="example folder, e.g. examples/moe")
    ap.add_argument("--outputs", required=True)
    ap.add_argument("--ledger")
    ap.add_argument("--ref", default="ref", help="reference folder inside the example")
    a = ap.parse_args(argv)
    ref_dir = os.path.join(a.example, a.ref)
    ref_out = np.load(os.path.join(ref_dir, "outputs.npy"))
    with open(os.path.join(ref_dir, "ledger.jsonl")) as f:
        ref_led = [json.loads(line) for line in f]
    labels = np.load(os.path.join(a.example, "test_labels.npy")).astype(np.int64)
    out = np.load(a.outputs)

    problems, near_diffs = [], []
    if out.shape != ref_out.shape or out.dtype != np.float32:
        problems.append(f"outputs: {out.dtype}{list(out.shape)}, "
                        f"expected float32{list(ref_out.shape)}")
    led = None
    if a.ledger:
        with open(a.ledger) as f:
            led = [json.loads(line) for line in f if line.strip()]
        if len(led) != len(ref_led):
            problems.append(f"ledger: {len(led)} lines, expected {len(ref_led)}")
            led = None
    near = 0
    if not problems:
        for i, r in enumerate(ref_led):
            near += bool(r["near_threshold"])
            bad = []
            if led is not None:
                got = led[i]
                keys = [k for k in got if k != "near_threshold"]
                want_keys = [k for k in r if k != "near_threshold"]
                if keys != want_keys:
                    bad.append(f"keys {keys} != {want_keys}")
                for k in want_keys:
                    if k in got and got[k] != r[k]:
                        bad.append(f"{k}: {got[k]} != {r[k]}")
            ref_i = ref_out[i].astype(np.float64)
            diff = np.abs(out[i].astype(np.float64) - ref_i)
            if np.any(diff > ATOL + RTOL * np.abs(ref_i)):
                bad.append(f"outputs differ, max |diff| {float(diff.max()):.3g}")
            if bad:
                (near_diffs if r["near_threshold"] else problems).append(
                    f"input {i}: " + "; ".join(bad))
        acc = float(np.mean(np.argmax(out, axis=1) == labels))
        ref_acc = float(np.mean(np.argmax(ref_out, axis=1) == labels))
        if acc != ref_acc:
            problems.append(f"accuracy {acc:.6f} != reference {ref_acc:.6f}")
    for p in near_diffs:
        print("near threshold (allowed):", p)
    for p in problems[:50]:
        print("MISMATCH:", p)
    if len(problems) > 50:
        print(f"... and {len(problems) - 50} more")
    print(f"{a.example}: {len(ref_led)} inputs, {len(problems)} mismatches, "
          f"{near} near a threshold ({len(near_diffs)} of them decided differently)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
