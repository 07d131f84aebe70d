"""The driver of bench/run-batch: checks that every contender computes the
same thing, then times them side by side and prints the tables.

    /usr/bin/python3 bench/batch/bench.py BUILD_DIR [--reps R] [--min-time S]
        [--models ee1024,gatetree,moe2x8] [--batches 1,360] [--threads 1,2]

BUILD_DIR (build/bench-batch, made by bench/run-batch) holds, per model M:
M/{weights.safetensors, thresholds.json, inputs.npy, row.onnx, masked.onnx}
(train.py, export_onnx.py), lib/M/time_model and lib/M_dense/time_model
(time_model.c against each model's --emit=lib archive), exe/M (the model
executable, for its --stats ledger).

Contenders, each a worker process that times itself in-process and
answers "run BATCH THREADS MIN_SECONDS" (see time_model.c, torch_worker.py,
ort_worker.js):
  Sluice             the model's library, sl_model_run over the batch;
  Sluice dense       every conditional region run: ee1024 with
                     --force-exit never, the others their _dense.slu twins;
  PyTorch compacted  models.compacted(), eager, rows compacted per branch;
  ORT If (per row)   row.onnx in onnxruntime-node, one row per call;
  ORT masked         masked.onnx, BATCH rows per call.
Each measurement is one worker running passes over the inputs for at least
MIN_SECONDS; the contenders take turns (their order rotates from one
measurement to the next), round after round, and the tables give the
median over REPS rounds of the microseconds per input.  Before each
configuration's turn, BUILD_DIR/cpu_probe (cpu_probe.c) measures how much
of a second core the machine gives at that moment; its median and range
are printed with each model's tables, to read the 2-thread columns by.
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

# Outputs further apart than this (probabilities) mean another path was taken.
TOLERANCE = 1e-4
CONTENDERS = [("sluice", "Sluice"), ("dense", "Sluice dense"), ("torch", "PyTorch compacted"),
              ("ort_row", "ORT If (per row)"), ("ort_masked", "ORT masked")]


class Worker:
    """A contender's process: one command line in, one line out."""

    def __init__(self, argv, env=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=env)
        self.info = self.read()
        if not self.info.startswith("info "):
            raise SystemExit(f"bench: {' '.join(argv)}: no info line, got {self.info!r}")
        self.fields = dict(kv.split("=", 1) for kv in self.info.split()[1:])

    def read(self):
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"bench: {' '.join(self.argv)}: exited with status {self.p.wait()}")
        return line.strip()

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.read()

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait()


def blas_env():
    """The environment for PyTorch.  Debian's OpenBLAS 0.3.21 does not know
    every CPU model and falls back to its SSE3 "Prescott" kernels, which
    would make the comparison meaningless; then use its best kernels for the
    CPU's features, as bench/run-kernels does.  Torch's own OpenMP threads
    wait passively, so they do not spin against OpenBLAS's on 2 cores."""
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    note = ""
    if "OPENBLAS_CORETYPE" not in env:
        core = subprocess.run([sys.executable, "-c",
                               "import ctypes; l = ctypes.CDLL('libblas.so.3'); "
                               "l.openblas_get_corename.restype = ctypes.c_char_p; "
                               "print(l.openblas_get_corename().decode())"],
                              capture_output=True, text=True).stdout.strip()
        if core == "Prescott":
            flags = open("/proc/cpuinfo").read()
            env["OPENBLAS_CORETYPE"] = ("SkylakeX" if " avx512f" in flags else
                                        "Haswell" if " avx2" in flags else "Prescott")
            note = (f"OpenBLAS does not know this CPU (Prescott fallback): "
                    f"forced OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}")
        elif not core:
            note = "libblas.so.3 is not OpenBLAS (scripts/install-deps --bench)"
    return env, note


def sets_of(thresholds):
    out = []
    for k, v in thresholds.items():
        out += ["--set", f"{k}={v!r}"]
    return out


# --- checks -------------------------------------------------------------------

def check(name, d, exe, thresholds, ort):
    """Sluice's ledger and outputs (the executable's --stats and -o) against
    PyTorch's compacted inference (batch N and batch 1: the same exits,
    leaves, experts per input) and the ONNX forms' outputs (ONNX Runtime
    reports no decisions; outputs equal within TOLERANCE mean the same
    path).  Returns lines to print; a disagreement is a WARNING line."""
    import torch
    import models
    import torch_worker

    ledger_path, out_path = os.path.join(d, "ledger.jsonl"), os.path.join(d, "sluice_y.npy")
    cmd = [exe, os.path.join(d, "inputs.npy"), "-o", out_path, "--weights",
           os.path.join(d, "weights.safetensors"), "--stats", ledger_path, "-q"] + sets_of(thresholds)
    subprocess.run(cmd, check=True)
    with open(ledger_path) as f:
        ref = [models.decisions_from_ledger(name, json.loads(line)) for line in f]
    y_ref = np.load(out_path)
    lines = [f"checks ({' '.join(cmd)}):"]

    net, th, x = torch_worker.load(name, d)
    torch.set_num_threads(1)
    with torch.no_grad():
        y_b, dec_b = models.compacted(name, net, x, th)
        dec_b = models.decisions_list(name, dec_b)
        rows = [models.compacted(name, net, x[i:i + 1], th) for i in range(x.shape[0])]
    y_1 = torch.cat([r[0] for r in rows]).numpy()
    dec_1 = [models.decisions_list(name, r[1])[0] for r in rows]
    for label, dec, y in (("batch", dec_b, y_b.numpy()), ("batch 1", dec_1, y_1)):
        bad = sum(a != b for a, b in zip(dec, ref))
        diff = np.abs(y - y_ref).max()
        warn = "WARNING: " if bad or diff > TOLERANCE else ""
        lines.append(f"  {warn}PyTorch compacted ({label}) vs Sluice: {bad} of {len(ref)} decisions differ, "
                     f"outputs max |diff| {diff:.1e}")
    for form in ("row", "masked"):
        path = os.path.join(d, f"ort_{form}_y.f32")
        if ort.ask(f"dump {form} {path}") != "ok":
            raise SystemExit(f"bench: ORT {form}: dump failed")
        y = np.fromfile(path, dtype="<f4").reshape(y_ref.shape)
        diff, bad = np.abs(y - y_ref).max(), int((y.argmax(1) != y_ref.argmax(1)).sum())
        warn = "WARNING: " if bad or diff > TOLERANCE else ""
        lines.append(f"  {warn}ORT {form} vs Sluice: outputs max |diff| {diff:.1e}, argmax differs on {bad}")
    lines.append("  decisions: " + spread(name, ref))
    return lines


def spread(name, dec):
    if name == "ee1024":
        return "exits exit0/exit1/exit2/end " + "/".join(map(str, np.bincount(dec, minlength=4)))
    if name == "gatetree":
        return "leaves a0/a1/b0/b1 " + "/".join(map(str, np.bincount(dec, minlength=4)))
    use = [np.bincount(np.array([r[b] for r in dec]).reshape(-1), minlength=8) for b in (0, 1)]
    return "; ".join(f"ffn{b + 1} expert use " + "/".join(map(str, u)) for b, u in enumerate(use))


# --- timing -------------------------------------------------------------------

def probe(build):
    """The machine's 2-thread capacity now (cpu_probe.c), None without it."""
    exe = os.path.join(build, "cpu_probe")
    if not os.path.exists(exe):
        return None
    return float(subprocess.run([exe, "0.2"], capture_output=True, text=True, check=True).stdout)


def measure(worker, cmd):
    r = worker.ask(cmd).split()
    if r[0] == "us":
        return float(r[1])
    if r[0] == "na":
        return None
    raise SystemExit(f"bench: {' '.join(worker.argv)}: {cmd}: {' '.join(r)}")


def run_model(name, build, args, env, log):
    d = os.path.join(build, name)
    with open(os.path.join(d, "thresholds.json")) as f:
        thresholds = json.load(f)
    weights, inputs = os.path.join(d, "weights.safetensors"), os.path.join(d, "inputs.npy")
    lib = os.path.join(build, "lib")
    if name == "ee1024":
        dense_argv = [os.path.join(lib, name, "time_model"), "--force-exit", "never"]
    else:
        dense_argv = [os.path.join(lib, name + "_dense", "time_model")]
    argv = {
        "sluice": [os.path.join(lib, name, "time_model")] + sets_of(thresholds) + [weights, inputs],
        "dense": dense_argv + sets_of(thresholds) + [weights, inputs],
        "torch": [sys.executable, os.path.join(HERE, "torch_worker.py"), name, d],
        "ort": ["node", os.path.join(HERE, "ort_worker.js"), d],
    }
    log(f"\n## {name}\n")
    log("workers:")
    for k, a in argv.items():
        log(f"  {k}: {' '.join(a)}")
    workers = {k: Worker(a, env if k == "torch" else None) for k, a in argv.items()}
    try:
        for line in check(name, d, os.path.join(build, "exe", name), thresholds, workers["ort"]):
            log(line)
        info, dinfo = workers["sluice"].fields, workers["dense"].fields
        flops, dflops = float(info["mean_flops"]), float(dinfo["mean_flops"])
        log(f"  Sluice: {info['mean_flops']} FLOPs executed per input of {info['dense_flops']} dense "
            f"({flops / float(info['dense_flops']):.1%}); dense run: {dinfo['mean_flops']}; "
            f"batch-invariant: {info['invariant']}; threads: {info['threads']}")
        if info["invariant"] != "yes" or dinfo["invariant"] != "yes":
            log("  WARNING: Sluice is not batch-invariant here (time_model.c's info line)")
        if abs(dflops - float(info["dense_flops"])) > 1e-3 * dflops:
            log("  WARNING: the dense run does not execute the model's dense FLOPs")
        log(f"  PyTorch {workers['torch'].fields['torch']} (BLAS kernels {workers['torch'].fields['blas']}), "
            f"ONNX Runtime {workers['ort'].fields['ort']}")

        configs = [(b, t) for b in args.batches for t in args.threads]
        times = {(c, cfg): [] for c, _ in CONTENDERS for cfg in configs}
        capacity = []  # the machine's 2-thread capacity, before each measurement group
        t_start = time.time()
        k = 0
        for r in range(args.reps):
            for cfg in configs:
                b, t = cfg
                capacity.append(probe(build))
                order = CONTENDERS[k % len(CONTENDERS):] + CONTENDERS[:k % len(CONTENDERS)]
                k += 1
                for c, _ in order:
                    w = workers["ort"] if c.startswith("ort") else workers[c]
                    form = c[4:] + " " if c.startswith("ort") else ""
                    times[(c, cfg)].append(measure(w, f"run {form}{b} {t} {args.min_time}"))
            print(f"{name}: round {r + 1}/{args.reps} done ({time.time() - t_start:.0f} s)",
                  file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.close()
    med = {key: (None if None in v else statistics.median(v)) for key, v in times.items()}
    table(name, configs, med, flops, dflops, log)
    capacity = [c for c in capacity if c is not None]
    if capacity:
        log(f"\n{name}: the machine's 2-thread capacity during the run (bench/batch/cpu_probe.c: "
            f"a busy loop's work on 2 threads over 1; 2 = two free cores), {len(capacity)} probes: "
            f"median {statistics.median(capacity):.2f}, min {min(capacity):.2f}, max {max(capacity):.2f}")
    return {"configs": configs, "median_us": {f"{c} b{b} t{t}": med[(c, (b, t))]
                                             for c, _ in CONTENDERS for b, t in configs},
            "times_us": {f"{c} b{b} t{t}": times[(c, (b, t))] for c, _ in CONTENDERS for b, t in configs},
            "mean_flops": flops, "dense_flops": dflops, "capacity": capacity}


def fmt(v, spec=".1f"):
    return "n/a" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def table(name, configs, med, flops, dflops, log):
    head = [f"batch {b}, {t} thread{'s' if t > 1 else ''}" for b, t in configs]
    log(f"\n{name}: µs per input (median)\n")
    log("| | " + " | ".join(head) + " |")
    log("|---|" + "---|" * len(configs))
    for c, label in CONTENDERS:
        log(f"| {label} | " + " | ".join(fmt(med[(c, cfg)]) for cfg in configs) + " |")
    s = {cfg: med[("sluice", cfg)] for cfg in configs}
    for c, label in (("torch", "PyTorch"), ("ort_row", "ORT(If)"), ("ort_masked", "ORT(masked)")):
        log(f"| Sluice / {label} | " + " | ".join(fmt(ratio(s[cfg], med[(c, cfg)]), ".2f")
                                                 for cfg in configs) + " |")
    # (dense time / conditional time) / (dense FLOPs / executed FLOPs)
    log("| skip efficiency | " + " | ".join(
        fmt(ratio(ratio(med[("dense", cfg)], s[cfg]), dflops / flops), ".2f") for cfg in configs) + " |")
    log("| Sluice GFLOP/s (executed) | " + " | ".join(
        fmt(None if s[cfg] is None else flops / s[cfg] / 1e3, ".1f") for cfg in configs) + " |")
    batches = sorted({b for b, _ in configs})
    threads = sorted({t for _, t in configs})
    if len(threads) > 1:
        t1, t2 = threads[0], threads[-1]
        log(f"\n{name}: speedup of {t2} threads over {t1} (time at {t1} / time at {t2})\n")
        log("| | " + " | ".join(f"batch {b}" for b in batches) + " |")
        log("|---|" + "---|" * len(batches))
        for c, label in CONTENDERS:
            log(f"| {label} | " + " | ".join(fmt(ratio(med[(c, (b, t1))], med[(c, (b, t2))]), ".2f")
                                             for b in batches) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--models", default="ee1024,gatetree,moe2x8")
    ap.add_argument("--batches", default="1,360")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    args.batches = [int(v) for v in args.batches.split(",")]
    args.threads = [int(v) for v in args.threads.split(",")]
    env, note = blas_env()
    # the checks run PyTorch in this process: the same BLAS set-up as its worker
    os.environ.update({k: env[k] for k in ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY") if k in env})
    out = []

    def log(s=""):
        print(s, flush=True)
        out.append(s)

    log(f"# bench/run-batch, {time.strftime('%Y-%m-%d %H:%M')}\n")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    log(f"- CPU: {cpu}, {os.cpu_count()} cores; {args.reps} rounds, each measurement at least "
        f"{args.min_time} s; medians")
    if note:
        log(f"- note: {note}")
    results = {}
    for name in args.models.split(","):
        results[name] = run_model(name, args.build, args, env, log)
    with open(os.path.join(args.build, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.build, "results.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"\nwritten: {os.path.join(args.build, 'results.md')} and results.json", file=sys.stderr)


if __name__ == "__main__":
    main()
