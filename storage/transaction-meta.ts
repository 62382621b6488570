// A transaction's metadata (user, description, extension) as bytes, the same in every storage
// that keeps it (FileStorage's records, PostgreSQL's transaction rows): msgpack of the fields
// that are set, and no bytes at all for none.

import { pack as msgpack, unpack as msgunpack } from 'msgpackr';
import type { TransactionMeta } from './contract.js';

export function encodeMeta(meta: TransactionMeta): Buffer {
  const clean: Record<string, unknown> = {};
  if (meta.user !== undefined) clean['user'] = meta.user;
  if (meta.description !== undefined) clean['description'] = meta.description;
  if (meta.extension !== undefined) clean['extension'] = meta.extension;
  return Object.keys(clean).length === 0 ? Buffer.alloc(0) : msgpack(clean);
}

export function decodeMeta(bytes: Buffer): TransactionMeta {
  return bytes.length === 0 ? {} : (msgunpack(bytes) as TransactionMeta);
}
