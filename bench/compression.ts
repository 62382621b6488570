// Why CompressedStorage uses deflate-raw: every candidate codec of node:zlib on record-shaped
// data (msgpack arrays of catalogue products: one product, a bucket of 8, of 64, of 512),
// compressed size and the CPU time to compress and to decompress one record; then what the
// wrapper costs end to end (loads and commits through CompressedStorage(MemoryStorage) against
// a bare MemoryStorage, the baseline, measured in the same run).
//
// Run: `node dist/bench/compression.js [--runs R]`. Prints a table, writes
// bench/results/compression.json, and says what machine it ran on.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { pack } from 'msgpackr';
import { CompressedStorage } from '../storage/compressed/storage.js';
import type { Storage } from '../storage/contract.js';
import { MemoryStorage } from '../storage/memory/storage.js';
import { makeProduct } from './apps/catalogue-data.js';
import { describeMachine, machineLine } from './machine.js';

interface Codec {
  name: string;
  compress: (data: Uint8Array) => Uint8Array;
  decompress: (data: Uint8Array) => Uint8Array;
}

const brotli = (quality: number): Codec => ({
  name: `brotli q${quality}`,
  compress: (data) =>
    zlib.brotliCompressSync(data, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: quality, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length },
    }),
  decompress: (data) => zlib.brotliDecompressSync(data),
});

const codecs: Codec[] = [
  { name: 'deflate-raw 1', compress: (d) => zlib.deflateRawSync(d, { level: 1 }), decompress: (d) => zlib.inflateRawSync(d) },
  { name: 'deflate-raw 6 *', compress: (d) => zlib.deflateRawSync(d, { level: 6 }), decompress: (d) => zlib.inflateRawSync(d) },
  brotli(4),
  brotli(6),
  brotli(11),
];

const records = [1, 8, 64, 512].map((count) => ({
  name: `${count} product${count > 1 ? 's' : ''}`,
  data: pack(Array.from({ length: count }, (_, i) => makeProduct(i + 1))) as Uint8Array,
}));

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Median over `runs` of the mean microseconds per call, with enough calls for ~20 ms a run. */
function microseconds(runs: number, call: () => unknown): number {
  const started = performance.now();
  call();
  const iterations = Math.max(5, Math.min(20_000, Math.round(20 / Math.max(performance.now() - started, 0.001))));
  for (let i = 0; i < iterations; i++) call(); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) call();
    samples.push(((performance.now() - start) * 1000) / iterations);
  }
  return median(samples);
}

/** Commits per second writing 200 records of `data`, loads per second reading them back. */
async function storageRate(storage: Storage, data: Uint8Array, runs: number) {
  const commitSamples: number[] = [];
  const loadSamples: number[] = [];
  for (let r = 0; r <= runs; r++) {
    const oids = await storage.newOids(200);
    const commitStart = performance.now();
    for (const oid of oids) await storage.commit({ stores: [{ oid, baseTid: 0n, data, refs: [] }] });
    const commitSeconds = (performance.now() - commitStart) / 1000;
    const loadStart = performance.now();
    for (let i = 0; i < 5; i++) for (const oid of oids) await storage.load(oid);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    if (r === 0) continue; // warm-up
    commitSamples.push(oids.length / commitSeconds);
    loadSamples.push((oids.length * 5) / loadSeconds);
  }
  await storage.close();
  return { commitsPerSecond: Math.round(median(commitSamples)), loadsPerSecond: Math.round(median(loadSamples)) };
}

export async function runCompressionBench(runs = 5) {
  const machine = describeMachine();
  const codecRows = [];
  for (const record of records) {
    for (const codec of codecs) {
      const compressed = codec.compress(record.data);
      codecRows.push({
        record: record.name,
        bytes: record.data.byteLength,
        codec: codec.name,
        compressedBytes: compressed.byteLength,
        ratio: Math.round((compressed.byteLength / record.data.byteLength) * 1000) / 1000,
        compressMicroseconds: Math.round(microseconds(runs, () => codec.compress(record.data)) * 10) / 10,
        decompressMicroseconds: Math.round(microseconds(runs, () => codec.decompress(compressed)) * 10) / 10,
      });
    }
  }
  const wrapperRows = [];
  for (const record of records.slice(1, 3)) {
    const bare = await storageRate(new MemoryStorage(), record.data, runs);
    const wrapped = await storageRate(new CompressedStorage(new MemoryStorage()), record.data, runs);
    wrapperRows.push({ record: record.name, bytes: record.data.byteLength, bare, compressed: wrapped });
  }
  return { machine, runs, codecRows, wrapperRows };
}

async function main() {
  const runsArgument = process.argv.indexOf('--runs');
  const runs = runsArgument > 0 ? Number(process.argv[runsArgument + 1]) : 5;
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: expected a whole number >= 1');
  const result = await runCompressionBench(runs);
  console.log(machineLine(result.machine));
  console.log('\nrecord        bytes  codec             bytes out  ratio  compress µs  decompress µs');
  for (const row of result.codecRows) {
    console.log(
      `${row.record.padEnd(12)} ${String(row.bytes).padStart(6)}  ${row.codec.padEnd(16)} ${String(row.compressedBytes).padStart(9)}  ` +
        `${row.ratio.toFixed(3)}  ${row.compressMicroseconds.toFixed(1).padStart(11)}  ${row.decompressMicroseconds.toFixed(1).padStart(13)}`,
    );
  }
  console.log('(* = what CompressedStorage uses)\n');
  console.log('record        bytes  MemoryStorage loads/s commits/s  CompressedStorage loads/s commits/s');
  for (const row of result.wrapperRows) {
    console.log(
      `${row.record.padEnd(12)} ${String(row.bytes).padStart(6)}  ${String(row.bare.loadsPerSecond).padStart(19)} ` +
        `${String(row.bare.commitsPerSecond).padStart(9)}  ${String(row.compressed.loadsPerSecond).padStart(23)} ` +
        `${String(row.compressed.commitsPerSecond).padStart(9)}`,
    );
  }
  const outFile = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', 'compression.json');
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwritten to ${outFile}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
