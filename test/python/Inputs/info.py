"""Print a model library's m.info, one field a line (FileCheck'd against
the executable's --info)."""
import sys

import sluice

with sluice.load(sys.argv[1], weights=sys.argv[2] if len(sys.argv) > 2 else None) as m:
    i = m.info
    print("name:", i.name)
    print("source:", i.source)
    print("weights: %s (default), %d tensors, embedded %d bytes"
          % (i.default_weights, len(i.manifest), i.embedded_weights))
    print("input:", i.input_name, i.input_dtype, i.input_shape, i.input_str)
    print("tokens:", i.tokens)
    print("output:", i.output_shape)
    print("thresholds:", i.thresholds)
    print("exits:", i.exits)
    print("decisions:", [(d.kind, d.name, d.slot, d.count, d.choices, d.per_token, d.rows)
                         for d in i.decisions])
    print("manifest:", ", ".join("%s %s" % kv for kv in i.manifest.items()))
    t = i.tokens.max if i.tokens else 0
    print("dense FLOPs: %s = %s" % (i.dense_flops, m.dense_flops()))
    print("tile rows: %d, scratch floats: %d" % (i.tile_rows, i.scratch_floats))
    print("threads:", m.threads)
    assert i.to_dict()["name"] == i.name
    assert m.thresholds == i.thresholds
