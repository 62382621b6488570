// The `zeo` help texts: the general usage, and one help per command (`zeo <command> --help`,
// `zeo help <command>`) naming its options and the config keys it reads, each with its
// environment variable. The key lines are drawn from the config's own field descriptors
// (config/fields.ts), so a key named here exists and its description is the one validation uses.
// `zeo bench` has its own help (bench/cli.ts): it parses its own flags.

import { envName } from '../config/env.js';
import { CONFIG_FIELDS, type Field } from '../config/fields.js';

export const USAGE = `usage: zeo <command> [options]

commands:
  start              launch the whole site: storage server (child process), workers, router
  storage-server     run the storage server alone
  appserver          run one app server alone (HTTP), for app servers on other machines
  proxy              run the router alone (and its local workers)
  scale N            change the number of workers of a running site
  reload             replace every worker of a running site, one by one
  status             show a running site's workers and their health (--json for JSON)
  bench [what] ...   load tests: site (default), storage, objects, network, invalidation
  config [print|schema|env]
                     print the effective config, its JSON Schema, or the ZEO_* variables
  help [command]     this text, or a command's own help (also: zeo <command> --help)

options:
  -c, --config FILE  config file (default: $ZEO_CONFIG, else ./zeo.config.json if present)
  -w, --workers N    number of app-server workers (N or "auto")
  -p, --port N       port of the command's listener (router, storage server, app server)
      --json         machine-readable output (status, config)

Environment: ZEO_<SECTION>_<KEY> overrides any config key (ZEO_WORKERS_COUNT=4,
ZEO_ROUTER_LISTEN_PORT=9000); REDIS_URL sets redis.url. \`zeo config env\` lists them all.
`;

const CONFIG_OPTION = '  -c, --config FILE    config file (default: $ZEO_CONFIG, else ./zeo.config.json if present)';
const WORKERS_OPTION = '  -w, --workers N      workers.count: worker threads (N or "auto" = one per core)';
const JSON_OPTION = '      --json           print the answer as JSON';
const HELP_OPTION = '  -h, --help           this text';

/** The descriptor of a key path ("storageServer.tls.cert"), or undefined. */
export function configField(path: string): Field | undefined {
  let field: Field | undefined = CONFIG_FIELDS;
  for (const key of path.split('.')) {
    const inner: Field | undefined = field?.type === 'nullable' ? field.of : field;
    field = inner?.type === 'object' ? inner.fields[key] : undefined;
  }
  return field;
}

/** "  storageServer.key   ZEO_STORAGE_SERVER_KEY   Shared secret ..." for each key path. */
function keyLines(paths: readonly string[]): string[] {
  const rows = paths.map((path) => {
    const field = configField(path);
    if (!field) throw new Error(`help names config key ${path}, which does not exist`);
    const values = field.type === 'enum' ? ` One of: ${field.values.join(', ')}.` : '';
    return [path, envName(path.split('.')), field.doc + values] as const;
  });
  const pathWidth = Math.max(...rows.map(([path]) => path.length));
  const envWidth = Math.max(...rows.map(([, env]) => env.length));
  return rows.map(([path, env, doc]) => `  ${path.padEnd(pathWidth)}  ${env.padEnd(envWidth)}  ${doc}`);
}

interface CommandHelp {
  usage: string;
  about: string;
  options: string[];
  /** Titled groups of config keys the command reads. */
  keys: Array<[title: string, paths: string[]]>;
}

const STORAGE_KEYS = ['storage.name', 'storage.kind', 'storage.path', 'storage.postgresUrl', 'storage.postgresSchema', 'storage.compressAboveBytes'];
const GATE_KEYS = [
  'storageServer.listen.host', 'storageServer.listen.port', 'storageServer.key', 'storageServer.allow',
  'storageServer.readOnlyAllow', 'storageServer.readOnlyKeys', 'storageServer.tls', 'storageServer.tls.cert', 'storageServer.tls.key',
];
const SERVER_KEYS = ['storageServer.commitLockTimeoutMs', 'storageServer.invalidationQueue.maxCount', 'storageServer.invalidationQueue.maxAgeMs', 'storageServer.maxFrameBytes'];
const REDIS_KEYS = ['redis.url', 'redis.prefix'];
const CLIENT_KEYS = ['client.servers', 'client.readOnlyFallback', 'client.key', 'client.isReadOnly', 'client.tls', 'client.cacheBytes', 'client.diskCacheDir', 'client.diskCacheBytes', 'client.unavailableTimeoutMs'];
const APP_KEYS = ['app.module', 'workers.conflictRetries', 'workers.syncTimeoutMs', 'workers.objectCacheSize', 'workers.connectionPoolSize'];
const ROUTER_KEYS = [
  'router.listen.host', 'router.listen.port', 'router.balancing', 'router.retries', 'router.requestTimeoutMs', 'router.bodyLimitBytes', 'router.remotes',
  'router.health.pingIntervalMs', 'router.health.pingTimeoutMs', 'router.health.rise', 'router.health.fall', 'router.health.maxErrorRate', 'router.health.hangTimeoutMs',
];
const POOL_KEYS = ['workers.count', 'workers.memoryLimitMb'];
const ADMIN_KEYS = ['admin.host', 'admin.port'];
const LOG_KEYS = ['log.format', 'log.level'];

const adminCommand = (usage: string, about: string): CommandHelp => ({
  usage,
  about,
  options: [CONFIG_OPTION, '  -p, --port N         admin.port of the running site', JSON_OPTION, HELP_OPTION],
  keys: [['the running site\'s admin endpoint', ADMIN_KEYS]],
});

const COMMANDS: Record<string, CommandHelp> = {
  start: {
    usage: 'zeo start [-c FILE] [-w N] [-p PORT]',
    about: `Launches the whole site on this machine: the storage server as a child process (restarted if
it dies), N app-server worker threads running config.app.module (default: the demo shop), the
router in front of them and the admin endpoint. SIGHUP re-reads the config and resizes the pool;
SIGTERM or SIGINT stop the router and workers, then the storage server, and exit 0.`,
    options: [CONFIG_OPTION, WORKERS_OPTION, '  -p, --port N         router.listen.port', HELP_OPTION],
    keys: [
      ['the storage', STORAGE_KEYS], ['the storage server and its gate', [...GATE_KEYS, ...SERVER_KEYS]], ['invalidations', REDIS_KEYS],
      ['the workers', [...POOL_KEYS, ...APP_KEYS, 'client.cacheBytes', 'client.diskCacheDir', 'client.diskCacheBytes']],
      ['the router', ROUTER_KEYS], ['admin', ADMIN_KEYS], ['logs', LOG_KEYS],
    ],
  },
  'storage-server': {
    usage: 'zeo storage-server [-c FILE] [-p PORT]',
    about: `Runs the storage server alone: serves config.storage to app servers on this machine and on
others, over TCP or TLS, behind its gate (an address allow list, a shared key proven by
challenge-response, read-only keys and addresses), and publishes every commit's invalidations on
Redis when redis.url is set (else pushes them on each client connection). SIGTERM or SIGINT let
the commits in progress finish, close the storage and exit 0.`,
    options: [CONFIG_OPTION, '  -p, --port N         storageServer.listen.port', HELP_OPTION],
    keys: [['the storage', STORAGE_KEYS], ['the gate', GATE_KEYS], ['the server', SERVER_KEYS], ['invalidations', REDIS_KEYS], ['logs', LOG_KEYS]],
  },
  appserver: {
    usage: 'zeo appserver [-c FILE] [-p PORT]',
    about: `Runs one app server alone: config.app.module behind an HTTP server, one transaction per
request, over a ClientStorage of the storage servers in client.servers. For app servers on other
machines, behind the router's router.remotes or any load balancer: GET /_zeo/health answers 200
while it should get traffic, 503 otherwise. SIGTERM or SIGINT finish what is in flight and exit 0.`,
    options: [CONFIG_OPTION, '  -p, --port N         appserver.listen.port', HELP_OPTION],
    keys: [['the app server', ['appserver.listen.host', 'appserver.listen.port', ...APP_KEYS]], ['its storage', ['storage.name', ...CLIENT_KEYS]], ['invalidations', REDIS_KEYS], ['logs', LOG_KEYS]],
  },
  proxy: {
    usage: 'zeo proxy [-c FILE] [-w N] [-p PORT]',
    about: `Runs the router alone, with its local worker threads (workers.count) and the remote
app servers of router.remotes, over a storage server that runs elsewhere (client.servers).
Balances per request, skips unhealthy workers, retries idempotent requests. SIGHUP re-reads the
config; SIGTERM or SIGINT finish what is in flight and exit 0.`,
    options: [CONFIG_OPTION, WORKERS_OPTION, '  -p, --port N         router.listen.port', HELP_OPTION],
    keys: [['the router', ROUTER_KEYS], ['the workers', [...POOL_KEYS, ...APP_KEYS]], ['their storage', ['storage.name', ...CLIENT_KEYS]], ['invalidations', REDIS_KEYS], ['admin', ADMIN_KEYS], ['logs', LOG_KEYS]],
  },
  scale: adminCommand('zeo scale N [-c FILE] [-p PORT] [--json]',
    'Grows or shrinks the worker pool of a running site (zeo start or zeo proxy) to N, with no failed\nrequest. The new count holds until the next SIGHUP or scale.'),
  reload: adminCommand('zeo reload [-c FILE] [-p PORT] [--json]',
    'Replaces every worker of a running site, one by one, with no failed request (new code, new\nsettings for the workers).'),
  status: adminCommand('zeo status [-c FILE] [-p PORT] [--json]',
    'Shows a running site\'s workers and remote app servers: state, health, in flight, served, errors,\nrestarts, heap.'),
  config: {
    usage: 'zeo config [print|schema|env] [-c FILE] [--json]',
    about: `print (the default): the config a command would run with, merged from the defaults, the file,
the environment and the flags. schema: its JSON Schema, for editors. env: every ZEO_* variable
and the key it sets.`,
    options: [CONFIG_OPTION, WORKERS_OPTION, '  -p, --port N         router.listen.port', '      --json           print only the JSON (no "# config from" line)', HELP_OPTION],
    keys: [],
  },
  help: {
    usage: 'zeo help [command]',
    about: 'The list of commands, or the help of one of them (the same as zeo <command> --help).',
    options: [],
    keys: [],
  },
};

export const COMMAND_NAMES = [...Object.keys(COMMANDS), 'bench'];

/** The help of `command`, or null for a command with none here (bench, or an unknown one). */
export function commandHelp(command: string): string | null {
  const help = Object.hasOwn(COMMANDS, command) ? COMMANDS[command]! : null;
  if (!help) return null;
  const lines = [`usage: ${help.usage}`, '', help.about];
  if (help.options.length) lines.push('', 'options:', ...help.options);
  if (help.keys.length) {
    lines.push('', 'config keys, each also set by the environment variable beside it (`zeo config env`):');
    for (const [title, paths] of help.keys) lines.push('', `${title}:`, ...keyLines(paths));
  }
  return lines.join('\n') + '\n';
}
