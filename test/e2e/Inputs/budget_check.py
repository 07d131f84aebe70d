"""Check a run under a compute budget against the same run without one.

    budget_check.py FREE.jsonl BUDGET.jsonl FLOPS

Every input must spend at most FLOPS, unless it left at the first exit of
the model (its first chance: nothing cheaper was possible), and leave no
later than it does without the budget (the budget only brings exits
forward).  Prints one line; exit status 1 if any input breaks a rule.
"""
import json
import sys

free = [json.loads(line) for line in open(sys.argv[1])]
capped = [json.loads(line) for line in open(sys.argv[2])]
budget = float(sys.argv[3])


def order(name):
    return float("inf") if name == "end" else int(name[4:])


bad = earlier = over_first = 0
for f, c in zip(free, capped):
    if order(c["exit"]) > order(f["exit"]):
        bad += 1
        print(f"input {c['input']}: left at {c['exit']}, later than {f['exit']} without a budget")
    if c["flops"] > budget:
        if c["exit"] == "exit0":
            over_first += 1
        else:
            bad += 1
            print(f"input {c['input']}: {c['flops']} FLOPs at {c['exit']}, over {budget:.0f}")
    earlier += order(c["exit"]) < order(f["exit"])
most = max(c["flops"] for c in capped)
print(f"{len(capped)} inputs: {earlier} left earlier for the budget, most FLOPs {most}, "
      f"{over_first} over it at their first exit, {bad} wrong")
sys.exit(1 if bad or len(free) != len(capped) else 0)
