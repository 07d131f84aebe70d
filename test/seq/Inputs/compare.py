"""Compare a run of a compiled model with PyTorch's answers.

    %python %S/Inputs/compare.py REF OUTPUTS.npy LEDGER.jsonl

REF names the reference without its extension (Inputs/attn/ref): REF.npy holds
the outputs PyTorch computed (make_fixtures.py), REF.jsonl one record per input
with the ledger fields the run must match ("tokens", "exit", "blocks"; a null
field must be absent from the ledger). Outputs must agree within rtol 1e-4,
atol 1e-5 (elementwise, as numpy.isclose; NaN never agrees); the records'
fields exactly. Prints each mismatch, then one line for FileCheck:

    attn/ref: 10 inputs, 0 output mismatches, 0 record mismatches; exits: end 10

(the exit tally is the run's own). Exit status 1 if anything differs. NumPy
only.
"""
import collections
import json
import os
import sys

import numpy as np

RTOL, ATOL = 1e-4, 1e-5

ref, out_path, ledger_path = sys.argv[1:4]
name = os.path.join(os.path.basename(os.path.dirname(ref)), os.path.basename(ref))
want = np.load(ref + ".npy")
got = np.load(out_path)
want_recs = [json.loads(l) for l in open(ref + ".jsonl")]
got_recs = [json.loads(l) for l in open(ledger_path)]

bad_out = bad_rec = 0
if got.shape != want.shape:
    print("%s: outputs have shape %s, expected %s" % (name, list(got.shape), list(want.shape)))
    bad_out = 1
else:
    ok = np.isclose(got, want, rtol=RTOL, atol=ATOL)
    for i in np.nonzero(~ok.reshape(len(want), -1).all(1))[0]:
        j = np.nonzero(~ok[i])[0]
        print("input %d: %d outputs differ, first at %d: %r, expected %r" %
              (i, len(j), j[0], float(got[i].flat[j[0]]), float(want[i].flat[j[0]])))
        bad_out += 1
if len(got_recs) != len(want_recs):
    print("%s: the ledger has %d records, expected %d" % (name, len(got_recs), len(want_recs)))
    bad_rec += 1
for w, g in zip(want_recs, got_recs):
    for k, v in w.items():
        if v is None and k in g:
            print("input %d: ledger has %s %r, expected none" % (w["input"], k, g[k]))
            bad_rec += 1
        elif v is not None and g.get(k) != v:
            print("input %d: ledger has %s %r, expected %r" % (w["input"], k, g.get(k), v))
            bad_rec += 1
tally = collections.Counter(g.get("exit") for g in got_recs)
order = sorted(tally, key=lambda e: (e == "end", e))
print("%s: %d inputs, %d output mismatches, %d record mismatches; exits: %s" %
      (name, len(want), bad_out, bad_rec, ", ".join("%s %d" % (e, tally[e]) for e in order)))
sys.exit(1 if bad_out or bad_rec else 0)
