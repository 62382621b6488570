// Persistent: the base class of every object the DB saves. A Persistent is a Proxy around its
// own plain state (the object's own enumerable properties), so that
//  - assigning, defining or deleting a property marks the object changed and registers it with
//    its connection (the "jar"), which saves it at commit;
//  - reading state of a ghost (an object whose state is not loaded yet) throws NotLoadedError
//    naming the object, instead of giving a silent undefined.
// The constructor returns the proxy, so subclass field initializers (`balance = 0`) define their
// properties through it. Ghosts are made without running any constructor (as ZODB does with
// __new__): a loaded object gets its state from the record, never from field initializers.
//
// The bookkeeping lives in a non-enumerable symbol property (META) on the proxied target, so it
// is never part of the saved state and never collides with user property names.

import { MissingClassError, NotLoadedError } from '../../errors.js';
import type { Oid, Tid } from '../contract.js';
import { toHex } from '../tid.js';

export const META: unique symbol = Symbol('zeo.persistent');
/** Containers override these to choose their saved state shape. */
export const GET_STATE: unique symbol = Symbol('zeo.getState');
export const SET_STATE: unique symbol = Symbol('zeo.setState');

/** What a Persistent needs from the connection that owns it (storage/objects/connection.ts). */
export interface Jar {
  /** Loads the state of a ghost at the transaction's snapshot. */
  activate(object: Persistent): Promise<void>;
  /** Called on the first change of an object in a transaction; throws if writes are refused. */
  registerChanged(object: Persistent): void;
  /** A loaded object was used: counts a cache hit and keeps it among the recently used. */
  touch(object: Persistent): void;
  /** An async write in progress (a BTree insert loading its path): commit waits for it. */
  track<T>(operation: Promise<T>): Promise<T>;
  /** Counts the jar's transactions, so a late async write can tell its transaction is over. */
  readonly transactionNumber: number;
}

export interface PersistentMeta {
  oid: Oid | undefined;
  jar: Jar | undefined;
  /** TID of the revision the state was loaded from (the baseTid of the next store); 0n if new. */
  serial: Tid;
  isGhost: boolean;
  isChanged: boolean;
  /** Got its OID in the commit now running (undone if that commit fails). */
  isNew: boolean;
  /** Set on placeholders: the class name of the record, which is not registered. */
  missingClass: string | undefined;
  /** The object without the proxy, where state is read and written without tracking. */
  readonly target: Persistent;
  /** The proxy: what user code and the connection hold. */
  self: Persistent;
}

// Properties read on a ghost that must not throw: `then` (so `await ghost` does not explode) and
// what inspection and the runtime probe for.
const ALWAYS_READABLE = new Set(['then', 'constructor', 'toJSON', 'inspect', 'nodeType', 'asymmetricMatch', '$$typeof']);

export function describe(meta: PersistentMeta): string {
  const name = meta.missingClass ?? persistentNameOf(meta.target.constructor as PersistentClass);
  return meta.oid === undefined ? `new ${name} object` : `${name} object 0x${toHex(meta.oid)}`;
}

function metaOf(target: object): PersistentMeta {
  return (target as Persistent)[META];
}

/** Throws unless the state of this object may be changed now; registers the first change. */
function beforeWrite(meta: PersistentMeta): void {
  if (meta.missingClass !== undefined) throw new MissingClassError(meta.missingClass, meta.oid ?? 0n);
  if (meta.isGhost) throw new NotLoadedError(describe(meta), meta.oid);
  if (!meta.isChanged && meta.jar !== undefined) {
    meta.jar.registerChanged(meta.self);
    meta.isChanged = true;
  }
}

function findSetter(start: object | null, prop: string): boolean {
  for (let proto = start; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, prop);
    if (descriptor) return descriptor.set !== undefined;
  }
  return false;
}

const handler: ProxyHandler<Persistent> = {
  get(target, prop, receiver) {
    if (typeof prop === 'string') {
      const meta = metaOf(target);
      if ((meta.isGhost || meta.missingClass !== undefined) && !(prop in target) && !ALWAYS_READABLE.has(prop)) {
        if (meta.missingClass !== undefined) throw new MissingClassError(meta.missingClass, meta.oid ?? 0n);
        throw new NotLoadedError(describe(meta), meta.oid);
      }
    }
    return Reflect.get(target, prop, receiver);
  },
  set(target, prop, value, receiver) {
    if (typeof prop === 'symbol') return Reflect.set(target, prop, value);
    // A setter on the class runs against the proxy, so its own assignments are tracked.
    if (!Object.prototype.hasOwnProperty.call(target, prop) && findSetter(Object.getPrototypeOf(target), prop)) {
      return Reflect.set(target, prop, value, receiver);
    }
    beforeWrite(metaOf(target));
    return Reflect.set(target, prop, value);
  },
  defineProperty(target, prop, descriptor) {
    if (typeof prop === 'string' && descriptor.enumerable !== false) beforeWrite(metaOf(target));
    return Reflect.defineProperty(target, prop, descriptor);
  },
  deleteProperty(target, prop) {
    if (typeof prop === 'string') beforeWrite(metaOf(target));
    return Reflect.deleteProperty(target, prop);
  },
  ownKeys(target) {
    const meta = metaOf(target);
    if (meta.isGhost) throw new NotLoadedError(describe(meta), meta.oid);
    return Reflect.ownKeys(target);
  },
};

function attach(target: Persistent): Persistent {
  const meta: PersistentMeta = {
    oid: undefined,
    jar: undefined,
    serial: 0n,
    isGhost: false,
    isChanged: false,
    isNew: false,
    missingClass: undefined,
    target,
    self: target,
  };
  Object.defineProperty(target, META, { value: meta, enumerable: false, writable: false });
  const proxy = new Proxy(target, handler);
  meta.self = proxy;
  return proxy;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PersistentClass<T extends Persistent = Persistent> = (abstract new (...args: any[]) => T) & {
  persistentName?: string;
  resolveConflict?: (oldState: unknown, committedState: unknown, newState: unknown) => unknown;
};

/** The class name saved in records: a static `persistentName` if the class defines one. */
export function persistentNameOf(cls: PersistentClass): string {
  return Object.prototype.hasOwnProperty.call(cls, 'persistentName') && cls.persistentName
    ? cls.persistentName
    : cls.name;
}

export class Persistent {
  declare readonly [META]: PersistentMeta;

  constructor() {
    // Returning the proxy makes `this` in subclass constructors and initializers the proxy.
    return attach(this) as this;
  }

  /** Saves this object at commit although no property was assigned: call it after changing a
   *  nested plain object or array in place. */
  markChanged(): void {
    beforeWrite(this[META]);
  }

  /** The saved state: own enumerable properties (nested plain values are saved inline). */
  [GET_STATE](): unknown {
    const target = this[META].target as unknown as Record<string, unknown>;
    const state: Record<string, unknown> = {};
    for (const key of Object.keys(target)) state[key] = target[key];
    return state;
  }

  /** Replaces the state from a record, without marking the object changed. */
  [SET_STATE](state: unknown): void {
    const target = this[META].target as unknown as Record<string, unknown>;
    for (const key of Object.keys(target)) delete target[key];
    if (state !== null && typeof state === 'object') Object.assign(target, state);
  }

  /** The object's OID, or undefined while it has not been saved. */
  static oidOf(object: Persistent): Oid | undefined {
    return object[META].oid;
  }

  /** True when the object's state is not loaded (await tx.load(object) first). */
  static isGhost(object: Persistent): boolean {
    return object[META].isGhost;
  }

  /** True when the object has unsaved changes in the current transaction. */
  static isChanged(object: Persistent): boolean {
    return object[META].isChanged;
  }
}

export function isPersistent(value: unknown): value is Persistent {
  return value instanceof Persistent;
}

/** A ghost of `cls` for `oid`, owned by `jar`: no constructor runs; state comes at activation. */
export function makeGhost(cls: PersistentClass, oid: Oid, jar: Jar): Persistent {
  const proxy = attach(Object.create(cls.prototype) as Persistent);
  const meta = proxy[META];
  meta.oid = oid;
  meta.jar = jar;
  meta.isGhost = true;
  return proxy;
}

/** Drops the state of an unchanged object so that the next access loads it again. */
export function ghostify(object: Persistent): void {
  const meta = object[META];
  if (meta.isGhost) return;
  const target = meta.target as unknown as Record<string, unknown>;
  for (const key of Object.keys(target)) delete target[key];
  meta.isGhost = true;
  meta.isChanged = false;
}

/** Loads `state` into a ghost (or replaces the state of a loaded object). */
export function setLoadedState(object: Persistent, state: unknown, serial: Tid): void {
  const meta = object[META];
  meta.target[SET_STATE].call(meta.target, state);
  meta.serial = serial;
  meta.isGhost = false;
  meta.isChanged = false;
}

/** For containers: their state without the proxy in the way (no tracking, no ghost check). */
export function rawTarget<T extends Persistent>(object: T): T {
  return object[META].target as T;
}

/** Loads `object` if it is a ghost (through its jar); a no-op for loaded or new objects. */
export async function ensureLoaded(object: Persistent): Promise<void> {
  const meta = object[META];
  if (!meta.isGhost) {
    meta.jar?.touch(meta.self);
    return;
  }
  if (meta.jar === undefined) throw new NotLoadedError(describe(meta), meta.oid);
  await meta.jar.activate(meta.self);
}
