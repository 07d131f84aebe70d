"""The driver of bench/run-where: checks that Sluice and PyTorch compute the
same thing, then times them side by side against the fraction of tokens a
threshold lets through a block, and prints the tables.

    /usr/bin/python3 bench/tokens/bench_where.py BUILD_DIR [--family where|calm|above]
        [--reps R] [--min-time S] [--tokens 64,256] [--batch-64 16]
        [--batch-256 4] [--threads 1,2]

The family is the model: `where` (where.py, a residual MLP block on the
chosen tokens), `calm` (calm.py, a pre-norm encoder layer on them with
every token in view) or `above` (above.py, the tokens kept for the rest of
the model: a pre-norm encoder layer on them alone and a mean).  BUILD_DIR (build/bench-tokens, made by
bench/run-where) holds weights_FAMILY.safetensors, thetas_FAMILY.json and
inputs_tT.npy (FAMILY.py, make.py) and, per T, FAMILY_tT/model.slu,
time_model (time_model.c against its --emit=lib archive) and model (its
executable, for the ledger).

One compiled model per T serves every fraction: theta is set at run time
(`--set theta=V`).  Contenders, each a worker timing itself in-process:
  Sluice    sl_model_run over BATCH sequences (time_model);
  PyTorch   FAMILY.forward(): eager; the tokens above theta selected
            (torch.where, index_select), the block over them, index_copy
            (calm: norm1 and q, k, v of every token first, the chosen
            queries attending per sequence).
Batches of 1024 tokens (16 sequences at T = 64, 4 at T = 256) and of 1
sequence; the measurements of a configuration take turns in an order that
rotates round after round; the tables give medians over REPS rounds.

Skip efficiency (docs/performance.md), per contender and fraction: (time at
fraction 1 / time at F) / (FLOPs at 1 / FLOPs at F), the FLOPs being those
Sluice executes (its ledger; PyTorch does the same sums): 1 when time falls
in proportion to the work.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import bench as tb  # noqa: E402  (bench/tokens/bench.py: workers, cost, formatting)
import moe  # noqa: E402
import above  # noqa: E402
import calm  # noqa: E402
import where  # noqa: E402

FAMILIES = {"where": where, "calm": calm, "above": above}

Worker = tb.Worker


def check(fam, build, t, thetas, sluicec, infos, log):
    """At every fraction, Sluice's executable (outputs, the tokens each
    sequence chose, FLOPs) against fam.forward; the FLOPs against the
    formula and the range --cost gives.  Returns {fraction: mean FLOPs}."""
    import torch
    d = os.path.join(build, f"{fam.NAME}_t{t}")
    weights = os.path.join(build, f"weights_{fam.NAME}.safetensors")
    x = np.load(os.path.join(build, f"inputs_t{t}.npy"))
    n = x.shape[0]
    x3 = os.path.join(build, f"inputs_t{t}_seq.npy")
    if not os.path.exists(x3):
        np.save(x3, x.reshape(n, t, moe.D))
    net = fam.load(weights)
    torch.set_num_threads(1)
    cost = subprocess.run([sluicec, "--cost", os.path.join(d, "model.slu")], capture_output=True,
                          text=True, check=True).stdout
    lo_hi = [int(v) for v in cost.split("\nend", 1)[1].split()[:2]]
    flops, checks = {}, {}
    for f in fam.FRACTIONS:
        theta = thetas[str(f)]
        led_path, y_path = os.path.join(d, f"ledger_{f}.jsonl"), os.path.join(d, f"y_{f}.npy")
        subprocess.run([os.path.join(d, "model"), x3, "-o", y_path, "--weights", weights, "--set",
                        f"theta={theta}", "--stats", led_path, "-q"], check=True)
        with open(led_path) as fh:
            recs = [json.loads(line) for line in fh]
        chosen = [r["selected"][fam.SELECTED] for r in recs]
        rows = [i * t + j for i, c in enumerate(chosen) for j in c]
        with torch.no_grad():
            y_t, rows_t = fam.forward(net, torch.from_numpy(x.reshape(n, t, moe.D)), theta)
        y_s = np.load(y_path)
        rel = float(np.abs(y_t.numpy() - y_s).max()) / float(np.abs(y_s).max())
        same_rows = rows == rows_t.tolist()
        want = [fam.expected_flops(t, len(c)) for c in chosen]
        got = [r["flops"] for r in recs]
        info = infos[f]
        mean = float(info["mean_flops"])
        ok = same_rows and rel <= tb.REL_TOLERANCE and got == want and \
            all(lo_hi[0] <= v <= lo_hi[1] for v in got) and \
            abs(mean - float(np.mean(want))) <= 0.5  # time_model prints it rounded
        log(f"- T={t} fraction {f}: {'' if ok else 'WARNING: '}{len(rows)} of {n * t} tokens "
            f"through the block ({len(rows) / (n * t):.3f}), the same as PyTorch's: "
            f"{'yes' if same_rows else 'NO'}; outputs {rel:.1e} of max |y| apart; FLOPs per "
            f"sequence {min(got)} to {max(got)}, as the formula: {'yes' if got == want else 'NO'}, "
            f"within --cost's {lo_hi[0]} to {lo_hi[1]}; mean {mean:.0f}; "
            f"batch-invariant: {info['invariant']}")
        flops[f] = mean
        checks[str(f)] = {"theta": theta, "tokens": len(rows), "same_rows": same_rows,
                          "rel_diff": rel, "flops_as_formula": got == want, "mean_flops": mean,
                          "invariant": info["invariant"]}
    return flops, checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--family", choices=sorted(FAMILIES), default="where")
    ap.add_argument("--sluicec", default="build/compiler/sluicec")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--tokens", default="64,256")
    ap.add_argument("--batch-64", type=int, default=16)
    ap.add_argument("--batch-256", type=int, default=4)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    ts = [int(v) for v in args.tokens.split(",")]
    threads = [int(v) for v in args.threads.split(",")]
    big = {64: args.batch_64, 256: args.batch_256}
    fam = FAMILIES[args.family]
    name = fam.NAME
    fs = fam.FRACTIONS
    env, note = tb.blas_env()
    os.environ.update({k: env[k] for k in ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY") if k in env})
    build = args.build
    with open(os.path.join(build, f"thetas_{name}.json")) as fh:
        thetas = json.load(fh)
    out = []

    def log(s=""):
        print(s, flush=True)
        out.append(s)

    t_start = time.time()
    log(f"# bench/run-where {name}, {time.strftime('%Y-%m-%d %H:%M')}\n")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    log(f"- CPU: {cpu}, {os.cpu_count()} cores; {args.reps} rounds, each measurement at least "
        f"{args.min_time} s; medians")
    if note:
        log(f"- note: {note}")
    sl = {(t, f): Worker([os.path.join(build, f"{name}_t{t}", "time_model"), "--set",
                          f"theta={thetas[str(t)][str(f)]}",
                          os.path.join(build, f"weights_{name}.safetensors"),
                          os.path.join(build, f"inputs_t{t}.npy")])
          for t in ts for f in fs}
    tw = Worker([sys.executable, os.path.join(HERE, "torch_worker.py"), build, name], env)
    log(f"- PyTorch {tw.fields['torch']} (BLAS kernels {tw.fields['blas']}); sequences: "
        + ", ".join(f"{sl[(t, fs[0])].fields['n']} of T = {t}" for t in ts))
    log(f"\nchecks (the executable's --stats and -o against {name}.forward; time_model's info "
        "line):\n")
    flops, checks = {}, {}
    try:
        for t in ts:
            fl, checks[f"t{t}"] = check(fam, build, t, thetas[str(t)], args.sluicec,
                                        {f: sl[(t, f)].fields for f in fs}, log)
            flops.update({(t, f): v for f, v in fl.items()})
        groups = {t: [(b, th) for b in (big[t], 1) for th in threads] for t in ts}
        configs = [(t, b, th) for t in ts for b, th in groups[t]]
        times, _ = tb.time_rounds(
            args.reps, configs, fs,
            lambda t, f, b, th: (sl[(t, f)], f"run {b} {th} {args.min_time}"),
            lambda t, f, b, th: (tw, f"run {t} {thetas[str(t)][str(f)]} {b} {th} {args.min_time}"),
            "run-where")
    finally:
        for w in list(sl.values()) + [tw]:
            w.close()
    med = {key: (None if None in v else statistics.median(v)) for key, v in times.items()}
    for t in ts:
        tb.table(t, groups[t], fs, med, flops, log, knob="tokens through", show=lambda f: f"{f:g}")
    log(f"\nTotal time of bench_where.py: {time.time() - t_start:.0f} s")
    key = lambda c, t, f, b, th: f"{c} t{t} f{f} b{b} th{th}"  # noqa: E731
    results = {"checks": checks, "flops": {f"t{t} f{f}": v for (t, f), v in flops.items()},
               "median_us": {key(*kk): v for kk, v in med.items()},
               "times_us": {key(*kk): v for kk, v in times.items()},
               "reps": args.reps, "min_time": args.min_time}
    with open(os.path.join(build, f"results_{name}.json"), "w") as fh:
        json.dump(results, fh, indent=1)
    with open(os.path.join(build, f"results_{name}.md"), "w") as fh:
        fh.write("\n".join(out) + "\n")
    print(f"\nwritten: {os.path.join(build, f'results_{name}.md')} and results_{name}.json",
          file=sys.stderr)


if __name__ == "__main__":
    main()
