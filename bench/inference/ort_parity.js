#!/usr/bin/env node
// Cross-check of the parity data made by tests/inference/make_models.py with an
// independent engine: runs every OUTDIR/<name>/model.onnx in ONNX Runtime on
// the normalised windows of input.csv and compares with expected.csv (which
// holds PyTorch eager values). Usage: node ort_parity.js OUTDIR [--rtol R]
// Exit 0 if every value agrees within rtol (relative, with an absolute floor
// of rtol * 1e-2), 1 otherwise.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function readCsv(file) {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  const header = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(','));
  return {header, rows};
}

async function checkModel(dir, rtol) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const input = readCsv(path.join(dir, 'input.csv'));
  const expected = readCsv(path.join(dir, 'expected.csv'));
  const feats = manifest.inputs.features;
  const cols = feats.map((f) => input.header.indexOf(f));
  const {mean, std} = manifest.inputs.normalize;
  const window = manifest.inputs.window;
  const nRows = input.rows.length;
  const nWin = nRows - window + 1;
  const F = feats.length;
  const norm = new Float32Array(nRows * F);
  for (let r = 0; r < nRows; ++r) {
    for (let f = 0; f < F; ++f) {
      const x = Math.fround(Number(input.rows[r][cols[f]]));
      norm[r * F + f] = Math.fround(Math.fround(x - Math.fround(mean[f])) / Math.fround(std[f]));
    }
  }
  const data = new Float32Array(nWin * window * F);
  for (let w = 0; w < nWin; ++w) data.set(norm.subarray(w * F, (w + window) * F), w * window * F);
  const opts = {intraOpNumThreads: 1, interOpNumThreads: 1};
  const session = await ort.InferenceSession.create(path.join(dir, manifest.artifact.file), opts);
  const out = await session.run({input: new ort.Tensor('float32', data, [nWin, window, F])});
  const y = out[session.outputNames[0]];
  const K = y.dims[1];
  if (y.dims[0] !== nWin || expected.rows.length !== nWin || expected.header.length !== 2 + K) {
    return {ok: false, msg: `shape: ort ${y.dims}, expected ${expected.rows.length} rows x ${expected.header.length - 2}`};
  }
  let worst = 0;
  for (let w = 0; w < nWin; ++w) {
    if (Number(expected.rows[w][0]) !== w + window - 1) return {ok: false, msg: `index at row ${w}`};
    for (let k = 0; k < K; ++k) {
      const e = Number(expected.rows[w][2 + k]);
      const a = y.data[w * K + k];
      const err = Math.abs(a - e) / Math.max(Math.abs(e), 1e-2);
      worst = Math.max(worst, err);
    }
  }
  return {ok: worst <= rtol, msg: `max rel diff ${worst.toExponential(2)}`};
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 1) {
    console.error('usage: node ort_parity.js OUTDIR [--rtol R]');
    process.exit(2);
  }
  const outdir = args[0];
  const rtol = args[1] === '--rtol' ? Number(args[2]) : 1e-4;
  const index = JSON.parse(fs.readFileSync(path.join(outdir, 'index.json'), 'utf8'));
  let bad = 0;
  for (const m of index) {
    const r = await checkModel(path.join(outdir, m.name), rtol);
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${m.name}: ${r.msg}`);
    if (!r.ok) ++bad;
  }
  process.exit(bad ? 1 : 0);
}

main().catch((e) => {
  console.error(`ort_parity: ${e.message}`);
  process.exit(1);
});
