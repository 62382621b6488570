// Failures inside the storage server that carry no ZeoError code (a bug, a storage that throws
// something untyped): the first is logged with its stack, then at most one line per interval
// says how many more there were and the last of them, so that a peer repeating a request that
// trips one cannot flood the log with a stack per request. A bad argument is never one of
// these: it is a typed error (ZEO_INVALID_ARGUMENT) answered to the peer and not logged at all.

import type { Logger } from '../../log.js';

export const INTERNAL_ERROR_LOG_INTERVAL_MS = 10_000;

export class InternalErrorLog {
  private lastLoggedAt = -Infinity;
  private suppressed = 0;
  private lastSuppressed = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = INTERNAL_ERROR_LOG_INTERVAL_MS,
  ) {}

  /** `what` names the request and the peer, e.g. "commit from 10.0.0.7:51234". */
  report(what: string, error: unknown): void {
    const now = Date.now();
    if (now - this.lastLoggedAt >= this.intervalMs && this.suppressed === 0) {
      this.lastLoggedAt = now;
      this.log.error(`${what} failed inside the server: ${(error as Error)?.stack ?? String(error)}`);
      return;
    }
    this.suppressed++;
    this.lastSuppressed = `${what}: ${(error as Error)?.message ?? String(error)}`;
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.lastLoggedAt + this.intervalMs - now));
    this.timer.unref();
  }

  private flush(): void {
    this.timer = null;
    if (this.suppressed === 0) return;
    this.log.error(
      `${this.suppressed} more requests failed inside the server in the last ` +
        `${Math.round(this.intervalMs / 1000)} s (the last: ${this.lastSuppressed})`,
    );
    this.lastLoggedAt = Date.now();
    this.suppressed = 0;
  }

  /** Logs what is still pending (at shutdown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.flush();
  }
}
