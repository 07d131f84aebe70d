"""A million digits through the early-exit model on a Dask cluster.

    python3 examples/dask_digits/run.py [--inputs N] [--block ROWS] [--workers K]
                                        [--scheduler ADDRESS] [--frame] [--check]

The inputs are the 360 test digits of examples/early_exit with Gaussian
noise, made in blocks on the workers (each block from its own seed: the
client never holds them).  The model (examples/early_exit/digits_ee.slu,
compiled with sluicec --emit=shared, or --lib) runs as the map step:
sluice.dask.run_array over a Dask array of the blocks (--frame:
sluice.dask.run_frame over a Dask dataframe of them, one column per pixel).
A ModelPlugin ships the library and its weights to every worker, which loads
them once.  Prints the throughput (wall time of the distributed computation:
making the inputs, running the model, gathering the ledger table), the
accuracy against the digits' labels and the exit histogram.  --check runs the
same inputs through one sluice.load(...).run in this process and compares
(for small --inputs: it makes them all here).

Without --scheduler a LocalCluster of --workers processes (one thread each,
the model on one thread in each) runs on this machine; with --scheduler
tcp://HOST:8786 the same code runs on that cluster's workers, which need
only Python with NumPy, pandas, Dask and the sluice package (PYTHONPATH).
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.dirname(HERE)
# The package of the repository this example sits in (its version matches the
# repository's sluicec), else an installed one; a LocalCluster's workers
# inherit PYTHONPATH.
_PKG = os.path.join(os.path.dirname(EXAMPLES), "python")
if os.path.isfile(os.path.join(_PKG, "sluice", "__init__.py")):
    sys.path.insert(0, _PKG)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [_PKG] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def make_block(images, seed, k, n, noise):
    """Block k of the inputs: n digits drawn from images plus Gaussian noise
    of deviation `noise`, clipped to [0, 1]; the same bits for the same
    (seed, k) on any machine."""
    rng = np.random.default_rng([seed, k])
    idx = rng.integers(0, len(images), n)
    x = images[idx] + rng.normal(0.0, noise, (n, images.shape[1])).astype(np.float32)
    return np.clip(x, 0.0, 1.0, out=x)


def block_labels(labels, seed, k, n, count):
    """The labels of block k's digits (count: how many images there are):
    the same first draw as make_block's, without the noise.  (A task of its
    own: one task returning both would be fused into each of its two
    consumers by Dask's optimizer, and run twice.)"""
    return labels[np.random.default_rng([seed, k]).integers(0, count, n)]


def make_frame(images, labels, seed, k, n, noise, first):
    """Block k as a pandas DataFrame: columns p0..p63 and label, indexed by
    the inputs' global numbers."""
    import pandas as pd
    x = make_block(images, seed, k, n, noise)
    lab = block_labels(labels, seed, k, n, len(images))
    df = pd.DataFrame(x, columns=["p%d" % i for i in range(x.shape[1])],
                      index=pd.RangeIndex(first, first + n))
    df["label"] = lab
    return df


def blocks(total, rows):
    """The blocks' sizes: rows each, the last one shorter."""
    return [min(rows, total - s) for s in range(0, total, rows)]


def build(args):
    """The distributed computation as Dask collections: (y, labels, ledger,
    the number of right predictions)."""
    import dask
    import dask.array as da
    import sluice.dask

    images = np.load(os.path.join(EXAMPLES, "early_exit", "test_x.npy"))
    labels = np.load(os.path.join(EXAMPLES, "early_exit", "test_labels.npy")).astype(np.int64)
    images_d = dask.delayed(images, pure=True)  # in the graph once, fetched once per worker
    labels_d = dask.delayed(labels, pure=True)
    sizes = blocks(args.inputs, args.block)
    if args.frame:
        import dask.dataframe as dd
        import pandas as pd
        make = dask.delayed(make_frame, pure=True)
        firsts = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        parts = [make(images_d, labels_d, args.seed, k, n, args.noise, firsts[k])
                 for k, n in enumerate(sizes)]
        meta = make_frame(images, labels, args.seed, 0, 0, args.noise, 0)
        divisions = tuple(firsts[:-1]) + (firsts[-1] - 1,) if sizes else (None, None)
        df = dd.from_delayed(parts, meta=meta, divisions=divisions, verify_meta=False)
        pixels = [c for c in df.columns if c != "label"]
        y, ledger = sluice.dask.run_frame(args.lib, df, columns=pixels)
        # The prediction: the argmax of y's 10 columns.  Dataframe operations
        # only, as y and the ledger: a computation that mixed them with arrays
        # would run the blocks twice (sluice.dask's docstring).
        pred = y.map_partitions(lambda d: pd.Series(d.to_numpy().argmax(axis=1), index=d.index),
                                meta=("pred", "i8"))
        return y, df["label"], ledger, (pred == df["label"]).sum()
    make = dask.delayed(make_block, pure=True)
    make_labels = dask.delayed(block_labels, pure=True)
    xs, ls = [], []
    for k, n in enumerate(sizes):
        xs.append(da.from_delayed(make(images_d, args.seed, k, n, args.noise),
                                  (n, images.shape[1]), dtype=np.float32))
        ls.append(da.from_delayed(make_labels(labels_d, args.seed, k, n, len(images)), (n,),
                                  dtype=np.int64))
    x = da.concatenate(xs) if xs else da.zeros((0, images.shape[1]), np.float32)
    lab = da.concatenate(ls) if ls else da.zeros(0, np.int64)
    y, ledger = sluice.dask.run_array(args.lib, x, ledger="table")
    return y, lab, ledger, (y.argmax(axis=1) == lab).sum()


def check(args, y, table, lab):
    """The same inputs through one Model.run in this process."""
    import sluice
    images = np.load(os.path.join(EXAMPLES, "early_exit", "test_x.npy"))
    labels = np.load(os.path.join(EXAMPLES, "early_exit", "test_labels.npy")).astype(np.int64)
    sizes = list(enumerate(blocks(args.inputs, args.block)))
    x = np.concatenate([make_block(images, args.seed, k, n, args.noise) for k, n in sizes]
                       or [np.zeros((0, images.shape[1]), np.float32)])
    want_lab = np.concatenate([block_labels(labels, args.seed, k, n, len(images))
                               for k, n in sizes] or [np.zeros(0, np.int64)])
    m = sluice.load(args.lib)
    y1, led = m.run(x)
    names = led.exit_names
    same_y = y.dtype == y1.dtype and y.shape == y1.shape and y.tobytes() == y1.tobytes()
    exits = [led.exit_name(i) for i in range(len(led))]
    same_led = (table["input"].tolist() == list(range(len(led)))
                and table["exit"].astype(str).tolist() == exits
                and np.array_equal(table["flops"].to_numpy(), led.flops)
                and np.array_equal(table["dense_flops"].to_numpy(), led.dense_flops))
    hist = table["exit"].value_counts(sort=False)
    print("check: y %s one Model.run; ledger table %s its ledger (%d rows); labels %s; "
          "exits add up to %d: %s; histogram %s Ledger.exit_counts()" % (
              "same bits as" if same_y else "differs from",
              "equal to" if same_led else "differs from", len(table),
              "equal" if np.array_equal(lab, want_lab) else "differ", len(led),
              int(hist.sum()) == len(led),
              "equal to" if {k: int(hist.get(k, 0)) for k in names} == led.exit_counts() else
              "differs from"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=1_000_000, help="how many (1000000)")
    ap.add_argument("--block", type=int, default=50_000, help="inputs per block (50000)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (2)")
    ap.add_argument("--scheduler", help="a running cluster's scheduler (tcp://HOST:8786) "
                    "instead of a LocalCluster")
    ap.add_argument("--lib", help="digits_ee compiled with sluicec --emit=shared "
                    "(default: compile it now, with sluice.compile)")
    ap.add_argument("--noise", type=float, default=0.1, help="the noise's deviation (0.1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frame", action="store_true", help="a Dask dataframe, not an array")
    ap.add_argument("--check", action="store_true",
                    help="compare with one Model.run here (the inputs made here too)")
    args = ap.parse_args()
    if args.inputs < 0 or args.block < 1 or args.workers < 1:
        ap.error("--inputs must be 0 or more, --block and --workers 1 or more")

    import dask
    import pandas as pd
    from distributed import Client, LocalCluster
    import sluice
    import sluice.dask

    with tempfile.TemporaryDirectory() as tmp:
        if not args.lib:
            args.lib = sluice.compile(os.path.join(EXAMPLES, "early_exit", "digits_ee.slu"),
                                      os.path.join(tmp, "libdigits_ee.so"))
        if args.scheduler:
            cluster, where = None, args.scheduler
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                   dashboard_address=None)
            where = "a LocalCluster"
        with Client(cluster or args.scheduler) as client:
            # The library and its weights to every worker, loaded there once, on one thread.
            client.register_worker_plugin(sluice.dask.ModelPlugin(args.lib, threads=1,
                                                                  upload=True))
            workers = client.scheduler_info()["workers"]
            threads = sum(w["nthreads"] for w in workers.values())
            y, lab, ledger, hits = build(args)
            t0 = time.perf_counter()
            if args.check:
                y, lab, hits, table = dask.compute(y, lab, hits, ledger)
            else:
                hits, table = dask.compute(hits, ledger)
            seconds = time.perf_counter() - t0
        if cluster is not None:
            cluster.close()
        if isinstance(table, np.ndarray):  # run_array's table: a NumPy structured array
            table = pd.DataFrame(table)
        if args.check and not isinstance(y, np.ndarray):  # run_frame's: DataFrames
            y, lab = y.to_numpy(), lab.to_numpy()
        n = args.inputs
        print("dask_digits: %d inputs (%s, noise %g, seed %d) in %d blocks of up to %d on %s "
              "of %d workers (%d threads)" % (n, "dataframe" if args.frame else "array",
                                             args.noise, args.seed, len(blocks(n, args.block)),
                                             args.block, where, len(workers), threads))
        m = sluice.load(args.lib)
        dense = m.dense_flops()
        mean = float(table["flops"].mean()) if n else 0.0
        print("dask_digits: %.2f s, %.0f inputs/s; accuracy %.4f; %.1f kFLOPs mean executed "
              "of %.1f kFLOPs dense (%.1f%%)" % (seconds, n / seconds if seconds else 0.0,
                                                 int(hits) / n if n else 0.0, mean / 1e3,
                                                 dense / 1e3, 100 * mean / dense))
        hist = table["exit"].value_counts(sort=False)
        print("dask_digits: exits: %s" % ", ".join("%s %d" % (k, int(hist.get(k, 0)))
                                                   for k in list(m.info.exits) + ["end"]))
        if args.check:
            check(args, y, table, lab)


if __name__ == "__main__":  # the worker processes import this file: run only here
    main()
