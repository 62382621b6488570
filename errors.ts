// Every error zeo-ts throws on purpose. Each has a stable `code` to branch on (never branch on
// message text) and carries the facts a caller needs. This file imports nothing, so every layer
// (storage, appserver, proxy, config) may use it without breaking the layering.

export type ErrorCode =
  | 'ZEO_CONFLICT'
  | 'ZEO_READ_ONLY'
  | 'ZEO_NOT_FOUND'
  | 'ZEO_CLOSED'
  | 'ZEO_TRANSACTION_STATE'
  | 'ZEO_INVALID_ARGUMENT'
  | 'ZEO_CORRUPT'
  | 'ZEO_LOCKED'
  | 'ZEO_UNAVAILABLE'
  | 'ZEO_ACCESS_DENIED'
  | 'ZEO_PROTOCOL'
  | 'ZEO_TIMEOUT'
  | 'ZEO_NOT_LOADED'
  | 'ZEO_MISSING_CLASS'
  | 'ZEO_CONFIG_INVALID'
  | 'ZEO_BACKEND_FAILED';

export class ZeoError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

const hex = (n: bigint) => '0x' + n.toString(16).padStart(16, '0');

/** One object whose write (or must-be-current read) lost against a commit made meanwhile. */
export interface ConflictDetail {
  oid: bigint;
  /** The revision the transaction read (0n for an object it believed new). */
  baseTid: bigint;
  /** The revision committed in the storage now. */
  currentTid: bigint;
  /** True when the object was only read (checkCurrent), not written. */
  isReadConflict: boolean;
}

/** Optimistic concurrency lost: retry the transaction (db.transaction does this for you). */
export class ConflictError extends ZeoError {
  readonly oid: bigint;
  readonly baseTid: bigint;
  readonly currentTid: bigint;
  readonly isReadConflict: boolean;
  readonly conflicts: readonly ConflictDetail[];
  constructor(conflicts: readonly ConflictDetail[]) {
    const first = conflicts[0];
    if (!first) throw new TypeError('ConflictError needs at least one conflict');
    const what = first.isReadConflict ? 'read of' : 'write of';
    super(
      'ZEO_CONFLICT',
      `conflict: ${what} object ${hex(first.oid)} based on revision ${hex(first.baseTid)}, ` +
        `but revision ${hex(first.currentTid)} was committed meanwhile` +
        (conflicts.length > 1 ? ` (and ${conflicts.length - 1} more objects)` : '') +
        '; retry the transaction',
    );
    this.oid = first.oid;
    this.baseTid = first.baseTid;
    this.currentTid = first.currentTid;
    this.isReadConflict = first.isReadConflict;
    this.conflicts = conflicts;
  }
}

export class ReadOnlyError extends ZeoError {
  constructor(what = 'this storage') {
    super('ZEO_READ_ONLY', `${what} is read-only: writes are refused`);
  }
}

/** The OID has no record (never created, or removed by pack). ZODB calls this POSKeyError. */
export class NotFoundError extends ZeoError {
  readonly oid: bigint;
  constructor(oid: bigint, detail = '') {
    super('ZEO_NOT_FOUND', `object ${hex(oid)} not found${detail ? ': ' + detail : ''}`);
    this.oid = oid;
  }
}

export class StorageClosedError extends ZeoError {
  constructor(name: string) {
    super('ZEO_CLOSED', `storage ${JSON.stringify(name)} is closed`);
  }
}

/** A call made in the wrong phase (store outside a transaction, finish before vote, ...). */
export class TransactionStateError extends ZeoError {
  constructor(message: string) {
    super('ZEO_TRANSACTION_STATE', message);
  }
}

export class InvalidArgumentError extends ZeoError {
  readonly argument: string;
  constructor(argument: string, message: string) {
    super('ZEO_INVALID_ARGUMENT', `invalid ${argument}: ${message}`);
    this.argument = argument;
  }
}

/** A damaged or foreign file: names the file, the byte offset and what was expected there. */
export class CorruptFileError extends ZeoError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, expected: string) {
    super('ZEO_CORRUPT', `${file}: damaged at byte offset ${offset}: ${expected}`);
    this.file = file;
    this.offset = offset;
  }
}

export class StorageLockedError extends ZeoError {
  readonly file: string;
  /** `advice` says what to do instead (a cache file has no read-only mode, for one). */
  constructor(file: string, holder: string, advice = 'stop that process or open this file read-only') {
    super('ZEO_LOCKED', `${file} is already open for writing by ${holder}; ${advice}`);
    this.file = file;
  }
}

export class UnavailableError extends ZeoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ZEO_UNAVAILABLE', message, options);
  }
}

export class AccessDeniedError extends ZeoError {
  constructor(reason: string) {
    super('ZEO_ACCESS_DENIED', `access denied: ${reason}`);
  }
}

export class ProtocolError extends ZeoError {
  constructor(message: string) {
    super('ZEO_PROTOCOL', `protocol error: ${message}`);
  }
}

export class TimeoutError extends ZeoError {
  constructor(message: string) {
    super('ZEO_TIMEOUT', message);
  }
}

/** State of a persistent object was read before it was loaded. */
export class NotLoadedError extends ZeoError {
  readonly oid: bigint | undefined;
  constructor(description: string, oid?: bigint) {
    super(
      'ZEO_NOT_LOADED',
      `${description} is not loaded: \`await tx.load(obj)\` (or get it through ` +
        'map.get / tree.get / iteration, which load what they return) before reading its state',
    );
    this.oid = oid;
  }
}

/** A record's class is not registered with the DB; the record is kept intact, read-only. */
export class MissingClassError extends ZeoError {
  readonly className: string;
  constructor(className: string, oid: bigint) {
    super(
      'ZEO_MISSING_CLASS',
      `object ${hex(oid)} is of class ${JSON.stringify(className)}, which is not registered ` +
        'with the DB (pass it in `classes`, or add an alias); it loads as a read-only placeholder',
    );
    this.className = className;
  }
}

/** A configuration value is wrong: names the key, the value and what is allowed. */
export class ConfigError extends ZeoError {
  readonly key: string;
  readonly value: unknown;
  constructor(key: string, value: unknown, allowed: string) {
    let shown: string;
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = String(value);
    }
    super('ZEO_CONFIG_INVALID', `config ${key}: ${shown} is not allowed; expected ${allowed}`);
    this.key = key;
    this.value = value;
  }
}

/** The config file cannot be read or is not a JSON object; same code as ConfigError. */
export class ConfigFileError extends ZeoError {
  readonly file: string;
  constructor(file: string, reason: string) {
    super('ZEO_CONFIG_INVALID', `config file ${file}: ${reason}`);
    this.file = file;
  }
}

/**
 * The router could not get an answer from one app server (worker thread or remote): it exited,
 * hung, refused the connection. `mayHaveRun` is false only when the request provably never
 * reached it, so even a non-idempotent request may then be sent elsewhere.
 */
export class BackendFailedError extends ZeoError {
  readonly backend: string;
  readonly mayHaveRun: boolean;
  constructor(backend: string, reason: string, mayHaveRun: boolean, options?: { cause?: unknown }) {
    super('ZEO_BACKEND_FAILED', `app server ${backend} failed: ${reason}`, options);
    this.backend = backend;
    this.mayHaveRun = mayHaveRun;
  }
}
