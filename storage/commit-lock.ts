// A FIFO async mutex: the commit lock of a local storage (held from vote to finish/abort).

export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;

  /** Resolves with a release function once the lock is ours. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => {
      release = () => {
        this.held--;
        resolve();
      };
    });
    const previous = this.tail;
    this.tail = previous.then(() => next);
    this.held++;
    let released = false;
    const once = () => {
      if (!released) {
        released = true;
        release();
      }
    };
    return previous.then(() => once);
  }

  /** Holders plus waiters. */
  get size(): number {
    return this.held;
  }
}
