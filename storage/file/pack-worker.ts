// The piscina worker of FileStorage pack: runs phase 1 (pack-copy.ts) off the main thread,
// where reading and rewriting a large file would otherwise stall reads and commits.

import { copyLiveTransactions } from './pack-copy.js';

export default copyLiveTransactions;
