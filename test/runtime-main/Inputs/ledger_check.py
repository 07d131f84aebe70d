"""Check a --stats ledger against the documented format and print a tally.

    %python %S/Inputs/ledger_check.py LEDGER.jsonl

Every line must be one JSON object with the keys input, exit, flops,
dense_flops (in that order), then gates, routes, blocks if present; inputs
numbered 0, 1, ... in order; flops whole numbers no larger than dense_flops
(the same on every line); a gate 0, 1 or null.  Any violation is printed as
"bad: ..." and the exit status is 1.  Then prints, for FileCheck:

    records 360
    exits: end 29, exit0 252, exit1 45, exit2 34
    flops: min 9631, max 100081, dense 100081
    gate gate0: then 120, else 240, null 0
"""
import collections
import json
import sys

KEYS = ["input", "exit", "flops", "dense_flops"]
OPTIONAL = ["gates", "routes", "blocks"]

bad = []
exits = collections.Counter()
gates = collections.OrderedDict()
flops = []
dense = None
with open(sys.argv[1], encoding="utf-8") as f:
    lines = f.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
else:
    bad.append("the last line does not end with a newline")
for i, line in enumerate(lines):
    try:
        rec = json.loads(line, object_pairs_hook=collections.OrderedDict)
    except ValueError as e:
        bad.append("line %d is not JSON: %s" % (i + 1, e))
        continue
    keys = list(rec)
    if keys[:4] != KEYS or any(k not in OPTIONAL for k in keys[4:]) or \
            keys[4:] != [k for k in OPTIONAL if k in keys]:
        bad.append("line %d: keys %s" % (i + 1, keys))
    if rec.get("input") != i:
        bad.append("line %d: input %r, expected %d" % (i + 1, rec.get("input"), i))
    exits[rec.get("exit")] += 1
    fl, dn = rec.get("flops"), rec.get("dense_flops")
    if not isinstance(fl, int) or not isinstance(dn, int) or fl < 0 or fl > dn:
        bad.append("line %d: flops %r of dense %r" % (i + 1, fl, dn))
    if dense is not None and dn != dense:
        bad.append("line %d: dense_flops %r changed from %r" % (i + 1, dn, dense))
    dense = dn
    flops.append(fl)
    for name, v in rec.get("gates", {}).items():
        tally = gates.setdefault(name, collections.Counter())
        if v not in (0, 1, None):
            bad.append("line %d: gate %s is %r" % (i + 1, name, v))
        tally[{1: "then", 0: "else", None: "null"}.get(v, "?")] += 1

for b in bad:
    print("bad:", b)
print("records %d" % len(lines))
print("exits: " + ", ".join("%s %d" % kv for kv in sorted(exits.items())))
if flops:
    print("flops: min %d, max %d, dense %d" % (min(flops), max(flops), dense))
for name, t in gates.items():
    print("gate %s: then %d, else %d, null %d" % (name, t["then"], t["else"], t["null"]))
sys.exit(1 if bad else 0)
