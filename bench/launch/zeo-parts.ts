// The parts of zeo-ts the bench starts, imported lazily and checked, so that a bench run that
// needs a part which is missing or changed fails with one clear sentence instead of a stack trace
// (and so the baselines that need no zeo part still run). The bench uses them as a user would.

import type { ZeoConfig } from '../../config/schema.js';

export interface Closable {
  close(): Promise<void>;
}

export interface SiteHandle extends Closable {
  url: string;
  adminUrl: string;
}

export interface ZeoParts {
  config: { loadConfig(path: string | null): Promise<ZeoConfig> };
  storageServer: { startStorageServer(config: ZeoConfig): Promise<Closable> };
  appServer: { startAppServer(config: ZeoConfig): Promise<Closable> };
  site: { startSite(config: ZeoConfig, options: { log: (line: string) => void }): Promise<SiteHandle> };
}

interface PartSource {
  module: string;
  exportName: string;
  what: string;
}

const sources: { [K in keyof ZeoParts]: PartSource } = {
  config: { module: '../../config/load.js', exportName: 'loadConfig', what: 'config loading (config/load.ts)' },
  storageServer: {
    module: '../../storage/server/server.js',
    exportName: 'startStorageServer',
    what: 'the storage server (storage/server/server.ts)',
  },
  appServer: {
    module: '../../appserver/http-server.js',
    exportName: 'startAppServer',
    what: 'the stand-alone app server (appserver/http-server.ts)',
  },
  site: { module: '../../proxy/site.js', exportName: 'startSite', what: 'the router and pool (proxy/site.ts)' },
};

export class MissingPartError extends Error {
  constructor(part: string, detail: string) {
    super(`zeo bench needs ${part}, which is not available: ${detail}. Build it (npx tsc -p .) ` +
      'or run only the baselines that do not need it (--targets postgres)');
    this.name = 'MissingPartError';
  }
}

export async function loadZeoPart<K extends keyof ZeoParts>(name: K): Promise<ZeoParts[K]> {
  const source = sources[name];
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(source.module)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const detail = code === 'ERR_MODULE_NOT_FOUND'
      ? `${source.module} does not exist in dist/`
      : `importing it failed: ${error instanceof Error ? error.message : String(error)}`;
    throw new MissingPartError(source.what, detail);
  }
  if (typeof loaded[source.exportName] !== 'function') {
    throw new MissingPartError(source.what, `it does not export a function ${source.exportName}()`);
  }
  return loaded as unknown as ZeoParts[K];
}
