// Command-line parsing for `zeo`: the command word, positionals, and the common flags, which
// become a config file path plus config overrides (flags win over file and environment). Any
// flag a command does not know is refused with InvalidArgumentError, so a typo never silently
// does nothing. Subcommands that take their own flags (bench) get the raw rest instead.

import { InvalidArgumentError } from '../errors.js';
import type { ZeoConfigInput } from '../config/load.js';

export interface CliArgs {
  command: string;
  positionals: string[];
  /** --config <file>; undefined = the default lookup (ZEO_CONFIG, ./zeo.config.json). */
  configFile: string | undefined;
  overrides: ZeoConfigInput;
  isJson: boolean;
  isHelp: boolean;
  /** Everything after the command, untouched (for commands that parse their own flags). */
  rest: string[];
}

/** Which config key --port sets, by command: the listener that command opens. */
const PORT_KEY: Record<string, 'router' | 'storageServer' | 'appserver' | 'admin'> = {
  start: 'router',
  proxy: 'router',
  config: 'router',
  'storage-server': 'storageServer',
  appserver: 'appserver',
  scale: 'admin',
  reload: 'admin',
  status: 'admin',
};

export function parseCliArgs(argv: readonly string[]): CliArgs {
  const [command = 'help', ...rest] = argv;
  const args: CliArgs = { command, positionals: [], configFile: undefined, overrides: {}, isJson: false, isHelp: false, rest };
  if (command === 'bench') return args; // bench parses its own flags from `rest`
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      args.positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      args.positionals.push(...rest.slice(i + 1));
      break;
    }
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      const next = rest[i + 1];
      if (next === undefined || next.startsWith('--')) throw new InvalidArgumentError(flag, 'needs a value');
      i++;
      return next;
    };
    switch (flag) {
      case '--config':
      case '-c':
        args.configFile = takeValue();
        break;
      case '--workers':
      case '-w':
        args.overrides.workers = { count: numberOrText(takeValue()) as number | 'auto' };
        break;
      case '--port':
      case '-p': {
        const port = numberOrText(takeValue()) as number;
        const key = PORT_KEY[command];
        if (!key) throw new InvalidArgumentError(flag, `\`zeo ${command}\` opens no listener`);
        if (key === 'admin') args.overrides.admin = { port };
        else args.overrides[key] = { listen: { port } };
        break;
      }
      case '--json':
        args.isJson = true;
        break;
      case '--help':
      case '-h':
        args.isHelp = true;
        break;
      default:
        throw new InvalidArgumentError(flag, 'unknown option; `zeo help` lists the options');
    }
  }
  return args;
}

/** Numbers become numbers; anything else stays text so config validation names the key. */
function numberOrText(text: string): number | string {
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
}
