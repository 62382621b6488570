// The invalidation listeners of one storage (Storage.onInvalidation), shared by every storage
// that emits invalidations itself.

import type { Invalidation, InvalidationListener } from './contract.js';

/** The listeners of one storage; a throwing listener is reported, never breaks a commit. */
export class InvalidationListeners {
  private readonly listeners = new Set<InvalidationListener>();

  add(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(invalidation: Invalidation): void {
    for (const listener of this.listeners) {
      try {
        listener(invalidation);
      } catch (error) {
        process.emitWarning(`invalidation listener failed: ${String(error)}`);
      }
    }
  }
}
