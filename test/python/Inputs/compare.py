"""Run a model through the Python package and compare with its executable.

    compare.py LIB X Y_EXE LEDGER_EXE [options]

LIB a shared object (sluicec --emit=shared), X the inputs the executable
read, Y_EXE and LEDGER_EXE what it wrote (-o, --stats).  Options, applied
the way the executable applies its own (the same names):

    --lengths L.npy        each input's token count
    --weights W            a safetensors file
    --set NAME=V           a threshold (repeatable)
    --force-exit K|NAME|never
    --force-gate NAME=then|else (repeatable)
    --budget FLOPS
    --threads N
    --per-run              pass --set, --force-exit and --budget to run()
                           rather than setting them on the model (and check
                           that the model's settings are restored after)
    --ids-as DTYPE         cast the input file to DTYPE first (int64, float64...)

Prints one line: "NAME: N inputs, outputs: same bits, records: N equal,
jsonl: same bytes" and the exit histogram; the first mismatches otherwise.
"""
import argparse
import json
import sys

import numpy as np

import sluice

ap = argparse.ArgumentParser()
ap.add_argument("lib")
ap.add_argument("x")
ap.add_argument("y_exe")
ap.add_argument("ledger_exe")
ap.add_argument("--lengths")
ap.add_argument("--weights")
ap.add_argument("--set", action="append", default=[])
ap.add_argument("--force-exit")
ap.add_argument("--force-gate", action="append", default=[])
ap.add_argument("--budget", type=float)
ap.add_argument("--threads", type=int)
ap.add_argument("--per-run", action="store_true")
ap.add_argument("--ids-as")
a = ap.parse_args()

m = sluice.load(a.lib, weights=a.weights)
x = np.load(a.x)
if a.ids_as:
    x = x.astype(a.ids_as)
lengths = np.load(a.lengths) if a.lengths else None
sets = {}
for s in a.set:
    k, v = s.split("=", 1)
    sets[k] = float(v)
fe = a.force_exit
if fe is not None and fe.isdigit():
    fe = int(fe)
if a.threads is not None:
    m.threads = a.threads
    assert m.threads == a.threads, (m.threads, a.threads)
for g in a.force_gate:
    name, arm = g.split("=")
    m.force_gate(name, arm)

before = (m.thresholds, m.forced_exit, m.budget)
if a.per_run:
    y, led = m.run(x, lengths=lengths, thresholds=sets or None, force_exit=fe, budget=a.budget)
    after = (m.thresholds, m.forced_exit, m.budget)
    if after != before:
        print("settings not restored: %r -> %r" % (before, after))
else:
    for k, v in sets.items():
        m.set_threshold(k, v)
    if fe is not None:
        m.force_exit(fe)
    if a.budget is not None:
        m.set_budget(a.budget)
    y, led = m.run(x, lengths=lengths)

y_exe = np.load(a.y_exe)
text = open(a.ledger_exe, encoding="utf-8").read()
lines = text.splitlines()
want = [json.loads(l) for l in lines]
got = led.to_records()

problems = []
if y.shape != y_exe.shape or y.dtype != y_exe.dtype:
    problems.append("outputs: %s %s, the executable's %s %s" % (y.shape, y.dtype, y_exe.shape,
                                                               y_exe.dtype))
elif y.tobytes() != y_exe.tobytes():
    rows = np.flatnonzero((y.reshape(len(y), -1).view(np.uint32)
                           != y_exe.reshape(len(y), -1).view(np.uint32)).any(1))
    problems.append("outputs: %d rows differ, first %s" % (len(rows), rows[:5].tolist()))
equal = 0
if len(got) != len(want):
    problems.append("records: %d, the executable's %d" % (len(got), len(want)))
for i, (g, w) in enumerate(zip(got, want)):
    if g == w and list(g) == list(w):
        equal += 1
    elif len(problems) < 5:
        problems.append("record %d: %s\n  executable: %s" % (i, json.dumps(g), json.dumps(w)))
jsonl = "same bytes" if led.to_jsonl() == text else "differ"

# The ledger's arrays agree with its records.
n_exits = len(m.info.exits)
for i, r in enumerate(got[:len(want)]):
    e = int(led.exits[i])
    assert led.exit_names[e] == r["exit"] == led.exit_name(i)
    assert r["flops"] == led.flops[i] and r["dense_flops"] == led.dense_flops[i]
    if m.info.tokens:
        assert r["tokens"] == led.tokens[i]
    else:
        assert led.tokens is None
assert sorted(led.decisions) == sorted(d.name for d in m.info.decisions)

print("%s: %d inputs, outputs: %s, records: %d equal, jsonl: %s" % (
    m.info.name, len(got), "same bits" if not any(p.startswith("outputs") for p in problems)
    else "differ", equal, jsonl))
print("%s: exits: %s" % (m.info.name, ", ".join("%s %d" % kv for kv in led.exit_counts().items())))
for d in m.info.decisions:
    if d.kind == "gate":
        v = led.decisions[d.name][:, 0]
        print("%s: %s: then %d, else %d, not reached %d" % (
            m.info.name, d.name, (v == 1).sum(), (v == 0).sum(), (v == -1).sum()))
for p in problems:
    print(p)
m.close()
sys.exit(1 if problems or jsonl != "same bytes" else 0)
