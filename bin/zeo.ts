#!/usr/bin/env node
// The `zeo` command: one entry point for every part of a site. This file only parses the command
// line, loads the config once (config/load.ts) and dispatches; each subcommand lives with its
// layer and is imported lazily, so a part that is missing or broken fails its own command with
// one sentence and leaves the others working.
//
// Exit codes: 0 done (or shut down cleanly on SIGTERM/SIGINT); 1 a runtime failure (a site not
// reachable, a part failing to start); 2 bad usage or config (one line naming the option or key).

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ZeoError } from '../errors.js';
import { configureProcessLog, processLogger } from '../log.js';
import type { ZeoConfig } from '../config/schema.js';
import { parseCliArgs, type CliArgs } from './cli-args.js';
import { COMMAND_NAMES, commandHelp, USAGE } from './help.js';

type Runner = (args: CliArgs) => Promise<number>;

const COMMANDS: Record<string, Runner> = {
  async start(args) {
    const { config, file } = await loadFor(args);
    const { runStartMain } = await importPart('../proxy/launch.js', 'runStartMain', 'the site launcher');
    return (await runStartMain(config, { configFile: file, reloadConfig: async () => (await loadFor(args)).config })) ?? 0;
  },
  async 'storage-server'(args) {
    const { config } = await loadFor(args);
    // A first run on a fresh machine: the data folder does not exist yet.
    if (config.storage.kind === 'file') mkdirSync(dirname(resolve(config.storage.path)), { recursive: true });
    const { runStorageServerMain } = await importPart('../storage/server/main.js', 'runStorageServerMain', 'the storage server');
    const server = (await runStorageServerMain(config)) as { address?: { host: string; port: number } } | number | undefined;
    // Under `zeo start` (an IPC channel to the launcher): say where we listen, now that we do.
    if (process.send && typeof server === 'object' && server?.address) {
      process.send({ type: 'zeo:storage-server-listening', address: server.address });
      // The launcher is gone (even killed with SIGKILL): shut down as on SIGTERM, leave nothing behind.
      process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
    }
    return keepRunning(server);
  },
  async appserver(args) {
    const { config } = await loadFor(args);
    const { runAppServerMain } = await importPart('../appserver/standalone.js', 'runAppServerMain', 'the stand-alone app server');
    return keepRunning(await runAppServerMain(config));
  },
  async proxy(args) {
    const { config } = await loadFor(args);
    const { runProxyMain } = await importPart('../proxy/site.js', 'runProxyMain', 'the router');
    return (await runProxyMain(config, { reloadConfig: async () => (await loadFor(args)).config })) ?? 0;
  },
  async scale(args) {
    const { scaleSite, formatStatus } = await import('./admin-client.js');
    const { config } = await loadFor(args);
    const answer = await scaleSite(config, args.positionals[0]);
    process.stdout.write(args.isJson ? JSON.stringify(answer) + '\n' : formatStatus(answer));
    return 0;
  },
  async reload(args) {
    const { reloadSite, formatStatus } = await import('./admin-client.js');
    const answer = await reloadSite((await loadFor(args)).config);
    process.stdout.write(args.isJson ? JSON.stringify(answer) + '\n' : formatStatus(answer));
    return 0;
  },
  async status(args) {
    const { siteStatus, formatStatus } = await import('./admin-client.js');
    const answer = await siteStatus((await loadFor(args)).config);
    process.stdout.write(args.isJson ? JSON.stringify(answer, null, 2) + '\n' : formatStatus(answer));
    return 0;
  },
  async bench(args) {
    const { runBenchCli } = await importPart('../bench/cli.js', 'runBenchCli', 'the benchmarks');
    return (await runBenchCli(args.rest)) ?? 0;
  },
  async config(args) {
    const what = args.positionals[0] ?? 'print';
    if (what === 'schema') {
      const { configJsonSchema } = await import('../config/json-schema.js');
      process.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
    } else if (what === 'env') {
      const { envVariables } = await import('../config/env.js');
      for (const { name, path } of envVariables()) process.stdout.write(`${name.padEnd(44)} ${path}\n`);
    } else if (what === 'print') {
      const { config, file } = await loadFor(args);
      if (!args.isJson) process.stderr.write(`# config from ${file ?? 'defaults (no config file)'} and the environment\n`);
      process.stdout.write(JSON.stringify(config, null, 2) + '\n');
    } else {
      return usageError(`zeo config: unknown ${JSON.stringify(what)}; use print, schema or env`);
    }
    return 0;
  },
  async help(args) {
    const about = args.positionals[0];
    if (about === undefined) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (about === 'bench') return COMMANDS.bench!({ ...args, rest: ['--help'] });
    const help = commandHelp(about);
    if (help === null) return usageError(`zeo help: no command ${JSON.stringify(about)}; use one of ${COMMAND_NAMES.join(', ')}`);
    process.stdout.write(help);
    return 0;
  },
};

/**
 * A part's main resolves with an exit code when it is done, or with its running server, in
 * which case the part's own SIGTERM/SIGINT handlers end the process and we just wait.
 */
function keepRunning(result: unknown): Promise<number> {
  return typeof result === 'number' ? Promise.resolve(result) : new Promise<number>(() => {});
}

async function loadFor(args: CliArgs): Promise<{ config: ZeoConfig; file: string | null }> {
  const { loadConfigWithSource } = await import('../config/load.js');
  const loaded = loadConfigWithSource({ file: args.configFile, overrides: args.overrides });
  configureProcessLog(loaded.config.log);
  return loaded;
}

/** A subsystem's entry point, or a clear "not available" error naming the part. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function importPart(specifier: string, exportName: string, what: string): Promise<Record<string, any>> {
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(specifier.slice(3))) {
      throw new PartMissing(`${what} is not available in this build (${specifier.slice(3)} is missing)`);
    }
    throw error;
  }
  if (typeof loaded[exportName] !== 'function') {
    throw new PartMissing(`${what} (${specifier.slice(3)}) has no ${exportName}() to run`);
  }
  return loaded;
}

class PartMissing extends Error {}

function usageError(message: string): number {
  process.stderr.write(`${message}\n`);
  return 2;
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseCliArgs(argv);
  if (args.isHelp && args.command !== 'bench' && args.command !== 'help') {
    if (!Object.hasOwn(COMMANDS, args.command)) return usageError(`zeo: unknown command ${JSON.stringify(args.command)}; \`zeo help\` lists the commands`);
    return COMMANDS.help!({ ...args, positionals: [args.command] });
  }
  const run = Object.hasOwn(COMMANDS, args.command) ? COMMANDS[args.command] : undefined;
  if (!run) {
    const aliases: Record<string, string> = { '--help': 'help', '-h': 'help' };
    if (aliases[args.command]) return COMMANDS.help!(args);
    return usageError(`zeo: unknown command ${JSON.stringify(args.command)}; \`zeo help\` lists the commands`);
  }
  return run(args);
}

// `zeo config env | head` closes our stdout early; that is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const command = process.argv[2] ?? 'help';
const GRACE_MS = 5_000;
/** The long-running commands: their failures are log entries, like the rest of what they say. */
const SERVER_COMMANDS = new Set(['start', 'storage-server', 'appserver', 'proxy']);
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A clean stop has closed every server; should a handle still hold the event loop open,
    // exit anyway rather than leave a half-stopped process behind.
    setTimeout(() => {
      processLogger('zeo').warn(`zeo ${command}: handles still open ${GRACE_MS} ms after stopping; exiting`);
      process.exit(code);
    }, GRACE_MS).unref();
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const isUsage = error instanceof ZeoError && (error.code === 'ZEO_CONFIG_INVALID' || error.code === 'ZEO_INVALID_ARGUMENT');
    // Bad usage is one plain line for the person who typed it; a server that fails says so in its log.
    if (SERVER_COMMANDS.has(command) && !isUsage) {
      processLogger('zeo').error(`zeo ${command}: ${message}`, { command, ...(error instanceof ZeoError ? { code: error.code } : {}) });
    } else {
      process.stderr.write(`zeo ${command}: ${message}\n`);
    }
    if (!isUsage && !(error instanceof ZeoError) && !(error instanceof PartMissing) && process.env.ZEO_DEBUG) {
      process.stderr.write(String((error as Error).stack) + '\n');
    }
    process.exitCode = isUsage ? 2 : 1;
  },
);
