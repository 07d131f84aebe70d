"""sluice.dask on a LocalCluster against one in-process Model.run and the
executable.

    dask_check.py LIB X Y_EXE LEDGER_EXE [--threads] [--lengths L.npy --no-set]

Runs X through sluice.dask.run_array on a LocalCluster of two worker processes
(one thread each; --threads: two worker threads in this process instead),
with the token counts L (a Dask array chunked otherwise than x) if given,
chunked as 100 rows (the last chunk short), then as one chunk and as 7 chunks.
Prints, per chunking, whether y has the bits of a single Model.run and of the
executable's -o, whether the ledger's records (in order) equal its --stats,
how many times Model.run ran on the workers to compute y and the records
together (once per block), and whether the ledger as a table (ledger="table")
holds Model.run's ledger, column for column; then the processes the model was loaded in, and (unless --no-set) a run
with t1=0.95 against Model.run's.
"""
import argparse
import json
import os

import numpy as np


def count_runs():
    """Count Model.run calls in this (worker) process from now on."""
    import sluice._model as M
    if not hasattr(M, "_counted_run"):
        M._counted_run = M.Model.run

        def run(self, *args, **kwargs):
            M._runs += 1
            return M._counted_run(self, *args, **kwargs)
        M.Model.run = run
    M._runs = 0


def runs_counted():
    import sluice._model as M
    return M._runs


def table_equal(table, led):
    """A ledger table (structured array or DataFrame) against a Ledger."""
    n = len(led)
    cols = list(table.dtype.names if isinstance(table, np.ndarray) else table.columns)
    slots = [c for c in cols if "." in c]
    fixed = ["input", "tokens", "exit", "flops", "dense_flops"] if led.tokens is not None \
        else ["input", "exit", "flops", "dense_flops"]
    return (cols == fixed + slots and len(table) == n
            and np.array_equal(np.asarray(table["input"]), np.arange(n))
            and np.asarray(table["exit"]).astype(str).tolist()
            == [led.exit_name(i) for i in range(n)]
            and np.array_equal(np.asarray(table["flops"]), led.flops)
            and np.array_equal(np.asarray(table["dense_flops"]), led.dense_flops)
            and (led.tokens is None or np.array_equal(np.asarray(table["tokens"]), led.tokens))
            and np.array_equal(np.stack([np.asarray(table[c]) for c in slots], axis=1)
                               if slots else np.zeros((n, 0), np.int32), led.slots))


def main():
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    import sluice
    import sluice.dask

    ap = argparse.ArgumentParser()
    for a in ("lib", "x", "y_exe", "ledger_exe"):
        ap.add_argument(a)
    ap.add_argument("--threads", action="store_true")
    ap.add_argument("--lengths")
    ap.add_argument("--no-set", action="store_true")
    a = ap.parse_args()
    threads, lib = a.threads, a.lib
    x = np.load(a.x)
    y_exe = np.load(a.y_exe)
    want = [json.loads(l) for l in open(a.ledger_exe, encoding="utf-8")]
    lengths = np.load(a.lengths) if a.lengths else None
    m = sluice.load(lib)
    y_one, led_one = m.run(x, lengths=lengths)
    assert led_one.to_records() == want

    cluster = LocalCluster(n_workers=1 if threads else 2, threads_per_worker=2 if threads else 1,
                           processes=not threads, dashboard_address=None)
    with cluster, Client(cluster) as client:
        n = len(x)
        for name, chunks in (("100 rows", 100), ("1 chunk", n), ("7 chunks", -(-n // 7))):
            xd = da.from_array(x, chunks=(chunks,) + (-1,) * (x.ndim - 1))
            ld = None if lengths is None else da.from_array(lengths, chunks=64)
            y, ledger = sluice.dask.run_array(lib, xd, lengths=ld)
            client.run(count_runs)
            y, got = dask.compute(y, ledger)
            runs = sum(client.run(runs_counted).values())
            got = got.tolist()
            same_one = y.dtype == y_one.dtype and y.shape == y_one.shape \
                and y.tobytes() == y_one.tobytes()
            same_exe = y.shape == y_exe.shape and y.tobytes() == y_exe.tobytes()
            equal = sum(g == w and list(g) == list(w) for g, w in zip(got, want))
            # The ledger as a table, with y: every column against Model.run's.
            y2, table = dask.compute(*sluice.dask.run_array(lib, xd, lengths=ld,
                                                            ledger="table"))
            print("%s: %d blocks %s, y: %s Model.run, %s the executable, records: %d of %d "
                  "equal%s, runs: %d, table: %s" % (
                      name, xd.numblocks[0], list(xd.chunks[0]) if len(xd.chunks[0]) < 8
                      else "", "same bits as" if same_one else "differs from",
                      "same bits as" if same_exe else "differs from", equal, len(want),
                      "" if len(got) == len(want) else " (%d records)" % len(got), runs,
                      "equal" if y2.tobytes() == y_one.tobytes()
                      and table_equal(table, led_one) else "differs"))
        # Where the model was loaded: the workers' processes, not this one.
        pids = client.run(lambda: (os.getpid(), len(sluice.dask._models)))
        loaded = sorted(v for v in pids.values())
        print("workers: %d, each loaded the model at most once: %s, in another process: %s" % (
            len(loaded), all(k <= 1 for _, k in loaded) and any(k for _, k in loaded),
            all(p != os.getpid() for p, _ in loaded) if not threads else "no (threads)"))
        if a.no_set:
            return
        # Thresholds per run.
        xd = da.from_array(x, chunks=(100,) + (-1,) * (x.ndim - 1))
        y, ledger = sluice.dask.run_array(lib, xd, thresholds={"t1": 0.95})
        y, got = dask.compute(y, ledger)
        got = got.tolist()
        y_t, led_t = m.run(x, thresholds={"t1": 0.95})
        print("t1=0.95: y %s, records %s, exits %s" % (
            "same bits" if y.tobytes() == y_t.tobytes() else "differ",
            "equal" if got == led_t.to_records() else "differ",
            ", ".join("%s %d" % kv for kv in led_t.exit_counts().items())))


if __name__ == "__main__":  # worker processes import this file: run only here
    main()
