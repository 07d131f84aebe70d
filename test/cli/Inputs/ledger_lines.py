"""An executable's run as dlopen_model.c prints it: a header, each input's
exit and FLOPs, the outputs' sum (in double, input by input, in order).

    ledger_lines.py LEDGER.jsonl OUTPUTS.npy MODEL"""
import json
import sys

import numpy as np

recs = [json.loads(line) for line in open(sys.argv[1])]
y = np.load(sys.argv[2])
print(f"model {sys.argv[3]}, ABI 6, {len(recs)} inputs")
for r in recs:
    print(f"{r['exit']} {r['flops']}")
total = 0.0
for v in y.reshape(-1):
    total += float(v)
print(f"sum {total:.6f}")
