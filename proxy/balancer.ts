// Choosing the backend for one request, fresh for every request (never per connection, so a
// keep-alive client cannot stick to a sick worker). Only available backends (ready, healthy, not
// draining) are candidates; the ones a request already failed on are skipped.
//   round-robin  the next available backend in turn
//   least-busy   the fewest requests in flight; ties go round-robin so that light load still
//                spreads over every backend

import type { Backend } from './backend.js';

export type Balancing = 'round-robin' | 'least-busy';

export class Balancer {
  private cursor = 0;
  private readonly balancing: Balancing;

  constructor(balancing: Balancing) {
    this.balancing = balancing;
  }

  pick(backends: readonly Backend[], exclude: ReadonlySet<Backend> = new Set()): Backend | null {
    const count = backends.length;
    if (count === 0) return null;
    const start = this.cursor++ % count;
    let best: Backend | null = null;
    for (let i = 0; i < count; i++) {
      const candidate = backends[(start + i) % count]!;
      if (exclude.has(candidate) || !candidate.isAvailable()) continue;
      if (this.balancing === 'round-robin') return candidate;
      if (!best || candidate.inFlight < best.inFlight) best = candidate;
    }
    return best;
  }
}
