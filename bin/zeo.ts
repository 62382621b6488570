#!/usr/bin/env node
// The `zeo` command: one entry point for every part of a site.
//   zeo start            the whole site on this machine (storage server, app-server pool, router)
//   zeo storage-server   the storage server alone
//   zeo appserver        one app server alone (HTTP), for app servers on other machines
//   zeo proxy            the router alone
//   zeo bench [what]     load tests and benchmarks
// Each subcommand lives with its layer; this file only dispatches.

const [command = 'help', ...args] = process.argv.slice(2);

const usage = `usage: zeo <command> [options]

commands:
  start            launch the whole site (storage server, app-server workers, router)
  storage-server   run the storage server alone
  appserver        run one app server alone (HTTP)
  proxy            run the router alone
  scale N          change the number of workers of a running site
  reload           replace every worker of a running site, one by one
  bench [what]     load tests: site (default), storage, objects, invalidation
  help             this text
`;

async function main(): Promise<number> {
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return 0;
    default:
      process.stderr.write(`zeo: unknown command ${JSON.stringify(command)} (not built yet?)\n\n${usage}`);
      void args;
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`zeo ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
