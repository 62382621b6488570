// Turning a transaction's changes into the store requests of one commit (persistence by
// reachability): every changed object is encoded, and every new persistent object its state
// references gets an OID and is encoded too, and so on, until nothing new is found. OIDs come
// from a pool filled by storage.newOids in growing batches, so a commit that creates thousands
// of objects asks the storage a handful of times. Encoding is synchronous (msgpackr), so when
// the pool runs dry mid-object, encoding stops, the pool is refilled, and that object is
// encoded again from the start.
//
// A storage never hands out an OID twice, but a pool that outlived a fault (a storage restored
// from a backup, a server that lost its OID reservation) may hold OIDs that are in use now. Such
// an OID shows up as an object this connection already knows, or as a conflict on a new object
// at commit: either way the whole pool is suspect and is dropped, so the retry gets fresh OIDs.

import { InvalidArgumentError } from '../../errors.js';
import type { Oid, Storage, StoreRequest } from '../contract.js';
import { META, type Jar, type Persistent } from './persistent.js';
import { ObjectRef, encodeRecord, stateOf, type ClassRegistry } from './serializer.js';

const NEED_OIDS = Symbol('need more OIDs');

export class OidPool {
  private oids: Oid[] = [];
  private batch = 32;

  constructor(private readonly storage: Storage) {}

  /** The next OID, or undefined when the pool is empty (or was just found stale and dropped). */
  take(isInUse: (oid: Oid) => boolean): Oid | undefined {
    const oid = this.oids.pop();
    if (oid === undefined || !isInUse(oid)) return oid;
    this.discard();
    return undefined;
  }

  /** Drops every OID held (they may be in use by now); the next refill asks the storage. */
  discard(): void {
    this.oids.length = 0;
  }

  async refill(): Promise<void> {
    const oids = await this.storage.newOids(this.batch);
    this.batch = Math.min(this.batch * 2, 4096);
    this.oids.push(...oids.reverse());
  }
}

export interface RecordWriterHost {
  jar: Jar;
  registry: ClassRegistry;
  oids: OidPool;
  /** Whether an object with this OID is known to the connection (then the OID is not new). */
  isInUse(oid: Oid): boolean;
  /** A new object got its OID: keep it in the identity map. */
  remember(oid: Oid, object: Persistent): void;
}

export interface EncodedChanges {
  stores: StoreRequest[];
  /** Every object stored, by OID (changed ones first, then the new ones found). */
  objects: Map<Oid, Persistent>;
}

/**
 * Encodes `changed` and the new objects reachable from them. New objects get their OID, jar and
 * isNew flag here and are appended to `newObjects` as they are found, so that the caller can
 * make them new again if the commit fails.
 */
export async function encodeChanges(
  changed: readonly Persistent[],
  host: RecordWriterHost,
  newObjects: Persistent[],
): Promise<EncodedChanges> {
  const queue = [...changed];
  const stores: StoreRequest[] = [];
  const objects = new Map<Oid, Persistent>();
  for (let i = 0; i < queue.length; ) {
    const object = queue[i]!;
    const refs: Oid[] = [];
    let data: Uint8Array;
    try {
      data = encodeObject(object, refs, host, (found) => {
        queue.push(found);
        newObjects.push(found);
      });
    } catch (error) {
      if (error !== NEED_OIDS) throw error;
      await host.oids.refill();
      continue; // encode this object again, from the start
    }
    const meta = object[META];
    stores.push({ oid: meta.oid!, baseTid: meta.isNew ? 0n : meta.serial, data, refs });
    objects.set(meta.oid!, object);
    i++;
  }
  return { stores, objects };
}

function encodeObject(
  object: Persistent,
  refs: Oid[],
  host: RecordWriterHost,
  onNewObject: (object: Persistent) => void,
): Uint8Array {
  return encodeRecord(host.registry.nameOf(object), stateOf(object), {
    refFor: (referenced) => {
      if (referenced instanceof ObjectRef) return [referenced.oid, referenced.className];
      const meta = referenced[META];
      if (meta.jar === undefined) {
        // The storage's counter only moves on, so refilling past OIDs in use ends.
        const oid = host.oids.take((candidate) => host.isInUse(candidate));
        if (oid === undefined) throw NEED_OIDS;
        meta.oid = oid;
        meta.jar = host.jar;
        meta.isNew = true;
        meta.isChanged = true;
        host.remember(oid, referenced);
        onNewObject(referenced);
      } else if (meta.jar !== host.jar) {
        throw new InvalidArgumentError(
          'reference',
          'an object from another transaction (connection) was stored here; load it in this transaction instead',
        );
      }
      refs.push(meta.oid!);
      return [meta.oid!, host.registry.nameOf(referenced)];
    },
  });
}
