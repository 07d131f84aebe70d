"""sluice.dask.ModelPlugin on a LocalCluster of two worker processes.

    dask_plugin_check.py LIB X

Copies LIB (and the model's default weights, through the plugin) to a
temporary path, registers ModelPlugin(copy, threads=1, upload=True), and
prints what each worker holds: the model loaded at registration, from the
worker's own local directory, on one thread.  Then removes the copy from the
client's disk and runs X through run_array with the copy's path: the
workers run the model the plugin loaded (the same object before and after,
no file read at the client's path), y has the bits of one Model.run.  A
worker that joins later loads it too.  Registering a plugin for a missing
library fails on the client with the worker's message.
"""
import os
import re
import shutil
import sys
import tempfile

import numpy as np


def held():
    """What this worker process holds: [(library key, model path, weights
    path, threads, id)]."""
    import sluice.dask
    from distributed import get_worker
    w = get_worker()
    def local(path):  # within the worker's local directory, the upload's hash hidden
        rel = os.path.relpath(path, w.local_directory)
        return re.sub(r"^sluice-[0-9a-f]{16}/", "sluice-HASH/", rel)
    return [(k[0], local(m.path), local(m.weights), m.threads, id(m))
            for k, m in sluice.dask._models.items()]


def main():
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    import sluice
    import sluice.dask

    lib, xpath = sys.argv[1:3]
    x = np.load(xpath)
    m = sluice.load(lib)
    y_one, _ = m.run(x)
    tmp = tempfile.mkdtemp()
    copy = os.path.join(tmp, os.path.basename(lib))
    shutil.copy(lib, copy)

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster) as client:
        client.register_worker_plugin(sluice.dask.ModelPlugin(copy, threads=1, upload=True))
        before = client.run(held)
        for h in sorted(before.values()):
            print("worker: %d model, named by the client's path: %s, loaded from %s with %s, "
                  "threads %d" % (len(h), h[0][0] == copy, h[0][1], h[0][2], h[0][3]))
        shutil.rmtree(tmp)  # the workers have their own copies
        y, ledger = sluice.dask.run_array(copy, da.from_array(x, chunks=(100, -1)),
                                          output_shape=m.info.output_shape)
        y, recs = dask.compute(y, ledger)
        after = client.run(held)
        print("y: %s Model.run; each worker kept the plugin's model: %s" % (
            "same bits as" if y.tobytes() == y_one.tobytes() else "differs from",
            after == before))
        cluster.scale(3)
        client.wait_for_workers(3)
        late = [h for w, h in client.run(held).items() if w not in before]
        print("a worker that joined later: %d model, loaded from %s, threads %d" % (
            len(late[0]), late[0][0][1], late[0][0][3]))
        try:
            client.register_worker_plugin(sluice.dask.ModelPlugin(copy))
            print("missing library: no error")
        except sluice.Error as e:
            print("missing library: %s" % str(e).replace(copy, "COPY"))


if __name__ == "__main__":  # worker processes import this file: run only here
    main()
