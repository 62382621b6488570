// Reading a request body off a node:http request, bounded: shared by the router and the
// stand-alone app server.

import type { IncomingMessage } from 'node:http';

/**
 * The whole body as an ArrayBuffer of its own (null when empty), or 'too large' as soon as it
 * passes `limit` bytes, declared or streamed. The buffer is a fresh one, never a slice of node's
 * shared pool, so it may be transferred to a worker thread.
 */
export async function readBody(request: IncomingMessage, limit: number): Promise<ArrayBuffer | null | 'too large'> {
  if (Number(request.headers['content-length'] ?? 0) > limit) {
    request.resume();
    return 'too large';
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      request.resume();
      return 'too large';
    }
    chunks.push(chunk);
  }
  if (total === 0) return null;
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body.buffer;
}
