import type { PackResult, Tid } from './contract.js';
import type { FileStorage } from './file-storage.js';
export async function packFile(_s: FileStorage, _t: Tid, _signal: AbortSignal): Promise<PackResult> {
  throw new Error('todo');
}
