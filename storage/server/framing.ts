// Length-prefixed frames over a byte stream (TCP or TLS), the lowest layer of the storage
// protocol (the protocol itself is documented in messages.ts). A frame is a 4-byte big-endian
// unsigned length N followed by N bytes of body. The reader checks N against its limit as soon
// as the 4 header bytes are in, BEFORE buffering any of the body, so a peer announcing a huge
// frame costs us nothing: the caller closes that one connection.

import { ProtocolError } from '../../errors.js';

export const FRAME_HEADER_BYTES = 4;
/** The protocol's own ceiling; a configured maxFrameBytes above it is clamped. */
export const MAX_FRAME_BYTES = 0xffff_ffff;

/** Header + body, as one buffer ready for socket.write. */
export function encodeFrame(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 0);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Cuts a byte stream into frame bodies. `push` throws ProtocolError on a frame over the limit
 * or an empty frame; after a throw the reader is unusable and the connection must be closed.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the frame whose body is being collected, or -1 while reading a header. */
  private bodyBytes = -1;

  constructor(
    /** Largest body accepted; may be changed between frames (the handshake uses a small one). */
    public maxFrameBytes: number,
    private readonly onFrame: (body: Buffer) => void,
  ) {}

  /** Bytes held waiting for the rest of a frame (for memory accounting). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    for (;;) {
      if (this.bodyBytes < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return;
        const length = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (length === 0) throw new ProtocolError('empty frame');
        if (length > this.maxFrameBytes) {
          throw new ProtocolError(`frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
        }
        this.bodyBytes = length;
      }
      if (this.buffered < this.bodyBytes) return;
      const body = this.take(this.bodyBytes);
      this.bodyBytes = -1;
      this.onFrame(body);
    }
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.byteLength >= n) {
      out = first.subarray(0, n);
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.chunks[0]!;
        const used = Math.min(chunk.byteLength, n - filled);
        chunk.copy(out, filled, 0, used);
        filled += used;
        if (used === chunk.byteLength) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(used);
      }
    }
    this.buffered -= n;
    return out;
  }
}
