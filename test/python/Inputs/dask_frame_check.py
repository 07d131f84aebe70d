"""sluice.dask.run_frame on a LocalCluster against one in-process Model.run.

    dask_frame_check.py LIB X [--lengths L.npy]

Puts X's inputs in a pandas DataFrame, one column per element (a sequence's
padded tokens, token by token) and, with --lengths, a column "n" of token
counts, indexed by labels that are not row numbers; runs it through
sluice.dask.run_frame as a Dask dataframe of 3 partitions and of 1, on a
LocalCluster of two worker processes, y and the ledger computed together.
Prints per partitioning whether y has the bits of one Model.run, its columns,
whether both frames keep the dataframe's index and divisions, whether the
ledger table holds Model.run's ledger column for column (its "input" the
row's position), how many times Model.run ran (once per partition), and the
table's columns; then the errors of bad arguments.
"""
import argparse

import numpy as np


def main():
    import dask
    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster

    import sluice
    import sluice.dask
    from dask_check import count_runs, runs_counted, table_equal

    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("x")
    ap.add_argument("--lengths")
    a = ap.parse_args()
    x = np.load(a.x)
    lengths = np.load(a.lengths) if a.lengths else None
    m = sluice.load(a.lib)
    y_one, led_one = m.run(x, lengths=lengths)
    n = len(x)
    cols = ["c%d" % i for i in range(int(np.prod(x.shape[1:])))]
    pdf = pd.DataFrame(x.reshape(n, -1), columns=cols, index=pd.Index(1000 + 3 * np.arange(n),
                                                                      name="id"))
    if lengths is not None:
        pdf["n"] = lengths

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster) as client:
        for parts in (3, 1):
            df = dd.from_pandas(pdf, npartitions=parts)
            y, ledger = sluice.dask.run_frame(a.lib, df, columns=cols,
                                              lengths="n" if lengths is not None else None)
            client.run(count_runs)
            y, table = dask.compute(y, ledger)
            runs = sum(client.run(runs_counted).values())
            yb = np.ascontiguousarray(y.to_numpy())
            same = yb.dtype == np.float32 and yb.tobytes() == y_one.reshape(n, -1).tobytes()
            print("partitions %d: y %s Model.run, columns %s..%s, index and divisions as df's: "
                  "%s, ledger: %s, runs: %d" % (
                      df.npartitions, "same bits as" if same else "differs from", y.columns[0],
                      y.columns[-1], y.index.equals(pdf.index) and table.index.equals(pdf.index)
                      and sluice.dask.run_frame(a.lib, df, columns=cols, lengths="n" if lengths
                                                is not None else None)[1].divisions
                      == df.divisions, "equal" if table_equal(table, led_one) else "differs",
                      runs))
        print("table columns: %s" % ", ".join(table.columns[:8]) + (", ..." if len(
            table.columns) > 8 else ""))
        print("exit: %s of %s" % (table["exit"].dtype, ", ".join(table["exit"].cat.categories)))
        df = dd.from_pandas(pdf, npartitions=2)
        for what, call in (
                ("one column short", lambda: sluice.dask.run_frame(a.lib, df, columns=cols[1:])),
                ("no such column", lambda: sluice.dask.run_frame(a.lib, df, columns=["zz"])),
                ("not a dataframe", lambda: sluice.dask.run_frame(a.lib, pdf)),
                ("output names", lambda: sluice.dask.run_frame(a.lib, df, columns=cols,
                                                               output_columns=["a"])),
                ("ledger kind", lambda: sluice.dask.run_array(a.lib, x, ledger="rows"))):
            try:
                call()
                print("%s: no error" % what)
            except sluice.Error as e:
                print("%s: %s" % (what, e))


if __name__ == "__main__":  # worker processes import this file: run only here
    main()
