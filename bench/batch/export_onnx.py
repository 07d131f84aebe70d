"""Export one model of bench/run-batch to ONNX in two forms.

    /usr/bin/python3 bench/batch/export_onnx.py MODEL DIR

Reads DIR/weights.safetensors and DIR/thresholds.json (from train.py) and
writes
  DIR/row.onnx     the per-row model: input x [1, 64]; its decisions are
                   data-dependent `if`s, scripted with torch.jit.script so
                   that torch.onnx.export turns them into ONNX If nodes (the
                   thresholds are constants of the graph);
  DIR/masked.onnx  the masked batch model: input x [batch, 64] (dynamic);
                   every branch, head and expert for every row, the result
                   selected with Where / zero weights.
Needs the onnx package (Debian: python3-onnx; scripts/install-deps --bench).
"""
import json
import os
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402

import models  # noqa: E402
import slutil  # noqa: E402

OPSET = 16


def op_counts(path):
    """Node types of the graph, subgraphs (If branches) included."""
    c = Counter()

    def walk(g):
        for n in g.node:
            c[n.op_type] += 1
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    walk(m.graph)
    return c


def main():
    name, d = sys.argv[1], sys.argv[2]
    net, th = models.load_trained(name, d)
    x = torch.from_numpy(np.load(os.path.join(d, "inputs.npy"))[:4])
    with torch.no_grad():
        row = torch.jit.script(models.row_module(name, net, th))
        path = os.path.join(d, "row.onnx")
        torch.onnx.export(row, (x[:1],), path, opset_version=OPSET,
                          input_names=["x"], output_names=["y"])
        c = op_counts(path)
        if c["If"] == 0:
            raise SystemExit(f"{path}: no If node in the exported graph")
        print(f"{name}: row.onnx: {c['If']} If nodes, {c['Gemm'] + c['MatMul']} Gemm/MatMul")

        masked = models.masked_module(name, net, th)
        path = os.path.join(d, "masked.onnx")
        torch.onnx.export(masked, (x,), path, opset_version=OPSET, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        c = op_counts(path)
        print(f"{name}: masked.onnx: {c['If']} If nodes, {c['Gemm'] + c['MatMul']} Gemm/MatMul, "
              f"{c['Where']} Where")


if __name__ == "__main__":
    main()
