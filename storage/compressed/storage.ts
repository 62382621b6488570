// CompressedStorage: wraps any Storage and compresses record data above a size threshold, so
// the inner storage (a file, a database, a server) holds and moves fewer bytes. Transparent:
// callers see exactly the bytes they stored; refs, TIDs, conflicts, pack and invalidations pass
// through untouched (pack needs only refs, which are never compressed).
//
// Record format in the inner storage:
//   plain:       the data as it is (also every record written before compression was enabled)
//   compressed:  0xC1, the original length as an unsigned LEB128 varint, then deflate-raw bytes
// 0xC1 is the one byte msgpack never uses, so no record of the object layer starts with it and
// the marker cannot be mistaken for plain data. Plain data that does start with 0xC1 (opaque bytes
// from another writer) is always stored compressed, whatever its size, so it reads back intact.
// A record that starts with 0xC1 but does not inflate to its stated length was written without
// this wrapper, and is returned as it is.
//
// Why deflate-raw and not brotli (measured by bench/compression.ts on msgpack catalogue records
// of 0.2-100 KB): deflate level 6 and brotli quality 4 come out within about 5% of each other in
// size and in CPU; brotli quality 6 is 15-30% smaller on records above a few KB for 1.5-2x the
// compress time; brotli's default quality 11 costs 30-200x more CPU per commit, a trap for
// anyone tuning it later. Inflate is as fast as brotli's decompression at these sizes, deflate
// needs no tuning, and any zlib in any language can read a record for inspection or recovery.

import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { InvalidArgumentError } from '../../errors.js';
import type {
  CommitRequest,
  CommitResult,
  HistoryEntry,
  InvalidationListener,
  LoadBeforeResult,
  LoadResult,
  Oid,
  PackResult,
  Storage,
  StorageTransaction,
  StoreRequest,
  Tid,
  TransactionMeta,
  TransactionRecord,
} from '../contract.js';
import { checkCommitRequest } from '../commit-checks.js';

/** First byte of a compressed record. */
export const COMPRESSED_MARKER = 0xc1;
/** Above this size, (de)compression runs on the libuv thread pool instead of blocking the loop. */
const ASYNC_ABOVE_BYTES = 64 * 1024;

const deflateRaw = promisify(zlib.deflateRaw);
const inflateRaw = promisify(zlib.inflateRaw);

export interface CompressedStorageOptions {
  /** Compress data longer than this many bytes (default 512). */
  compressAboveBytes?: number;
  /** zlib level 1 (fastest) to 9 (smallest); default 6. */
  level?: number;
}

function encodeVarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** The original length and where the deflate bytes start, or null if the header is malformed. */
function decodeHeader(stored: Uint8Array): { length: number; offset: number } | null {
  let length = 0;
  let scale = 1;
  for (let i = 1; i < Math.min(stored.length, 7); i++) {
    const byte = stored[i]!;
    length += (byte & 0x7f) * scale;
    if (byte < 0x80) return { length, offset: i + 1 };
    scale *= 0x80;
  }
  return null;
}

function frame(original: Uint8Array, deflated: Uint8Array): Uint8Array {
  const header = [COMPRESSED_MARKER, ...encodeVarint(original.byteLength)];
  const out = new Uint8Array(header.length + deflated.byteLength);
  out.set(header);
  out.set(deflated, header.length);
  return out;
}

export class CompressedStorage implements Storage {
  readonly inner: Storage;
  private readonly compressAboveBytes: number;
  private readonly zlibOptions: zlib.ZlibOptions;

  /** Wraps `inner`; closing this storage closes `inner`. */
  constructor(inner: Storage, options: CompressedStorageOptions = {}) {
    const { compressAboveBytes = 512, level = 6 } = options;
    if (!Number.isSafeInteger(compressAboveBytes) || compressAboveBytes < 0) {
      throw new InvalidArgumentError('compressAboveBytes', `expected a whole number >= 0, got ${compressAboveBytes}`);
    }
    if (!Number.isInteger(level) || level < 1 || level > 9) {
      throw new InvalidArgumentError('level', `expected a zlib level from 1 to 9, got ${level}`);
    }
    this.inner = inner;
    this.compressAboveBytes = compressAboveBytes;
    this.zlibOptions = { level };
  }

  get name(): string {
    return this.inner.name;
  }

  get isReadOnly(): boolean {
    return this.inner.isReadOnly;
  }

  /** Anything that is not a Uint8Array passes through, for the inner storage to reject. */
  private needsCompression(data: unknown): data is Uint8Array {
    if (!(data instanceof Uint8Array) || data.byteLength === 0) return false;
    return data.byteLength > this.compressAboveBytes || data[0] === COMPRESSED_MARKER;
  }

  /** What to keep: compressed only if that is smaller, or if the data could be taken for a frame. */
  private choose(original: Uint8Array, deflated: Uint8Array): Uint8Array {
    const framed = frame(original, deflated);
    return framed.byteLength < original.byteLength || original[0] === COMPRESSED_MARKER ? framed : original;
  }

  private compressSync(data: Uint8Array): Uint8Array {
    if (!this.needsCompression(data)) return data;
    return this.choose(data, zlib.deflateRawSync(data, this.zlibOptions));
  }

  private async compress(data: Uint8Array): Promise<Uint8Array> {
    if (!this.needsCompression(data) || data.byteLength <= ASYNC_ABOVE_BYTES) return this.compressSync(data);
    return this.choose(data, await deflateRaw(data, this.zlibOptions));
  }

  private async decompress(stored: Uint8Array): Promise<Uint8Array> {
    if (stored[0] !== COMPRESSED_MARKER) return stored;
    const header = decodeHeader(stored);
    if (!header) return stored;
    const body = stored.subarray(header.offset);
    // maxOutputLength bounds the work a damaged or foreign record can cause.
    const options = { maxOutputLength: Math.max(header.length, 1) };
    try {
      const inflated =
        header.length > ASYNC_ABOVE_BYTES ? await inflateRaw(body, options) : zlib.inflateRawSync(body, options);
      if (inflated.byteLength === header.length) {
        return new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
      }
    } catch {
      // Not our frame: fall through.
    }
    return stored;
  }

  async load(oid: Oid): Promise<LoadResult> {
    const { data, tid } = await this.inner.load(oid);
    return { data: await this.decompress(data), tid };
  }

  async loadBefore(oid: Oid, beforeTid: Tid): Promise<LoadBeforeResult | null> {
    const result = await this.inner.loadBefore(oid, beforeTid);
    return result && { ...result, data: await this.decompress(result.data) };
  }

  lastTransaction(): Promise<Tid> {
    return this.inner.lastTransaction();
  }

  /**
   * Sizes are those of the data the caller stored, not of the compressed bytes, so each
   * compressed revision is read and inflated: history is an admin call, not a hot path.
   */
  async history(oid: Oid, limit?: number): Promise<HistoryEntry[]> {
    const entries = await this.inner.history(oid, limit);
    return Promise.all(
      entries.map(async (entry) => {
        const revision = await this.inner.loadBefore(oid, entry.tid + 1n).catch(() => null);
        if (revision?.start !== entry.tid || revision.data[0] !== COMPRESSED_MARKER) return entry;
        const inflated = await this.decompress(revision.data);
        return { tid: entry.tid, size: inflated.byteLength };
      }),
    );
  }

  async *iterator(fromTid?: Tid, toTid?: Tid): AsyncIterableIterator<TransactionRecord> {
    for await (const txn of this.inner.iterator(fromTid, toTid)) {
      const records = await Promise.all(
        txn.records.map(async (record) => ({ ...record, data: await this.decompress(record.data) })),
      );
      yield { ...txn, records };
    }
  }

  newOids(count?: number): Promise<Oid[]> {
    return this.inner.newOids(count);
  }

  async tpcBegin(meta?: TransactionMeta): Promise<StorageTransaction> {
    return new CompressedTransaction(await this.inner.tpcBegin(meta), (data) => this.compressSync(data));
  }

  async commit(request: CommitRequest): Promise<CommitResult> {
    checkCommitRequest(request);
    const stores = await Promise.all(
      request.stores.map(async (store: StoreRequest) =>
        this.needsCompression(store.data) ? { ...store, data: await this.compress(store.data) } : store,
      ),
    );
    return this.inner.commit({ ...request, stores });
  }

  pack(beforeTid: Tid): Promise<PackResult> {
    return this.inner.pack(beforeTid);
  }

  onInvalidation(listener: InvalidationListener): () => void {
    return this.inner.onInvalidation(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Compresses each store on its way in; phases and argument checks are the inner's. */
class CompressedTransaction implements StorageTransaction {
  constructor(
    private readonly inner: StorageTransaction,
    private readonly compress: (data: Uint8Array) => Uint8Array,
  ) {}

  store(oid: Oid, baseTid: Tid, data: Uint8Array, refs: readonly Oid[]): void {
    this.inner.store(oid, baseTid, data instanceof Uint8Array ? this.compress(data) : data, refs);
  }

  checkCurrent(oid: Oid, tid: Tid): void {
    this.inner.checkCurrent(oid, tid);
  }

  vote(): Promise<void> {
    return this.inner.vote();
  }

  finish(): Promise<CommitResult> {
    return this.inner.finish();
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}
