// The one logger of every zeo part: the storage server and the storages it serves, the Redis
// fan-out, the client and its caches, the app servers, the router, the pool and `zeo` itself.
// Built on pino: one JSON object a line ({level, time, pid, hostname, component, msg, ...fields})
// when stderr is not a terminal, one pretty line (pino-pretty) when it is; `log.format` in the
// config (ZEO_LOG_FORMAT) chooses otherwise. Every bigint in the fields (TIDs, OIDs) is written in
// hex, 0x and 16 digits, as errors and headers show them: `hex()` does the same for messages.
// This file sits beside errors.ts, under every layer, and imports none of them.

import { createRequire } from 'node:module';
import type { DestinationStream, Logger as PinoLogger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import { InvalidArgumentError } from './errors.js';

export type LogFields = Record<string, unknown>;
export type LogLevel = 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'pretty';

/** What every part logs through: a message that says what happened, and the facts as fields. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * What a `log` option accepts: a Logger, or a function given each entry as one line of text
 * (`console.error` fits; tests collect lines this way).
 */
export type LogTarget = Logger | ((line: string) => void);

export interface LogSettings {
  /** 'auto': pretty when stderr is a terminal, JSON lines otherwise. */
  format: 'auto' | LogFormat;
  /** Entries below this level are dropped. */
  level: LogLevel;
}

export const DEFAULT_LOG_SETTINGS: LogSettings = { format: 'auto', level: 'info' };

/** A TID or OID as logs show it: 0x and 16 hex digits. */
export function hex(n: bigint): string {
  return '0x' + n.toString(16).padStart(16, '0');
}

/** A field value as it is written: bigints in hex, errors as {type, code, message, stack}. */
export function logValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'bigint') return hex(value);
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { type: value.name, ...(code === undefined ? {} : { code }), message: value.message, stack: value.stack };
  }
  if (Array.isArray(value)) return value.map((item) => logValue(item, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const plain: LogFields = {};
  for (const [key, item] of Object.entries(value)) plain[key] = logValue(item, depth + 1);
  return plain;
}

/** The format `settings` asks for, on this stream. */
export function chooseLogFormat(format: LogSettings['format'], isTerminal: boolean): LogFormat {
  return format === 'auto' ? (isTerminal ? 'pretty' : 'json') : format;
}

export interface CreateLoggerOptions extends Partial<LogSettings> {
  /** Which part writes ("storage-server", "router", ...): the `component` field of every entry. */
  component?: string;
  /** Where lines go (default stderr, written synchronously so no line is lost at exit). */
  stream?: { write(text: string): unknown; isTTY?: boolean };
}

const PRETTY_OPTIONS: PrettyOptions = {
  singleLine: true,
  translateTime: 'SYS:HH:MM:ss.l',
  ignore: 'pid,hostname,component',
  messageFormat: '{if component}{component}: {end}{msg}',
};

// pino and pino-pretty are loaded when a logger is first made, not with this module: every part
// imports log.ts, and a worker thread, whose lines go to the router over its port, never needs them.
const load = createRequire(import.meta.url);

/** pino-pretty's line formatter, loaded only when a terminal asks for it. */
function prettifier(isColored: boolean): (line: string) => string {
  const { prettyFactory } = load('pino-pretty') as typeof import('pino-pretty');
  return prettyFactory({ ...PRETTY_OPTIONS, colorize: isColored });
}

function pinoLogger(options: CreateLoggerOptions): PinoLogger {
  const { pino } = load('pino') as typeof import('pino');
  const settings = { ...DEFAULT_LOG_SETTINGS, ...options };
  const isTerminal = options.stream ? options.stream.isTTY === true : Boolean(process.stderr.isTTY);
  const format = chooseLogFormat(settings.format, isTerminal);
  const sink = options.stream ?? pino.destination({ dest: 2, sync: true });
  let destination: DestinationStream = { write: (line: string) => void sink.write(line) };
  if (format === 'pretty') {
    const prettify = prettifier(isTerminal);
    destination = { write: (line: string) => void sink.write(prettify(line)) };
  }
  const logger = pino(
    {
      level: settings.level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => logValue(fields) as LogFields,
      },
    },
    destination,
  );
  return options.component ? logger.child({ component: options.component }) : logger;
}

function wrap(logger: PinoLogger | (() => PinoLogger)): Logger {
  const get = typeof logger === 'function' ? logger : () => logger;
  const write = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (fields) get()[level](fields, message);
    else get()[level](message);
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

/** A logger of its own (tests, embedding): JSON or pretty lines on `stream` (default stderr). */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  return wrap(pinoLogger(options));
}

let processSettings: LogSettings = DEFAULT_LOG_SETTINGS;
let processRoot: PinoLogger | null = null;
const processChildren = new Map<string, PinoLogger>();

/**
 * Sets the format and level of this process's logger (`zeo` calls it with the config's `log`
 * section); loggers handed out before follow the change.
 */
export function configureProcessLog(settings: Partial<LogSettings>): void {
  processSettings = { ...DEFAULT_LOG_SETTINGS, ...settings };
  processRoot = null;
  processChildren.clear();
}

/** This process's logger for one part: every part of a process writes to one stderr stream. */
export function processLogger(component: string): Logger {
  return wrap(() => {
    let child = processChildren.get(component);
    if (!child) {
      processRoot ??= pinoLogger(processSettings);
      child = processRoot.child({ component });
      processChildren.set(component, child);
    }
    return child;
  });
}

/** Drops everything; for tests that assert on behaviour, not on log lines. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/**
 * The library-level default of a storage used on its own (no server, no site): each warning and
 * error becomes a process warning (`process.on('warning')`), with `fields.code` as its code.
 */
export const processWarnings: Logger = {
  info() {},
  warn: (message, fields) => emitAsWarning(message, fields),
  error: (message, fields) => emitAsWarning(message, fields),
};

function emitAsWarning(message: string, fields?: LogFields): void {
  const code = typeof fields?.code === 'string' ? fields.code : undefined;
  process.emitWarning(message, { type: 'ZeoWarning', ...(code ? { code } : {}) });
}

/**
 * The Logger a part writes to, from its `log` option (checked here, at the edge): the Logger
 * given; a function, given each entry's message; or, with nothing given, `fallback` (by default
 * the process logger for `component`).
 */
export function toLogger(target: LogTarget | undefined, component: string, fallback: () => Logger = () => processLogger(component)): Logger {
  if (target === undefined) return fallback();
  if (typeof target === 'function') {
    const line = (message: string) => target(message);
    return { info: line, warn: line, error: line };
  }
  if (typeof target !== 'object' || target === null || !['info', 'warn', 'error'].every((level) => typeof (target as never)[level] === 'function')) {
    throw new InvalidArgumentError('log', 'expected a Logger ({info, warn, error}) or a function taking a line');
  }
  return target;
}
