// What the router dispatches to: a Backend is one app server, either a local worker thread
// (proxy/worker-backend.ts, over its MessagePort) or a remote app server
// (proxy/remote-backend.ts, over HTTP). The balancer only ever sees this interface.

import type { HeaderPairs } from '../appserver/worker-protocol.js';

export interface ProxyRequest {
  method: string;
  url: string;
  headers: HeaderPairs;
  body: ArrayBuffer | null;
}

export interface ProxyResponse {
  status: number;
  headers: HeaderPairs;
  body: ArrayBuffer | null;
}

export type BackendState = 'starting' | 'ready' | 'draining' | 'stopped';

export interface BackendSnapshot {
  id: string;
  kind: 'worker' | 'remote';
  state: BackendState;
  isHealthy: boolean;
  /** Why it is not healthy (or null). */
  reason: string | null;
  inFlight: number;
  served: number;
  errors: number;
  restarts: number;
  /** The app server's own report (WorkerHealth or the remote's health JSON), if any yet. */
  health: unknown;
}

export interface Backend {
  readonly id: string;
  readonly inFlight: number;
  /** Ready, healthy and not draining: may take a new request now. */
  isAvailable(): boolean;
  /**
   * Sends one request. Rejects with BackendFailedError when the app server gives no answer;
   * `mayHaveRun` says whether the request may have reached it. `canRetry` tells the backend it
   * may give up early (a hung worker) because the router will resend the request elsewhere.
   */
  dispatch(request: ProxyRequest, canRetry: boolean): Promise<ProxyResponse>;
  snapshot(): BackendSnapshot;
  /** The router gave up waiting on it (client timeout): the backend is suspect. */
  abandon?(reason: string): void;
}
