// Helpers for tests that run zeo as real processes: free ports, process liveness, polling, and
// an environment without the developer's own ZEO_* settings.
import { createServer } from 'node:net';

/** A port free right now (listen on 0, read it, close): for configs that need a fixed port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` until it gives a value other than undefined, null or false; returns it. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The environment without any ZEO_* / REDIS_URL the developer may have set, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZEO_') && k !== 'REDIS_URL'));
  return { ...inherited, ...extra };
}

/** One entry of a zeo process's log (log.ts): a JSON object a line when stderr is not a terminal. */
export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  time: string;
  pid: number;
  component?: string;
  msg: string;
  [field: string]: unknown;
}

/** The log entries in `output`, and every line that is not one (there should be none). */
export function parseLog(output: string): { entries: LogEntry[]; otherLines: string[] } {
  const entries: LogEntry[] = [];
  const otherLines: string[] = [];
  for (const line of output.split('\n')) {
    if (line === '') continue;
    try {
      const entry = JSON.parse(line) as LogEntry;
      if (typeof entry === 'object' && entry !== null && typeof entry.msg === 'string') entries.push(entry);
      else otherLines.push(line);
    } catch {
      otherLines.push(line);
    }
  }
  return { entries, otherLines };
}

/** The first log entry whose message matches `pattern`, with the match. */
export function findLog(output: string, pattern: RegExp): { entry: LogEntry; match: RegExpExecArray } | undefined {
  for (const entry of parseLog(output).entries) {
    const match = pattern.exec(entry.msg);
    if (match) return { entry, match };
  }
  return undefined;
}
