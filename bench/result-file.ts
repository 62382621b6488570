// Where a benchmark's JSON goes: bench/results/<name>.json in the source tree (gitignored), or
// the file a caller names, or nowhere (null). One place, so every benchmark writes the same way.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/results/ beside the sources (this file runs from dist/bench/). */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');

/** Writes `result` as JSON; `outFile` undefined = bench/results/<name>.json, null = nowhere. */
export async function writeBenchJson(
  name: string,
  result: unknown,
  outFile: string | null | undefined,
  log: (line: string) => void,
): Promise<void> {
  const file = outFile === undefined ? join(RESULTS_DIR, `${name}.json`) : outFile;
  if (file === null) return;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(result, (_key, value) => (typeof value === 'bigint' ? value.toString() : value), 2) + '\n');
  log(`wrote ${file}`);
}
