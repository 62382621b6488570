// What the Redis publisher and subscriber share: ioredis connection options tuned for a fast
// path that may vanish at any time, a clean close, and URLs safe to log.

import type { Redis } from 'ioredis';

/** A Redis URL with its password masked, for logs and status pages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable redis url)';
  }
}

export const connectionOptions = {
  /** Reconnect quickly at first, then every 2 s: an outage should end as soon as Redis is back. */
  retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
  connectTimeout: 5000,
  maxRetriesPerRequest: 0,
  // ioredis arms this timer on every disconnect, even of a socket already closed (between
  // reconnect attempts), where nothing clears it: keep it short so a closed client does not
  // hold the process open.
  disconnectTimeout: 200,
};

/** Resolves once the client holds no socket and no reconnect timer (after quit or disconnect). */
export async function closeClient(redis: Redis): Promise<void> {
  const isEnded = () => redis.status === 'end';
  const hasSocket = () => ['connecting', 'connect', 'ready'].includes(redis.status);
  if (!hasSocket()) {
    // Between attempts (or never started): disconnect only clears the reconnect timer, and no
    // 'end' event follows, so there is nothing to wait for.
    redis.disconnect(false);
    return;
  }
  const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
  if (redis.status === 'ready') {
    // QUIT lets messages already written reach Redis; disconnect is the fallback.
    await redis.quit().catch(() => undefined);
    if (isEnded()) return;
  }
  const isStillOpen = hasSocket();
  redis.disconnect(false);
  if (isStillOpen) await ended;
}
