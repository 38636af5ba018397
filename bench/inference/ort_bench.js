#!/usr/bin/env node
// ONNX Runtime 1.20.1 peer timer for bench/inference (issue #6).
//
// node ort_bench.js --onnx FILE --window T --features F --batch B
//                   --min-seconds S [--trivial FILE] [--model NAME]
//
// Times InferenceSession.run on a fixed random input [B, T, F] with one
// intra-op and one inter-op thread (sequential execution, all graph
// optimisations on, ORT's default). The time is split into 5 equal slices of
// S/5 seconds each (after a warm-up of S/10) and the fastest slice's mean is
// reported, which keeps other processes on the shared machine out of the
// figure. With --trivial, the same is done for the trivial model (same input
// shape, one Slice + Squeeze) to measure the binding's per-call overhead
// (tensor wrapping, N-API, the promise, output tensor creation), and the
// difference is reported as ORT's own figure. CSV lines on stdout:
//   impl,model,batch,us_per_call,calls
//   ort_raw,<model>,B,<us>,<calls>       session.run of the model
//   ort_trivial,<model>,B,<us>,<calls>   session.run of trivial.onnx
//   ort,<model>,B,<raw - trivial>,<calls>
// Exit 2 on bad arguments, 1 on a runtime failure.
'use strict';

const path = require('path');
const ort = require('onnxruntime-node');

const SLICES = 5;

function parseArgs(argv) {
  const a = {trivial: null, model: null, minSeconds: 2};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) usage(`missing value for ${k}`);
    if (k === '--onnx') a.onnx = v;
    else if (k === '--window') a.window = Number(v);
    else if (k === '--features') a.features = Number(v);
    else if (k === '--batch') a.batch = Number(v);
    else if (k === '--min-seconds') a.minSeconds = Number(v);
    else if (k === '--trivial') a.trivial = v;
    else if (k === '--model') a.model = v;
    else usage(`unknown option ${k}`);
  }
  for (const k of ['onnx', 'window', 'features', 'batch']) {
    if (a[k] === undefined) usage(`--${k} is required`);
  }
  for (const k of ['window', 'features', 'batch']) {
    if (!Number.isInteger(a[k]) || a[k] <= 0) usage(`--${k} must be a positive integer`);
  }
  if (!(a.minSeconds > 0)) usage('--min-seconds must be > 0');
  if (a.model === null) a.model = path.basename(a.onnx, '.onnx');
  return a;
}

function usage(msg) {
  console.error(`ort_bench: ${msg}`);
  console.error('usage: node ort_bench.js --onnx FILE --window T --features F --batch B ' +
                '--min-seconds S [--trivial FILE] [--model NAME]');
  process.exit(2);
}

// Deterministic pseudo-random N(0,1)-ish input (sum of uniforms).
function makeInput(n) {
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; ++i) {
    let acc = 0;
    for (let j = 0; j < 4; ++j) {
      s = (s * 1103515245 + 12345) >>> 0;
      acc += s / 4294967296;
    }
    data[i] = (acc - 2) * 1.7;
  }
  return data;
}

async function timeSession(file, a, data) {
  const opts = {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const session = await ort.InferenceSession.create(file, opts);
  const feeds = {input: new ort.Tensor('float32', data, [a.batch, a.window, a.features])};
  const first = await session.run(feeds);
  const out = first[session.outputNames[0]];
  if (out.dims.length < 1 || out.dims[0] !== a.batch) {
    throw new Error(`${file}: first output has dims [${out.dims}]`);
  }
  const runFor = async (seconds) => {
    const limit = BigInt(Math.round(seconds * 1e9));
    const t0 = process.hrtime.bigint();
    let calls = 0;
    let elapsed = 0n;
    do {
      await session.run(feeds);
      ++calls;
      elapsed = process.hrtime.bigint() - t0;
    } while (elapsed < limit);
    return {calls, ns: Number(elapsed)};
  };
  await runFor(a.minSeconds / 10);  // warm-up
  let best = Infinity;
  let calls = 0;
  for (let i = 0; i < SLICES; ++i) {
    const r = await runFor(a.minSeconds / SLICES);
    best = Math.min(best, r.ns / r.calls / 1e3);
    calls += r.calls;
  }
  await session.release();
  return {us: best, calls};
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const data = makeInput(a.batch * a.window * a.features);
  const raw = await timeSession(a.onnx, a, data);
  const fmt = (us) => us.toFixed(3);
  console.log(`ort_raw,${a.model},${a.batch},${fmt(raw.us)},${raw.calls}`);
  if (a.trivial !== null) {
    const triv = await timeSession(a.trivial, a, data);
    console.log(`ort_trivial,${a.model},${a.batch},${fmt(triv.us)},${triv.calls}`);
    console.log(`ort,${a.model},${a.batch},${fmt(raw.us - triv.us)},${raw.calls}`);
  }
}

main().catch((e) => {
  console.error(`ort_bench: ${e.message}`);
  process.exit(1);
});
