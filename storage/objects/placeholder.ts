// Placeholder: what a record loads as when its class is not registered with the DB. It keeps the
// record's bytes intact and says which class is missing: reading or writing its state throws
// MissingClassError, and an object referencing it saves the reference unchanged (the
// placeholder itself is never stored, so its record is never dropped or overwritten).

import type { Oid } from '../contract.js';
import { META, Persistent } from './persistent.js';

const RAW_DATA = Symbol('zeo.placeholderData');

export class Placeholder extends Persistent {
  static persistentName = 'zeo.Placeholder';
  declare [RAW_DATA]: Uint8Array | undefined;

  /** The class name the record was saved with, which this DB does not know. */
  get missingClassName(): string {
    return this[META].missingClass ?? '';
  }

  get oid(): Oid | undefined {
    return this[META].oid;
  }

  /** The record exactly as stored (undefined until loaded). */
  get rawData(): Uint8Array | undefined {
    return (this[META].target as Placeholder)[RAW_DATA];
  }
}

export function setPlaceholderData(placeholder: Placeholder, data: Uint8Array): void {
  Object.defineProperty(placeholder[META].target, RAW_DATA, { value: data, enumerable: false, configurable: true });
}
