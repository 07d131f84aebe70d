"""Time a Sluice executable against PyTorch (eager, CPU, one thread) on the
same early-exit models and inputs.  Needs torch (scripts/install-deps
--train).  Run through bench/run-vs-torch, which builds the executables.

    vs_torch.py MODEL WEIGHTS INPUTS SLUICE_EXE REPS

MODEL is digits_ee (examples/early_exit) or deep_ee (bench/models).  For
each, per input and as the median of REPS interleaved rounds:
  torch batch:   the whole batch in one forward pass computing every head
                 (what PyTorch does for throughput; no input skips work);
  torch exit:    input by input, leaving at the first exit whose test
                 passes (Python control flow, batch 1: the latency case);
  sluice:        the executable on the same batch (its own timer, which
                 covers the model run only, as the torch timers do).
Prints also how many inputs left at each exit in torch and in Sluice.
"""
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "common"))
import slutil  # noqa: E402

# The models: their layers in order, the head after each trunk layer, and
# each exit's test on the head's softmax.
MODELS = {
    "digits_ee": dict(trunk=["fc1", "fc2", "fc3", "fc4"], heads=["head1", "head2", "head3", "out"],
                      tests=[lambda p: p.max() >= 0.99,
                             lambda p: -(p[p > 0] * p[p > 0].log()).sum() <= 0.01,
                             lambda p: (lambda t: t[0] - t[1])(p.topk(2).values) >= 0.98]),
    "deep_ee": dict(trunk=[f"fc{k}" for k in range(1, 7)], heads=[f"head{k}" for k in range(1, 6)] + ["out"],
                    tests=[lambda p: p.max() >= 0.5] * 5),
}


def load(weights):
    tensors = slutil.load_safetensors(weights)[0]
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}


def dense(w, name, x):
    return F.linear(x, w[name + ".weight"], w[name + ".bias"])


def batch_all_heads(m, w, x):
    """Every head of every input: no work skipped."""
    outs, h = [], x
    for fc, head in zip(m["trunk"], m["heads"]):
        h = F.relu(dense(w, fc, h))
        outs.append(F.softmax(dense(w, head, h), dim=-1))
    return outs


def one_with_exits(m, w, x):
    """One input, leaving at the first exit whose test passes."""
    h = x
    for k, (fc, head) in enumerate(zip(m["trunk"], m["heads"])):
        h = F.relu(dense(w, fc, h))
        p = F.softmax(dense(w, head, h), dim=-1)
        if k < len(m["tests"]) and m["tests"][k](p):
            return p, k
    return p, len(m["tests"])


def torch_exit(m, w, x):
    exits = []
    for i in range(x.shape[0]):
        _, k = one_with_exits(m, w, x[i])
        exits.append(k)
    return exits


def sluice_rate(exe, inputs, weights):
    r = subprocess.run([exe, inputs, "-o", os.devnull, "--weights", weights, "--threads", "1"],
                       capture_output=True, text=True, check=True)
    rate = float(re.search(r", ([0-9.e+]+) inputs/s", r.stderr).group(1))
    counts = re.search(r"exits: (.*)", r.stderr).group(1)
    return rate, counts


def main():
    name, weights, inputs, exe, reps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    torch.set_num_threads(1)
    m, w = MODELS[name], load(weights)
    x = torch.from_numpy(np.load(inputs).astype(np.float32))
    n = x.shape[0]
    t_batch, t_exit, t_sluice = [], [], []
    with torch.no_grad():
        batch_all_heads(m, w, x)  # warm-up
        for _ in range(reps):
            t0 = time.perf_counter()
            batch_all_heads(m, w, x)
            t_batch.append((time.perf_counter() - t0) / n * 1e6)
            t0 = time.perf_counter()
            exits = torch_exit(m, w, x)
            t_exit.append((time.perf_counter() - t0) / n * 1e6)
            rate, counts = sluice_rate(exe, inputs, weights)
            t_sluice.append(1e6 / rate)
    hist = np.bincount(exits, minlength=len(m["tests"]) + 1).tolist()
    b, e, s = (statistics.median(t) for t in (t_batch, t_exit, t_sluice))
    print(f"{name}: {n} inputs; exits torch {hist}, sluice {counts}")
    print(f"  torch batch (all heads)  {b:9.2f} us/input")
    print(f"  torch exit (batch 1)     {e:9.2f} us/input")
    print(f"  sluice                   {s:9.2f} us/input")
    print(f"  sluice / torch batch {s / b:.2f}, sluice / torch exit {s / e:.3f}")


if __name__ == "__main__":
    main()
