"""Time the PyTorch inference of bench/run-tokens (moe.forward, Mixtral's
style) or of bench/run-where (where.forward), in-process.

    /usr/bin/python3 bench/tokens/torch_worker.py DIR [where|calm|above]

DIR (build/bench-tokens) holds weights.safetensors (weights_where.safetensors
for `where`, weights_FAMILY.safetensors for `calm`, `above`) and inputs_tT.npy
[N, T * 256] for T = 64, 256 (make.py).
Prints one line, "info torch=VERSION blas=CORE", then answers commands on
stdin, one line each, as bench/batch/time_model.c does:

  run T KNOB BATCH THREADS MIN_SECONDS  ->  us US_PER_SEQUENCE passes P
  quit

KNOB: top K experts per token (moe), or the threshold theta (where, calm,
above).

THREADS sets both torch's intra-op threads (torch.set_num_threads) and
OpenBLAS's, which Debian's torch calls for its matrix products through
libblas.so.3 and which torch.set_num_threads does not control.  A pass runs
ceil(N / BATCH) calls over BATCH sequences each, the sequences tiled
cyclically (BATCH 1: one sequence per call), top K experts per token; eager
mode, under torch.no_grad().  After one untimed pass, passes repeat until
MIN_SECONDS have gone by.
"""
import ctypes
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import above  # noqa: E402
import calm  # noqa: E402
import moe  # noqa: E402
import where  # noqa: E402


def inputs(d, t):
    """The sequences of T tokens of DIR, [N, T, 256]."""
    x = np.load(os.path.join(d, f"inputs_t{t}.npy"))
    return torch.from_numpy(x.reshape(x.shape[0], t, moe.D))


def openblas():
    """libblas.so.3 if it is OpenBLAS (Debian's alternatives), else None."""
    try:
        lib = ctypes.CDLL("libblas.so.3")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib
    except (OSError, AttributeError):
        return None


def set_threads(n, blas):
    torch.set_num_threads(n)
    if blas is not None:
        blas.openblas_set_num_threads(n)


def time_batch(forward, net, x, knob, batch, min_seconds):
    n = x.shape[0]
    calls = -(-n // batch)
    xt = x[torch.arange(calls * batch) % n]  # tiled
    chunks = [xt[c * batch:(c + 1) * batch] for c in range(calls)]
    p, t0, elapsed = -1, 0.0, 0.0
    while p < 1 or elapsed < min_seconds:  # pass -1: warm-up
        if p == 0:
            t0 = time.perf_counter()
        for c in chunks:
            forward(net, c, knob)
        if p >= 0:
            elapsed = time.perf_counter() - t0
        p += 1
    return elapsed / (p * calls * batch) * 1e6, p


def main():
    d = sys.argv[1]
    family = sys.argv[2] if len(sys.argv) > 2 else "moe"
    if family in ("where", "calm", "above"):
        fam = {"where": where, "calm": calm, "above": above}[family]
        net = fam.load(os.path.join(d, f"weights_{family}.safetensors"))
        forward, knob = fam.forward, float
    else:
        net, forward, knob = moe.load(os.path.join(d, "weights.safetensors")), moe.forward, int
    xs = {t: inputs(d, t) for t in moe.TS}
    blas = openblas()
    core = blas.openblas_get_corename().decode() if blas is not None else "not OpenBLAS"
    print(f"info torch={torch.__version__} blas={core}", flush=True)
    with torch.no_grad():
        for line in sys.stdin:
            w = line.split()
            if w and w[0] == "quit":
                break
            if len(w) == 6 and w[0] == "run" and int(w[1]) in xs:
                set_threads(int(w[4]), blas)
                us, passes = time_batch(forward, net, xs[int(w[1])], knob(w[2]), int(w[3]),
                                        float(w[5]))
                print(f"us {us:.4f} passes {passes}", flush=True)
            else:
                print("error bad command", flush=True)


if __name__ == "__main__":
    main()
