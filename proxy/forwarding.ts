// Header rules for a proxy hop (RFC 9110 §7.6.1): hop-by-hop headers, and the ones named in
// Connection, belong to one connection and are never forwarded either way; the app server
// learns who the client was from X-Forwarded-For / -Proto / -Host.

import type { IncomingMessage } from 'node:http';
import type { HeaderPairs } from '../appserver/worker-protocol.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Drops hop-by-hop headers, including any the Connection header names. */
export function stripHopByHop(headers: HeaderPairs): HeaderPairs {
  const named = new Set<string>();
  for (const [name, value] of headers) {
    if (name.toLowerCase() === 'connection') {
      for (const token of value.split(',')) named.add(token.trim().toLowerCase());
    }
  }
  return headers.filter(([name]) => {
    const lower = name.toLowerCase();
    return !HOP_BY_HOP.has(lower) && !named.has(lower);
  });
}

/** The request's headers as pairs (node keeps repeated ones apart in rawHeaders). */
export function rawHeaderPairs(request: IncomingMessage): HeaderPairs {
  const pairs: HeaderPairs = [];
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return pairs;
}

/** Headers for the app server: hop-by-hop stripped, X-Forwarded-* appended or set. */
export function forwardedRequestHeaders(request: IncomingMessage, isTls: boolean): HeaderPairs {
  const headers = stripHopByHop(rawHeaderPairs(request));
  const clientAddress = request.socket.remoteAddress ?? 'unknown';
  const previous = headers.filter(([name]) => name === 'x-forwarded-for').map(([, value]) => value);
  const kept = headers.filter(([name]) => name !== 'x-forwarded-for' && name !== 'x-forwarded-proto' && name !== 'x-forwarded-host');
  kept.push(['x-forwarded-for', [...previous, clientAddress].join(', ')]);
  kept.push(['x-forwarded-proto', isTls ? 'https' : 'http']);
  const host = request.headers.host;
  if (host) kept.push(['x-forwarded-host', host]);
  return kept;
}
