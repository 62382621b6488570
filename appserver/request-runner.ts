// One request, one transaction: the app server's publisher. Takes a request as plain data (so a
// conflict can run it again from the same bytes), waits until the worker has caught up with a
// TID the client has already seen (read-your-writes across workers), calls the site's
// `fetch(request, ctx)` inside a fresh transaction, and commits or aborts it:
//   - status < 500 and something changed and not ctx.readOnly()  -> commit, answer carries the TID
//   - status >= 500, or nothing changed, or read-only             -> abort
//   - the handler threw                                            -> abort, 500, error logged
//   - ConflictError (in the handler or at commit)                  -> run again, then 503
// The same runner serves the worker thread (appserver/worker.ts) and the stand-alone HTTP app
// server (appserver/standalone.ts).

import { isConflict } from '../storage/contract.js';
import { fromHex, toHex } from '../storage/tid.js';
import type { AppContext, AppModule, PersistentMap, Transaction } from './app-module.js';
import type { HeaderPairs } from './worker-protocol.js';

export const TID_HEADER = 'x-zeo-tid';
export const TID_COOKIE = 'zeo_tid';

/** A request as data: what the router sends over the MessagePort. */
export interface RequestData {
  method: string;
  url: string;
  headers: HeaderPairs;
  body: ArrayBuffer | null;
}

/** One request's transaction, as the runner drives it (appserver/db-transactions.ts adapts the DB). */
export interface RequestTransaction {
  readonly tx: Transaction;
  root(): Promise<PersistentMap<string, unknown>>;
  /** True when the handler changed or created persistent objects. */
  hasChanges(): boolean;
  /** Commits; returns the new TID. Rejects with ConflictError. */
  commit(): Promise<bigint>;
  abort(): Promise<void>;
}

export interface TransactionSource {
  begin(): Promise<RequestTransaction>;
}

/**
 * The part of a storage the runner needs for read-your-writes: its snapshot TID
 * (lastTransaction, no network for a ClientStorage) and, for a storage that can lag behind
 * (ClientStorage), a way to wait until it has caught up.
 */
export interface CatchUpStorage {
  lastTransaction(): Promise<bigint>;
  sync?(tid: bigint, timeoutMs?: number): Promise<unknown>;
}

export type LogFunction = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface RequestRunnerOptions {
  app: AppModule;
  /** Null: the site has no database (ctx.root() throws). */
  transactions: TransactionSource | null;
  storage: CatchUpStorage | null;
  workerId: number;
  conflictRetries: number;
  syncTimeoutMs: number;
  log: LogFunction;
}

export interface RunnerStats {
  inFlight: number;
  served: number;
  errors: number;
  conflicts: number;
  conflictsExhausted: number;
  commits: number;
  /** Requests that waited for this app server to catch up with a TID the client had seen. */
  catchUps: number;
}

const BODYLESS = new Set(['GET', 'HEAD']);
const TID_COOKIE_PATTERN = new RegExp(`(?:^|;\\s*)${TID_COOKIE}=([0-9a-fA-F]{1,16})(?:;|$)`);
const CONFLICT_BACKOFF_MS = 2;

function textResponse(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text + '\n', { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } });
}

/** The newest TID the client has seen: header first, then cookie. Malformed values are ignored. */
export function requestedTid(headers: HeaderPairs): bigint | null {
  let fromHeader: string | null = null;
  let fromCookie: string | null = null;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === TID_HEADER) fromHeader = value.trim();
    else if (lower === 'cookie') {
      const match = TID_COOKIE_PATTERN.exec(value);
      if (match) fromCookie = match[1]!;
    }
  }
  for (const text of [fromHeader, fromCookie]) {
    if (text === null) continue;
    try {
      return fromHex(text);
    } catch {
      // A client-supplied value that is not a TID is not our problem to fail on.
    }
  }
  return null;
}

class NoDatabaseError extends Error {
  constructor() {
    super('this app server has no database (no storage configured); ctx.root() and ctx.tx are unavailable');
  }
}

export class RequestRunner {
  readonly stats: RunnerStats = { inFlight: 0, served: 0, errors: 0, conflicts: 0, conflictsExhausted: 0, commits: 0, catchUps: 0 };
  private readonly options: RequestRunnerOptions;

  constructor(options: RequestRunnerOptions) {
    this.options = options;
  }

  async run(data: RequestData): Promise<Response> {
    this.stats.inFlight++;
    try {
      const response = await this.runCaughtUp(data);
      if (response.status >= 500) this.stats.errors++;
      return response;
    } finally {
      this.stats.inFlight--;
      this.stats.served++;
    }
  }

  private async runCaughtUp(data: RequestData): Promise<Response> {
    const { storage, syncTimeoutMs } = this.options;
    const wanted = requestedTid(data.headers);
    if (wanted !== null && storage?.sync && wanted > (await storage.lastTransaction())) {
      this.stats.catchUps++;
      const isCaughtUp = await waitBounded(storage.sync(wanted, syncTimeoutMs), syncTimeoutMs);
      if (!isCaughtUp) {
        return textResponse(
          503,
          `this app server has not yet caught up with transaction ${toHex(wanted)} after ${syncTimeoutMs} ms; retry shortly`,
          { 'retry-after': '1' },
        );
      }
    }
    return this.runWithRetries(data);
  }

  private async runWithRetries(data: RequestData): Promise<Response> {
    const { conflictRetries, log } = this.options;
    let firstRequest: Request;
    try {
      firstRequest = toRequest(data);
    } catch (error) {
      // The client's fault (a Host header that makes no URL, a method fetch refuses): say so.
      return textResponse(400, `bad request: ${error instanceof Error ? error.message : String(error)}`);
    }
    let sawConflict = false;
    for (let attempt = 0; attempt <= conflictRetries; attempt++) {
      try {
        // The first attempt uses the Request built above; a rerun needs a fresh one (a body
        // can be read only once).
        return await this.runOnce(attempt === 0 ? firstRequest : toRequest(data));
      } catch (error) {
        if (isConflict(error)) {
          if (!sawConflict) this.stats.conflicts++;
          sawConflict = true;
          // A short, growing, jittered pause, so that the same writers do not collide again in step.
          if (attempt < conflictRetries) await sleep(CONFLICT_BACKOFF_MS * 2 ** attempt * (0.5 + Math.random()));
          continue;
        }
        log('error', 'request failed', { method: data.method, url: data.url, error: describe(error) });
        return textResponse(500, 'internal server error (the transaction was aborted; details are in the server log)');
      }
    }
    this.stats.conflictsExhausted++;
    log('warn', 'request gave up after conflicts', { method: data.method, url: data.url, attempts: conflictRetries + 1 });
    return textResponse(
      503,
      `conflict: the request collided with concurrent writes ${conflictRetries + 1} times and was not applied; retry it`,
      { 'retry-after': '1' },
    );
  }

  /** One attempt. Throws ConflictError (the caller retries) or the handler's error. */
  private async runOnce(request: Request): Promise<Response> {
    const { app, transactions, workerId } = this.options;
    const transaction = transactions ? await transactions.begin() : null;
    let isReadOnly = false;
    const ctx: AppContext = {
      root: () => (transaction ? transaction.root() : Promise.reject(new NoDatabaseError())),
      get tx(): Transaction {
        if (!transaction) throw new NoDatabaseError();
        return transaction.tx;
      },
      readOnly: () => {
        isReadOnly = true;
      },
      workerId,
    };
    let isFinished = false;
    try {
      const response = await app.fetch(request, ctx);
      if (!(response instanceof Response)) throw new TypeError('the app module fetch() did not return a Response');
      if (!transaction || response.status >= 500 || isReadOnly || !transaction.hasChanges()) return response;
      const tid = await transaction.commit();
      isFinished = true;
      this.stats.commits++;
      return withTid(response, tid);
    } finally {
      if (transaction && !isFinished) await transaction.abort().catch(() => {});
    }
  }
}

/** A fresh Request for each attempt: a body can be read only once, a conflict runs it again. */
function toRequest(data: RequestData): Request {
  return new Request(data.url, {
    method: data.method,
    headers: data.headers,
    body: BODYLESS.has(data.method.toUpperCase()) ? null : data.body,
  });
}

/** A committed response: the TID in a header and a cookie, for read-your-writes. */
function withTid(response: Response, tid: bigint): Response {
  const headers = new Headers(response.headers);
  const hex = toHex(tid);
  headers.set(TID_HEADER, hex);
  headers.append('set-cookie', `${TID_COOKIE}=${hex}; Path=/; HttpOnly; SameSite=Lax`);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function waitBounded(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([promise.then(() => true as const, () => false as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** A Response as data for the MessagePort: header pairs and the body as one ArrayBuffer. */
export async function responseToData(response: Response): Promise<{ status: number; headers: HeaderPairs; body: ArrayBuffer | null }> {
  const headers: HeaderPairs = [];
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers.push([name, value]);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
  const body = response.body ? await response.arrayBuffer() : null;
  return { status: response.status, headers, body: body && body.byteLength > 0 ? body : null };
}
