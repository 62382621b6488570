// TLS for the storage server, started by hand on each accepted TCP socket rather than by a
// tls.Server, so that the address gate has its say before the TLS handshake (a disallowed
// address gets no byte, not even the certificate, exactly as without TLS), the peer's address
// is known for every log line, and the handshake has a hard deadline: a peer that never sends
// its ClientHello, or trickles it, is closed at handshakeTimeoutMs (tls.Server's own timeout is
// an idle timer, 120 s by default).

import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';

/** PEM text or file paths. */
export interface TlsFiles {
  cert: string;
  key: string;
}

function pem(text: string): string {
  return text.includes('-----BEGIN') ? text : readFileSync(text, 'utf8');
}

export function loadSecureContext(tls: TlsFiles): SecureContext {
  return createSecureContext({ cert: pem(tls.cert), key: pem(tls.key) });
}

export type TlsOutcome = { socket: TLSSocket } | { failure: string } | { isGone: true };

/**
 * Starts the server side of a TLS handshake on `raw` and calls `done` once: with the secure
 * socket, with why it failed or timed out (the socket is destroyed), or when the peer went away
 * without an error. Returns the TLS socket, so shutdown can destroy it while it handshakes.
 */
export function startTls(raw: Socket, context: SecureContext, timeoutMs: number, done: (outcome: TlsOutcome) => void): TLSSocket {
  const secure = new TLSSocket(raw, { isServer: true, secureContext: context });
  let failure: string | null = null;
  let isDone = false;
  const finish = (outcome: TlsOutcome) => {
    if (isDone) return;
    isDone = true;
    clearTimeout(timer);
    secure.off('secure', onSecure);
    secure.off('close', onClose);
    done(outcome);
  };
  const timer = setTimeout(() => {
    failure = `no TLS handshake within ${timeoutMs} ms`;
    secure.destroy();
  }, timeoutMs);
  const onSecure = () => finish({ socket: secure });
  const onClose = () => finish(failure === null ? { isGone: true } : { failure });
  secure.on('secure', onSecure);
  secure.on('close', onClose);
  // Errors before the handshake ends close the socket; after it, the session listens for them.
  secure.on('error', (error: Error) => {
    // OpenSSL's message is a long line with file paths; its reason and code say it all.
    const { reason, code } = error as Error & { reason?: string; code?: string };
    if (!isDone) failure ??= `TLS handshake failed: ${reason ? `${reason}${code ? ` (${code})` : ''}` : error.message}`;
  });
  return secure;
}
