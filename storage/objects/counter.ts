// Counter: a number that many transactions can change at once without conflicting. Concurrent
// increments are merged by resolveConflict (committed + mine - old), the example of
// application-level conflict resolution. BTree keeps its size in one, so inserts into
// different buckets do not all conflict on one count.

import { Persistent } from './persistent.js';

interface CounterState {
  value: number;
}

export class Counter extends Persistent {
  static persistentName = 'zeo.Counter';
  value = 0;

  constructor(initial = 0) {
    super();
    this.value = initial;
  }

  /** Adds `delta` (may be negative) and returns the new value. */
  add(delta = 1): number {
    this.value += delta;
    return this.value;
  }

  /** Both sides' changes applied to the committed value. */
  static resolveConflict(oldState: unknown, committedState: unknown, newState: unknown): CounterState {
    const value = (state: unknown): number => {
      const n = (state as Partial<CounterState> | null)?.value;
      if (typeof n !== 'number') throw new TypeError('not a Counter state');
      return n;
    };
    return { value: value(committedState) + value(newState) - value(oldState) };
  }
}
