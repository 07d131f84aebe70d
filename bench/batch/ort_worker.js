// ort_worker.js - time a model's two ONNX forms in ONNX Runtime (the CPU
// execution provider of onnxruntime-node), in-process, for bench/run-batch.
//
//   node bench/batch/ort_worker.js DIR
//
// DIR holds row.onnx (the per-row model with If nodes, input [1, 64]),
// masked.onnx (the masked batch model, input [batch, 64]) and inputs.npy
// [N, 64] (from bench/batch/train.py and export_onnx.py).  It prints one
// line, "info ort=VERSION n=N", then answers commands on stdin, one line
// each, as bench/batch/time_model.c does:
//
//   run FORM BATCH THREADS MIN_SECONDS  ->  us US_PER_INPUT passes P
//   dump FORM PATH                      ->  ok   (the N outputs, raw f32)
//   quit
//
// FORM is "row" or "masked".  A session per form and thread count
// (intraOpNumThreads = THREADS, interOpNumThreads = 1, sequential, all
// graph optimizations), made once and kept.  A pass runs ceil(N / BATCH)
// calls over BATCH rows each, the inputs tiled cyclically; the row form
// only takes one row per call, so it runs BATCH calls of one row for each
// batch (its per-input time does not depend on BATCH).  After one untimed
// pass, passes repeat until MIN_SECONDS have gone by.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const ort = require('onnxruntime-node');

// A .npy of '<f4' in C order (what np.save writes for float32).
function readNpy(file) {
    const buf = fs.readFileSync(file);
    if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
    const major = buf[6];
    const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
    const start = major === 1 ? 10 : 12;
    const header = buf.toString('latin1', start, start + hlen);
    if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
        throw new Error(`${file}: expected '<f4' in C order: ${header.trim()}`);
    const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
        .filter((s) => s.trim() !== '').map((s) => parseInt(s, 10));
    const off = start + hlen;
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
    return { shape, data };
}

const dir = process.argv[2];
const inputs = readNpy(path.join(dir, 'inputs.npy'));
const [n, width] = inputs.shape;
const sessions = new Map();

async function session(form, threads) {
    const key = `${form}/${threads}`;
    if (!sessions.has(key)) {
        sessions.set(key, await ort.InferenceSession.create(path.join(dir, `${form}.onnx`), {
            executionProviders: ['cpu'],
            intraOpNumThreads: threads,
            interOpNumThreads: 1,
            executionMode: 'sequential',
            graphOptimizationLevel: 'all',
        }));
    }
    return sessions.get(key);
}

// The feeds of one pass: tensors of `rows` inputs each, tiled cyclically.
function feedsOf(calls, rows) {
    const out = [];
    for (let c = 0; c < calls; c++) {
        const x = new Float32Array(rows * width);
        for (let r = 0; r < rows; r++) {
            const i = (c * rows + r) % n;
            x.set(inputs.data.subarray(i * width, (i + 1) * width), r * width);
        }
        out.push({ x: new ort.Tensor('float32', x, [rows, width]) });
    }
    return out;
}

async function timeForm(form, batch, threads, minSeconds) {
    const s = await session(form, threads);
    const calls = Math.ceil(n / batch);
    // the row form takes one row per call: batch calls of one row per batch
    const feeds = form === 'row' ? feedsOf(calls * batch, 1) : feedsOf(calls, batch);
    let t0 = 0n, elapsed = 0, p;
    for (p = -1; p < 1 || elapsed < minSeconds; p++) { // pass -1: warm-up
        if (p === 0) t0 = process.hrtime.bigint();
        for (const f of feeds) await s.run(f);
        if (p >= 0) elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    }
    return { us: (elapsed / (p * calls * batch)) * 1e6, passes: p };
}

async function dump(form, file) {
    const s = await session(form, 1);
    const feeds = form === 'row' ? feedsOf(n, 1) : feedsOf(1, n);
    const parts = [];
    for (const f of feeds) parts.push((await s.run(f)).y.data);
    const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    fs.writeFileSync(file, Buffer.from(all.buffer));
}

async function main() {
    console.log(`info ort=${ort.env.versions.common} n=${n}`);
    const rl = readline.createInterface({ input: process.stdin });
    for await (const line of rl) {
        const w = line.trim().split(/\s+/);
        try {
            if (w[0] === 'quit') break;
            if (w[0] === 'run' && w.length === 5) {
                const r = await timeForm(w[1], parseInt(w[2], 10), parseInt(w[3], 10), parseFloat(w[4]));
                console.log(`us ${r.us.toFixed(4)} passes ${r.passes}`);
            } else if (w[0] === 'dump' && w.length === 3) {
                await dump(w[1], w[2]);
                console.log('ok');
            } else {
                console.log('error bad command');
            }
        } catch (e) {
            console.log(`error ${String(e.message || e).split('\n')[0]}`);
        }
    }
    process.exit(0);
}

main();
