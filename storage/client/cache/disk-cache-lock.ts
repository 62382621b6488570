// The lock that keeps one disk cache file to one DiskCache at a time: `<path>.lock`, naming the
// holder by process id AND worker-thread id, because app-server workers are threads of one
// process and each must own its own cache file (config client.diskCacheDir, one file per worker).
//
// The lock file is created atomically (written to a private temp name, then hard-linked into
// place: link fails with EEXIST as O_EXCL would, and nobody reads a half-written lock). When it
// exists already, the holder is asked whether it is still there:
//  - another process: kill(pid, 0) — a dead pid makes the lock stale;
//  - this thread: the thread's own table of open caches;
//  - another thread of this process: a question on a process-wide BroadcastChannel, answered by
//    the holder thread's listener. A thread ended by worker.terminate() runs no exit hook and
//    leaves its lock behind; silence for LIVENESS_TIMEOUT_MS makes that lock stale, so the
//    replacement worker can take over the file.
// A stale lock is moved aside by rename (atomic: of two processes reclaiming at once, one wins).

import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { StorageLockedError } from '../../../errors.js';

const LIVENESS_TIMEOUT_MS = 500;
const ADVICE = 'give each worker its own cache file (client.diskCacheDir holds one per worker) or stop that one';
const CHANNEL_NAME = 'zeo-ts:disk-cache-locks';

interface Holder {
  pid: number;
  thread: number;
  host: string;
}

type LockQuestion = { kind: 'is-held'; lockPath: string; questionId: string };
type LockAnswer = { kind: 'held'; questionId: string };

/** Lock files this thread holds; released on exit (process.exit, uncaught error) if not before. */
const heldHere = new Set<string>();
let channel: BroadcastChannel | undefined;

function answerQuestions(): void {
  if (channel) return;
  channel = new BroadcastChannel(CHANNEL_NAME);
  channel.unref();
  channel.onmessage = (event) => {
    const question = (event as MessageEvent).data as LockQuestion;
    if (question?.kind === 'is-held' && heldHere.has(question.lockPath)) {
      channel!.postMessage({ kind: 'held', questionId: question.questionId } satisfies LockAnswer);
    }
  };
  process.on('exit', () => {
    for (const lockPath of heldHere) {
      try {
        unlinkSync(lockPath);
      } catch {
        // Already gone.
      }
    }
  });
}

/** Asks the other threads of this process whether one of them holds `lockPath`. */
async function isHeldByAnotherThread(lockPath: string): Promise<boolean> {
  const asker = new BroadcastChannel(CHANNEL_NAME);
  const questionId = `${threadId}-${Math.random().toString(36).slice(2)}`;
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), LIVENESS_TIMEOUT_MS);
      asker.onmessage = (event) => {
        const answer = (event as MessageEvent).data as LockAnswer;
        if (answer?.kind === 'held' && answer.questionId === questionId) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      asker.postMessage({ kind: 'is-held', lockPath, questionId } satisfies LockQuestion);
    });
  } finally {
    asker.close();
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describe(holder: Holder): string {
  return holder.pid === process.pid
    ? `worker thread ${holder.thread} of this process (${holder.pid})`
    : `process ${holder.pid} (thread ${holder.thread}) on ${holder.host}`;
}

async function readHolder(lockPath: string): Promise<Holder | null | 'missing'> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  const match = /^pid (\d+) thread (\d+) on (.+)$/m.exec(text);
  return match ? { pid: Number(match[1]), thread: Number(match[2]), host: match[3]! } : null;
}

async function isStale(lockPath: string, holder: Holder): Promise<boolean> {
  if (holder.host !== hostname()) return false;
  if (holder.pid !== process.pid) return !isProcessAlive(holder.pid);
  if (holder.thread === threadId) return !heldHere.has(lockPath);
  return !(await isHeldByAnotherThread(lockPath));
}

export class DiskCacheLock {
  private isHeld = true;

  private constructor(readonly lockPath: string) {}

  /** Takes `<path>.lock` or throws StorageLockedError naming the live holder. */
  static async acquire(path: string): Promise<DiskCacheLock> {
    const lockPath = path + '.lock';
    answerQuestions();
    const temp = `${lockPath}.${process.pid}-${threadId}.tmp`;
    await writeFile(temp, `pid ${process.pid} thread ${threadId} on ${hostname()}\n`);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(temp, lockPath);
          heldHere.add(lockPath);
          return new DiskCacheLock(lockPath);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const holder = await readHolder(lockPath);
        if (holder === 'missing') continue;
        if (holder === null) throw new StorageLockedError(path, `an unknown holder (${lockPath} is unreadable)`, ADVICE);
        if (!(await isStale(lockPath, holder))) throw new StorageLockedError(path, describe(holder), ADVICE);
        await moveAsideIfStill(lockPath, holder);
      }
      throw new StorageLockedError(path, 'others racing for it', ADVICE);
    } finally {
      await unlink(temp).catch(() => {});
    }
  }

  /** Synchronous so that close() paths and exit hooks can call it. */
  release(): void {
    if (!this.isHeld) return;
    this.isHeld = false;
    heldHere.delete(this.lockPath);
    try {
      // Only our own lock: after a long stall another thread may rightly have taken it over.
      if (readFileSync(this.lockPath, 'utf8').startsWith(`pid ${process.pid} thread ${threadId} `)) {
        unlinkSync(this.lockPath);
      }
    } catch {
      // Already gone (removed by hand): nothing to release.
    }
  }
}

/** Renames the stale lock away; if what got moved is someone's fresh lock, it is put back. */
async function moveAsideIfStill(lockPath: string, stale: Holder): Promise<void> {
  const aside = `${lockPath}.stale-${process.pid}-${threadId}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readHolder(aside);
  const isSameHolder =
    moved !== 'missing' && moved !== null && moved.pid === stale.pid && moved.thread === stale.thread;
  if (!isSameHolder) await link(aside, lockPath).catch(() => {});
  await unlink(aside).catch(() => {});
}
