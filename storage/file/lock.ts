// The writer's lock of a FileStorage: `<path>.lock`, a file holding the pid and host of the one
// process that has the storage open for writing. Node has no flock, so the lock is a file
// created atomically: its content is written to a private temp file first and then hard-linked
// into place (link fails with EEXIST like O_EXCL does, and no one can ever read a half-written
// lock). A lock whose process is dead (same host, kill(pid, 0) says ESRCH) is stale and is taken
// over; a lock held by a live process, or by another host, refuses with StorageLockedError.
// Readers take no lock.

import { unlinkSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { StorageLockedError } from '../../errors.js';

interface LockOwner {
  pid: number;
  host: string;
}

/** Locks held by this process, removed on exit even if close() was never called. */
const heldLocks = new Set<string>();
let isExitHookInstalled = false;

function installExitHook(): void {
  if (isExitHookInstalled) return;
  isExitHookInstalled = true;
  process.on('exit', () => {
    for (const lockPath of heldLocks) {
      try {
        unlinkSync(lockPath);
      } catch {
        // Already gone; nothing to release.
      }
    }
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | null {
  const match = /^pid (\d+) on (.+)$/m.exec(text);
  return match ? { pid: Number(match[1]), host: match[2]! } : null;
}

async function readOwner(lockPath: string): Promise<LockOwner | null | 'missing'> {
  try {
    return parseOwner(await readFile(lockPath, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}

export class FileLock {
  private isHeld = true;

  private constructor(readonly lockPath: string) {}

  /** Takes the lock of `path` or throws StorageLockedError naming the holder. */
  static async acquire(path: string): Promise<FileLock> {
    const lockPath = path + '.lock';
    const me = `pid ${process.pid} on ${hostname()}\n`;
    const temp = `${lockPath}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await writeFile(temp, me);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(temp, lockPath);
          installExitHook();
          heldLocks.add(lockPath);
          return new FileLock(lockPath);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const owner = await readOwner(lockPath);
        if (owner === 'missing') continue;
        if (owner === null) throw new StorageLockedError(path, `an unknown holder (${lockPath} is unreadable)`);
        const isLocal = owner.host === hostname();
        if (!isLocal || isAlive(owner.pid)) {
          const who = owner.pid === process.pid && isLocal ? 'this process' : 'process';
          throw new StorageLockedError(path, `${who} ${owner.pid} on ${owner.host}`);
        }
        await breakStaleLock(lockPath, owner);
      }
      throw new StorageLockedError(path, 'another process racing for it');
    } finally {
      await unlink(temp).catch(() => {});
    }
  }

  async release(): Promise<void> {
    if (!this.isHeld) return;
    this.isHeld = false;
    heldLocks.delete(this.lockPath);
    const owner = await readOwner(this.lockPath).catch(() => null);
    if (owner !== 'missing' && owner?.pid === process.pid) {
      await unlink(this.lockPath).catch(() => {});
    }
  }
}

/**
 * Moves a dead process's lock aside. Two processes may both see it stale; renaming it to a
 * private name is atomic, so exactly one of them takes it away. If what was moved turns out to
 * be a fresh lock another process created meanwhile, it is linked back.
 */
async function breakStaleLock(lockPath: string, stale: LockOwner): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const moved = await readOwner(aside);
    if (moved !== 'missing' && moved !== null && (moved.pid !== stale.pid || moved.host !== stale.host)) {
      await link(aside, lockPath).catch(() => {});
    }
  } finally {
    await unlink(aside).catch(() => {});
  }
}
