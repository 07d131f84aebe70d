"""PyTorch's count of each ReLU's exact zeros on an example's test inputs,
as `sluicec -fzero-stats` counts them, for tests that need no PyTorch.

    /usr/bin/python3 examples/common/zeros_ref.py examples/early_exit

Runs the reference interpreter (sluref.py, PyTorch, one input at a time)
on the example's test_x.npy with its weights and writes ref/zeros.json:
  {"model": ..., "inputs": N,
   "per_input": [{"fc1": [zeros, elements, near], ...}, ...]  (the ReLUs
       the input ran; near: inputs within sluref.ZERO_NEAR of 0),
   "units": {"fc1": {"zeros": [per unit], "rows": rows run, "near": n}}}
"""
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluref  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: zeros_ref.py EXAMPLE_DIR", file=sys.stderr)
        return 2
    d = argv[0]
    slu = [p for p in glob.glob(os.path.join(d, "*.slu"))]
    if len(slu) != 1:
        print("zeros_ref.py: %s: expected one .slu, found %d" % (d, len(slu)), file=sys.stderr)
        return 1
    st = slu[0][:-4] + ".safetensors"
    m = sluref.load(slu[0], st)
    x = np.load(os.path.join(d, "test_x.npy"))
    _, recs = m.run_batch(x, zeros=True)
    per_input, units = [], {}
    for r in recs:
        per_input.append(r["zeros"])
        for name, u in r["zero_units"].items():
            e = units.setdefault(name, {"zeros": np.zeros_like(u), "rows": 0, "near": 0})
            e["zeros"] = e["zeros"] + u
            e["rows"] += 1
            e["near"] += r["zeros"][name][2]
    out = {"model": m.name if hasattr(m, "name") else os.path.basename(slu[0])[:-4],
           "inputs": len(recs), "per_input": per_input,
           "units": {k: {"zeros": v["zeros"].tolist(), "rows": v["rows"], "near": v["near"]}
                     for k, v in units.items()}}
    os.makedirs(os.path.join(d, "ref"), exist_ok=True)
    path = os.path.join(d, "ref", "zeros.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d inputs, ReLUs: %s)" % (path, len(recs), ", ".join(units)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
