"""The driver of bench/run-tokens: checks that Sluice and PyTorch compute the
same thing, then times them side by side against the fraction of expert
work per token and prints the tables.

    /usr/bin/python3 bench/tokens/bench.py BUILD_DIR [--reps R] [--min-time S]
        [--tokens 64,256] [--ks 1,2,4,8] [--batch-64 16] [--batch-256 4]
        [--threads 1,2]

BUILD_DIR (build/bench-tokens, made by bench/run-tokens) holds
weights.safetensors and inputs_tT.npy (make.py) and, per model tT_kK (T
tokens, top K of 8 experts per token), model.slu, time_model (time_model.c
against its --emit=lib archive) and model (the executable, for its --stats
ledger).

Contenders, each a worker process that times itself in-process (see
bench/batch/time_model.c and torch_worker.py):
  Sluice    the model's library, sl_model_run over BATCH sequences;
  PyTorch   moe.forward(): eager, per-token top K by a stable sort, then per
            expert torch.where, index_select, the expert, scaled, index_add_
            (Mixtral's reference MixtralSparseMoeBlock).
Batches: BATCH sequences per call (16 at T = 64, 4 at T = 256: 1024 tokens)
and 1.  Each measurement is one worker running passes over the inputs for
at least MIN_SECONDS; within a configuration (T, batch, threads) the eight
measurements (two contenders, four K) take turns in an order that rotates
from one configuration to the next, round after round; the tables give the
median over REPS rounds of the microseconds per sequence.

Skip efficiency (docs/performance.md), per contender and K: (time at K = 8
/ time at K) / (FLOPs at K = 8 / FLOPs at K), the FLOPs being those Sluice
executes (its ledger; the same sums PyTorch does): 1 when time falls in
proportion to the work.
"""
import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import moe  # noqa: E402


def _batch_bench():
    """bench/batch/bench.py (Worker, blas_env, probe, measure, fmt, ratio),
    under another name than this file's."""
    spec = importlib.util.spec_from_file_location(
        "batch_bench", os.path.join(HERE, "..", "batch", "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bb = _batch_bench()
Worker, blas_env, measure, fmt, ratio = bb.Worker, bb.blas_env, bb.measure, bb.fmt, bb.ratio

CONTENDERS = [("sluice", "Sluice"), ("torch", "PyTorch")]
REL_TOLERANCE = 1e-4  # max |diff| over max |y|


def expected_flops(t, k):
    """docs/language.md ("Cost"), as examples/common/seqref.py counts it: the
    router (a dense per token), the route (per token: top-k over N, the
    softmax over k, the combine 2*D per chosen expert, k experts), the
    residual add, pool_mean."""
    n, d, h = moe.N_EXPERTS, moe.D, moe.HIDDEN
    expert = (2 * d * h + h) + h + (2 * h * d + d)
    return t * (2 * d * n + n) + t * (n + k + 2 * d * k + k * expert) + t * d + t * d


def cost_flops(sluicec, slu):
    """The 'end' path's FLOPs in `sluicec --cost`."""
    out = subprocess.run([sluicec, "--cost", slu], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^end\s+(\d+)\s+(\d+)", out, re.M)
    if not m or m.group(1) != m.group(2):
        raise SystemExit(f"bench: cannot read the end path's FLOPs in sluicec --cost {slu}:\n{out}")
    return int(m.group(1))


# --- checks -------------------------------------------------------------------

def check(build, t, k, sluicec, info, log):
    """Sluice's executable (outputs, per-token choices, FLOPs in the ledger)
    against moe.forward over the same inputs; the FLOPs against --cost and
    the formula.  Returns the executed FLOPs per sequence."""
    import torch
    d = os.path.join(build, f"t{t}_k{k}")
    x = np.load(os.path.join(build, f"inputs_t{t}.npy"))
    n = x.shape[0]
    x3 = os.path.join(build, f"inputs_t{t}_seq.npy")  # the executable wants [N, T, 256]
    if not os.path.exists(x3):
        np.save(x3, x.reshape(n, t, moe.D))
    ledger_path, out_path = os.path.join(d, "ledger.jsonl"), os.path.join(d, "sluice_y.npy")
    cmd = [os.path.join(d, "model"), x3, "-o", out_path, "--weights",
           os.path.join(build, "weights.safetensors"), "--stats", ledger_path, "-q"]
    subprocess.run(cmd, check=True)
    with open(ledger_path) as f:
        recs = [json.loads(line) for line in f]
    y_s = np.load(out_path)
    routes = np.array([r["routes"]["experts"] for r in recs]).reshape(n * t, k)
    ledger_flops = {r["flops"] for r in recs}

    net = moe.load(os.path.join(build, "weights.safetensors"))
    torch.set_num_threads(1)
    with torch.no_grad():
        y_t, idx = moe.forward(net, torch.from_numpy(x.reshape(n, t, moe.D)), k)
    bad = int((idx.numpy() != routes).any(axis=1).sum())
    diff = float(np.abs(y_t.numpy() - y_s).max())
    rel = diff / float(np.abs(y_s).max())
    use = np.bincount(routes.reshape(-1), minlength=moe.N_EXPERTS)

    want, cost = expected_flops(t, k), cost_flops(sluicec, os.path.join(d, "model.slu"))
    mean = float(info["mean_flops"])
    flops_ok = ledger_flops == {want} and cost == want and mean == want
    warn = lambda ok: "" if ok else "WARNING: "  # noqa: E731
    log(f"- T={t} K={k}: {warn(bad == 0 and rel <= REL_TOLERANCE)}PyTorch vs Sluice: "
        f"{bad} of {n * t} tokens' choices differ, outputs max |diff| {diff:.1e} ({rel:.1e} of max |y|); "
        f"{warn(flops_ok)}FLOPs per sequence: expected {want}, --cost {cost}, ledger "
        f"{'/'.join(str(v) for v in sorted(ledger_flops))}, time_model {info['mean_flops']} "
        f"({mean / float(info['dense_flops']):.1%} of dense); "
        f"{warn(info['invariant'] == 'yes')}batch-invariant: {info['invariant']}; "
        f"expert use {'/'.join(map(str, use))}")
    return mean, {"choices_differ": bad, "max_abs_diff": diff, "rel_diff": rel, "expected_flops": want,
                  "cost_flops": cost, "ledger_flops": sorted(ledger_flops), "mean_flops": mean,
                  "invariant": info["invariant"], "expert_use": use.tolist()}


# --- timing -------------------------------------------------------------------

def time_rounds(reps, configs, ks, sluice_cmd, torch_cmd, name, probe=None):
    """Every contender at every knob of every configuration (t, batch,
    threads), round after round; within a configuration the measurements
    take turns in an order that rotates from one configuration to the next.
    sluice_cmd and torch_cmd (t, k, batch, threads) give the worker and its
    command.  Returns the times {(contender, t, k, batch, threads): [µs]}
    and what probe() returned before each configuration."""
    items = [(c, k) for k in ks for c, _ in CONTENDERS]
    times = {(c, t, k, b, th): [] for c, _ in CONTENDERS for t, b, th in configs for k in ks}
    capacity, n, t0 = [], 0, time.time()
    for r in range(reps):
        for t, b, th in configs:
            if probe:
                capacity.append(probe())
            order = items[n % len(items):] + items[:n % len(items)]
            n += 1
            for c, k in order:
                w, cmd = (sluice_cmd if c == "sluice" else torch_cmd)(t, k, b, th)
                times[(c, t, k, b, th)].append(measure(w, cmd))
        print(f"{name}: round {r + 1}/{reps} done ({time.time() - t0:.0f} s)", file=sys.stderr,
              flush=True)
    return times, capacity


def table(t, groups, ks, med, flops, log, knob="K", show=str):
    """The table of one T: per batch, threads and knob (K here; the fraction
    of tokens in bench_where.py), the times, their ratio, each contender's
    skip efficiency against the largest knob, Sluice's GFLOP/s."""
    kmax = max(ks)
    log(f"\nT = {t}: µs per sequence (median); work = executed FLOPs / those at {knob} = "
        f"{show(kmax)}\n")
    log(f"| batch, threads | {knob} | work | Sluice | PyTorch | Sluice / PyTorch | skip eff. Sluice "
        "| skip eff. PyTorch | Sluice GFLOP/s |")
    log("|---|---|---|---|---|---|---|---|---|")
    for b, th in groups:
        for k in ks:
            s, p = med[("sluice", t, k, b, th)], med[("torch", t, k, b, th)]
            fr = flops[(t, k)] / flops[(t, kmax)]
            eff = {c: ratio(ratio(med[(c, t, kmax, b, th)], med[(c, t, k, b, th)]), 1 / fr)
                   for c, _ in CONTENDERS}
            log(f"| {b}, {th} | {show(k)} | {fr:.3f} | {fmt(s)} | {fmt(p)} | {fmt(ratio(s, p), '.2f')} | "
                f"{fmt(eff['sluice'], '.2f')} | {fmt(eff['torch'], '.2f')} | "
                f"{fmt(None if s is None else flops[(t, k)] / s / 1e3, '.1f')} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--sluicec", default="build/compiler/sluicec")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--tokens", default="64,256")
    ap.add_argument("--ks", default="1,2,4,8")
    ap.add_argument("--batch-64", type=int, default=16)
    ap.add_argument("--batch-256", type=int, default=4)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    ts = [int(v) for v in args.tokens.split(",")]
    ks = [int(v) for v in args.ks.split(",")]
    threads = [int(v) for v in args.threads.split(",")]
    big = {64: args.batch_64, 256: args.batch_256}
    env, note = blas_env()
    # the checks run PyTorch in this process: the same BLAS set-up as its worker
    os.environ.update({k: env[k] for k in ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY") if k in env})
    out = []

    def log(s=""):
        print(s, flush=True)
        out.append(s)

    t_start = time.time()
    log(f"# bench/run-tokens, {time.strftime('%Y-%m-%d %H:%M')}\n")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    log(f"- CPU: {cpu}, {os.cpu_count()} cores; {args.reps} rounds, each measurement at least "
        f"{args.min_time} s; medians")
    if note:
        log(f"- note: {note}")
    build = args.build
    sl = {(t, k): Worker([os.path.join(build, f"t{t}_k{k}", "time_model"),
                          os.path.join(build, "weights.safetensors"), os.path.join(build, f"inputs_t{t}.npy")])
          for t in ts for k in ks}
    tw = Worker([sys.executable, os.path.join(HERE, "torch_worker.py"), build], env)
    log(f"- PyTorch {tw.fields['torch']} (BLAS kernels {tw.fields['blas']}); sequences: "
        + ", ".join(f"{sl[(t, ks[0])].fields['n']} of T = {t}" for t in ts))
    log("\nchecks (the executable's --stats and -o against moe.forward; time_model's info line):\n")
    flops, checks = {}, {}
    try:
        for t in ts:
            for k in ks:
                flops[(t, k)], checks[f"t{t} k{k}"] = check(build, t, k, args.sluicec, sl[(t, k)].fields, log)

        groups = {t: [(b, th) for b in (big[t], 1) for th in threads] for t in ts}
        configs = [(t, b, th) for t in ts for b, th in groups[t]]
        times, capacity = time_rounds(
            args.reps, configs, ks,
            lambda t, k, b, th: (sl[(t, k)], f"run {b} {th} {args.min_time}"),
            lambda t, k, b, th: (tw, f"run {t} {k} {b} {th} {args.min_time}"),
            "run-tokens", probe=lambda: bb.probe(build))
    finally:
        for w in list(sl.values()) + [tw]:
            w.close()
    med = {key: (None if None in v else statistics.median(v)) for key, v in times.items()}
    for t in ts:
        table(t, groups[t], ks, med, flops, log)
    capacity = [c for c in capacity if c is not None]
    if capacity:
        log(f"\nThe machine's 2-thread capacity during the run (bench/batch/cpu_probe.c: a busy loop's "
            f"work on 2 threads over 1; 2 = two free cores), {len(capacity)} probes: median "
            f"{statistics.median(capacity):.2f}, min {min(capacity):.2f}, max {max(capacity):.2f}")
    log(f"\nTotal time of bench.py: {time.time() - t_start:.0f} s")
    key = lambda c, t, k, b, th: f"{c} t{t} k{k} b{b} th{th}"  # noqa: E731
    results = {"checks": checks, "flops": {f"t{t} k{k}": v for (t, k), v in flops.items()},
               "median_us": {key(*kk): v for kk, v in med.items()},
               "times_us": {key(*kk): v for kk, v in times.items()}, "capacity": capacity,
               "reps": args.reps, "min_time": args.min_time}
    with open(os.path.join(build, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(build, "results.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"\nwritten: {os.path.join(build, 'results.md')} and results.json", file=sys.stderr)


if __name__ == "__main__":
    main()
