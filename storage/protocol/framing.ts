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
 *
 * Bytes are copied into one body buffer that grows (doubling, up to the announced length) as
 * they arrive: memory follows what the peer actually sent, not what it announced, and a peer
 * trickling one byte per packet costs one byte per byte, not a Buffer object per byte.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  /** Length of the frame whose body is being collected, or -1 while reading a header. */
  private bodyBytes = -1;
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private isStopped = false;

  constructor(
    /** Largest body accepted; may be changed between frames (the handshake uses a small one). */
    public maxFrameBytes: number,
    private readonly onFrame: (body: Buffer) => void,
  ) {}

  /** Bytes held waiting for the rest of a frame (for memory accounting). */
  get bufferedBytes(): number {
    return this.headerFilled + (this.body?.byteLength ?? 0);
  }

  /**
   * No frame is delivered after this, not even one that came in the same chunk as the frame
   * whose handler stopped the reader (a refused handshake must not run what follows it).
   */
  stop(): void {
    this.isStopped = true;
    this.body = null;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.byteLength && !this.isStopped) {
      if (this.bodyBytes < 0) {
        const used = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.byteLength - at);
        chunk.copy(this.header, this.headerFilled, at, at + used);
        this.headerFilled += used;
        at += used;
        if (this.headerFilled < FRAME_HEADER_BYTES) return;
        const length = this.header.readUInt32BE(0);
        this.headerFilled = 0;
        if (length === 0) throw new ProtocolError('empty frame');
        if (length > this.maxFrameBytes) {
          throw new ProtocolError(`frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
        }
        this.bodyBytes = length;
        this.bodyFilled = 0;
        this.body = null;
        continue;
      }
      const available = chunk.byteLength - at;
      const needed = this.bodyBytes - this.bodyFilled;
      if (this.body === null && available >= needed) {
        // The whole body is in this chunk: hand out a view, no copy.
        const body = chunk.subarray(at, at + needed);
        at += needed;
        this.bodyBytes = -1;
        this.onFrame(body);
        continue;
      }
      const used = Math.min(available, needed);
      this.reserve(this.bodyFilled + used);
      chunk.copy(this.body!, this.bodyFilled, at, at + used);
      this.bodyFilled += used;
      at += used;
      if (this.bodyFilled === this.bodyBytes) {
        const body = this.body!;
        this.body = null;
        this.bodyBytes = -1;
        this.onFrame(body);
      }
    }
  }

  /** Grows the body buffer to hold `bytes`, doubling, never past the frame's length. */
  private reserve(bytes: number): void {
    const capacity = this.body?.byteLength ?? 0;
    if (bytes <= capacity) return;
    const grown = Buffer.allocUnsafe(Math.min(this.bodyBytes, Math.max(bytes, capacity * 2, 4096)));
    this.body?.copy(grown, 0, 0, this.bodyFilled);
    this.body = grown;
  }
}
