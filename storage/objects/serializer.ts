// Records of the object layer and the classes they name.
//
// Record format (the `data` bytes a storage keeps, opaque to it): the msgpack encoding (msgpackr,
// useRecords: false, moreTypes: true) of the two-element array
//
//     [className, state]
//
// where state is what the object's GET_STATE returns (own enumerable properties for plain
// Persistent subclasses). A reference to another persistent object anywhere inside the state is
// the msgpack extension REF_EXTENSION (0x30) holding [oid, className], so an object loads
// lazily: a reference decodes to a ghost of that class. The OIDs referenced are the record's
// `refs` (for pack). Plain values inside state: objects, arrays, strings, numbers, bigints,
// booleans, null/undefined, Date, Set, Uint8Array. A Map or an instance of a non-persistent class
// is saved as a plain object: use PersistentMap or a Persistent subclass instead.
//
// msgpackr extensions are process-wide, so the ref extension looks up the encode/decode context
// of the (synchronous) pack/unpack call in progress from a module variable.

import { InvalidArgumentError } from '../../errors.js';
import { Packr, addExtension } from 'msgpackr';
import type { Oid } from '../contract.js';
import { GET_STATE, META, Persistent, persistentNameOf, type PersistentClass } from './persistent.js';

export const REF_EXTENSION = 0x30;

/** A reference as seen by conflict resolution: states are merged without loading objects. */
export class ObjectRef {
  constructor(
    readonly oid: Oid,
    readonly className: string,
  ) {}
}

export interface EncodeContext {
  /** The [oid, className] to write for a reference (may give a new object its OID). */
  refFor(object: Persistent | ObjectRef): [Oid, string];
}

export interface DecodeContext {
  resolve(oid: Oid, className: string): unknown;
}

let encodeContext: EncodeContext | null = null;
let decodeContext: DecodeContext | null = null;

function readRef(data: unknown): unknown {
  if (!Array.isArray(data) || typeof data[0] !== 'bigint' || typeof data[1] !== 'string') {
    throw new InvalidArgumentError('record', 'malformed persistent reference');
  }
  if (decodeContext === null) return new ObjectRef(data[0], data[1]);
  return decodeContext.resolve(data[0], data[1]);
}

function writeRef(object: Persistent | ObjectRef): [Oid, string] {
  if (encodeContext === null) {
    throw new InvalidArgumentError('value', 'a persistent object can only be encoded by its DB');
  }
  return encodeContext.refFor(object);
}

addExtension({ Class: Persistent, type: REF_EXTENSION, write: writeRef, read: readRef });
addExtension({ Class: ObjectRef, type: REF_EXTENSION, write: writeRef, read: readRef });

const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

export function encodeRecord(className: string, state: unknown, context: EncodeContext): Uint8Array {
  const previous = encodeContext;
  encodeContext = context;
  try {
    return packr.pack([className, state]);
  } finally {
    encodeContext = previous;
  }
}

/** Decodes a record; with no context, references decode to ObjectRef (for conflict resolution). */
export function decodeRecord(data: Uint8Array, context: DecodeContext | null): [string, unknown] {
  const previous = decodeContext;
  decodeContext = context;
  try {
    const record = packr.unpack(data) as unknown;
    if (!Array.isArray(record) || record.length !== 2 || typeof record[0] !== 'string') {
      throw new InvalidArgumentError('record', 'not an object-layer record ([className, state])');
    }
    return [record[0], record[1]];
  } finally {
    decodeContext = previous;
  }
}

/** Only the class name of a record, without decoding references into objects. */
export function recordClassName(data: Uint8Array): string {
  return decodeRecord(data, { resolve: () => null })[0];
}

/** Encoding for states that hold ObjectRefs only (conflict resolution); collects refs. */
export function encodeResolvedState(className: string, state: unknown): { data: Uint8Array; refs: Oid[] } {
  const refs: Oid[] = [];
  const data = encodeRecord(className, state, {
    refFor(object) {
      if (!(object instanceof ObjectRef)) {
        throw new InvalidArgumentError('resolved state', 'resolveConflict must return references as it got them');
      }
      refs.push(object.oid);
      return [object.oid, object.className];
    },
  });
  return { data, refs };
}

/** True when two plain values (possibly holding ObjectRefs) encode to the same bytes. */
export function isSameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const context: EncodeContext = {
    refFor(object) {
      if (object instanceof ObjectRef) return [object.oid, object.className];
      return [object[META].oid ?? -1n, ''];
    },
  };
  const left = encodeRecord('', a, context);
  const right = encodeRecord('', b, context);
  return Buffer.from(left.buffer, left.byteOffset, left.byteLength).equals(right);
}

/** The state of a persistent object, as GET_STATE gives it (without the proxy in the way). */
export function stateOf(object: Persistent): unknown {
  const target = object[META].target;
  return target[GET_STATE].call(target);
}

/** The registered classes of one DB, by record class name (aliases included). */
export class ClassRegistry {
  private readonly byName = new Map<string, PersistentClass>();
  private readonly names = new Map<PersistentClass, string>();

  constructor(classes: readonly PersistentClass[], aliases: Record<string, PersistentClass> = {}) {
    for (const cls of classes) this.register(cls);
    for (const [alias, cls] of Object.entries(aliases)) {
      this.check(cls);
      if (!this.names.has(cls)) this.register(cls);
      const existing = this.byName.get(alias);
      if (existing && existing !== cls) {
        throw new InvalidArgumentError('aliases', `${JSON.stringify(alias)} already names class ${existing.name}`);
      }
      this.byName.set(alias, cls);
    }
  }

  private check(cls: PersistentClass): void {
    if (typeof cls !== 'function' || !(cls.prototype instanceof Persistent)) {
      throw new InvalidArgumentError('classes', `${String((cls as { name?: string })?.name ?? cls)} does not extend Persistent`);
    }
  }

  private register(cls: PersistentClass): void {
    this.check(cls);
    const name = persistentNameOf(cls);
    const existing = this.byName.get(name);
    if (existing && existing !== cls) {
      throw new InvalidArgumentError(
        'classes',
        `two classes are named ${JSON.stringify(name)}; give one a static persistentName`,
      );
    }
    this.byName.set(name, cls);
    this.names.set(cls, name);
  }

  classFor(name: string): PersistentClass | undefined {
    return this.byName.get(name);
  }

  /** The record class name of an object; throws if its class is not registered. */
  nameOf(object: Persistent): string {
    const meta = object[META];
    if (meta.missingClass !== undefined) return meta.missingClass;
    const cls = object.constructor as PersistentClass;
    const name = this.names.get(cls);
    if (name === undefined) {
      throw new InvalidArgumentError(
        'object',
        `class ${cls.name} is not registered with the DB: pass it in DB.open(storage, { classes: [${cls.name}] })`,
      );
    }
    return name;
  }
}
