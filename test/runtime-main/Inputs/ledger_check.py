"""Check a --stats ledger against the documented format and print a tally.

    %python %S/Inputs/ledger_check.py LEDGER.jsonl

Every line must be one JSON object with the keys input, exit, flops,
dense_flops (in that order; a sequence model's records have tokens after
input), then gates, routes, blocks if present; inputs numbered 0, 1, ...
in order; flops whole numbers no larger than dense_flops; dense_flops the
same on every line, or for a sequence model the same on every line of the
same token count; a gate 0, 1 or null.  Any violation is printed as
"bad: ..." and the exit status is 1.  Then prints, for FileCheck:

    records 360
    exits: end 29, exit0 252, exit1 45, exit2 34
    flops: min 9631, max 100081, dense 100081
    gate gate0: then 120, else 240, null 0

and for a sequence model, instead of the flops line,

    tokens: min 2, max 5, mean 3.5
    flops: min 40, max 148, dense 40 to 148
"""
import collections
import json
import sys

KEYS = ["input", "exit", "flops", "dense_flops"]
OPTIONAL = ["gates", "routes", "blocks"]

bad = []
exits = collections.Counter()
gates = collections.OrderedDict()
flops, tokens = [], []
dense_at = {}  # tokens (None without) -> dense_flops
with open(sys.argv[1], encoding="utf-8") as f:
    lines = f.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
else:
    bad.append("the last line does not end with a newline")
seq = None  # whether the records carry tokens: all or none
for i, line in enumerate(lines):
    try:
        rec = json.loads(line, object_pairs_hook=collections.OrderedDict)
    except ValueError as e:
        bad.append("line %d is not JSON: %s" % (i + 1, e))
        continue
    keys = list(rec)
    has_tokens = keys[1:2] == ["tokens"]
    if seq is None:
        seq = has_tokens
    if has_tokens != seq:
        bad.append("line %d: tokens %s, unlike line 1" % (i + 1, "present" if has_tokens else "missing"))
    if has_tokens:
        keys.pop(1)
        t = rec["tokens"]
        if not isinstance(t, int) or t < 1:
            bad.append("line %d: tokens %r" % (i + 1, t))
        tokens.append(t)
    if keys[:4] != KEYS or any(k not in OPTIONAL for k in keys[4:]) or \
            keys[4:] != [k for k in OPTIONAL if k in keys]:
        bad.append("line %d: keys %s" % (i + 1, list(rec)))
    if rec.get("input") != i:
        bad.append("line %d: input %r, expected %d" % (i + 1, rec.get("input"), i))
    exits[rec.get("exit")] += 1
    fl, dn = rec.get("flops"), rec.get("dense_flops")
    if not isinstance(fl, int) or not isinstance(dn, int) or fl < 0 or fl > dn:
        bad.append("line %d: flops %r of dense %r" % (i + 1, fl, dn))
    at = rec.get("tokens")
    if at in dense_at and dn != dense_at[at]:
        bad.append("line %d: dense_flops %r changed from %r%s" % (
            i + 1, dn, dense_at[at], " at %d tokens" % at if has_tokens else ""))
    dense_at.setdefault(at, dn)
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
if tokens:
    print("tokens: min %d, max %d, mean %.4g" % (min(tokens), max(tokens), sum(tokens) / len(tokens)))
if flops and seq:
    dense = [dense_at[t] for t in sorted(dense_at)]
    print("flops: min %d, max %d, dense %d to %d" % (min(flops), max(flops), min(dense), max(dense)))
elif flops:
    print("flops: min %d, max %d, dense %d" % (min(flops), max(flops), dense_at[None]))
for name, t in gates.items():
    print("gate %s: then %d, else %d, null %d" % (name, t["then"], t["else"], t["null"]))
sys.exit(1 if bad else 0)
