"""Compare two outputs .npy files row by row, on the inputs a ledger selects.

    %python %S/Inputs/same_rows.py A.npy B.npy LEDGER.jsonl EXPR

EXPR is a Python expression over one ledger record `r` (a dict), e.g.
"r['exit'] == 'end'" or "r['gates']['gate0'] == 1".  Prints

    selected N of M rows: K identical, D different

where identical means bit for bit equal (a forced decision that matches the
natural one must run the very same code on the very same data).
"""
import json
import sys

import numpy as np

a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
with open(sys.argv[3]) as f:
    records = [json.loads(line) for line in f]
expr = compile(sys.argv[4], "EXPR", "eval")
if a.shape != b.shape or a.shape[0] != len(records):
    sys.exit("shapes %s and %s, %d records" % (a.shape, b.shape, len(records)))
rows = [i for i, r in enumerate(records) if eval(expr, {}, {"r": r})]
same = sum(1 for i in rows if a[i].tobytes() == b[i].tobytes())
print("selected %d of %d rows: %d identical, %d different"
      % (len(rows), len(records), same, len(rows) - same))
