// Two-phase commit over the wire for ClientStorage. store/checkCurrent only buffer here; vote
// opens the server transaction and sends everything in one request (tpcBegin, then tpcVote),
// finish sends tpcFinish. The whole transaction stays on the connection it voted on: if that
// connection is lost the server aborts it, and finish fails with UnavailableError.

import { TransactionStateError, UnavailableError } from '../../errors.js';
import type { CommitResult, Oid, ReadCurrentRequest, StorageTransaction, StoreRequest, Tid, TransactionMeta } from '../contract.js';
import { checkStore } from '../local-support.js';
import { checkU64 } from '../tid.js';
import type { WireCommitResult } from '../server/messages.js';
import type { Connection } from './connection.js';

export interface ClientTransactionHost {
  connected(): Promise<Connection>;
  lastTid(): Tid;
  /** Applies the reply's invalidations, caches the stores, returns the CommitResult. */
  committed(reply: WireCommitResult, stores: readonly StoreRequest[]): CommitResult;
  /** A voted transaction holds the server's commit lock until `settled`; close waits for it. */
  track(settled: Promise<unknown>): void;
}

type Phase = 'open' | 'voting' | 'voted' | 'finished' | 'aborted';

export class ClientTransaction implements StorageTransaction {
  private phase: Phase = 'open';
  private readonly stores = new Map<Oid, StoreRequest>();
  private readonly readCurrent: ReadCurrentRequest[] = [];
  private connection: Connection | null = null;
  private txnId: number | null = null;
  private settle: () => void = () => undefined;

  constructor(
    private readonly host: ClientTransactionHost,
    private readonly meta: TransactionMeta,
  ) {}

  private expect(phase: Phase, action: string): void {
    if (this.phase !== phase) throw new TransactionStateError(`cannot ${action}: the transaction is ${this.phase}`);
  }

  store(oid: Oid, baseTid: Tid, data: Uint8Array, refs: readonly Oid[]): void {
    this.expect('open', 'store');
    checkStore(oid, baseTid, data, refs);
    this.stores.set(oid, { oid, baseTid, data, refs: [...refs] });
  }

  checkCurrent(oid: Oid, tid: Tid): void {
    this.expect('open', 'checkCurrent');
    checkU64(oid, 'oid');
    checkU64(tid, 'tid');
    this.readCurrent.push({ oid, tid });
  }

  async vote(): Promise<void> {
    this.expect('open', 'vote');
    this.phase = 'voting';
    try {
      const connection = await this.host.connected();
      this.connection = connection;
      this.txnId = await connection.request<number>('tpcBegin', [this.meta]);
      await connection.request('tpcVote', [this.txnId, [...this.stores.values()], this.readCurrent]);
      if (this.phase !== 'voting') throw new TransactionStateError('the transaction was aborted while it voted');
      this.phase = 'voted';
      this.host.track(new Promise<void>((resolve) => (this.settle = resolve)));
    } catch (error) {
      this.phase = 'aborted';
      this.sendAbort();
      throw error;
    }
  }

  async finish(): Promise<CommitResult> {
    this.expect('voted', 'finish');
    const connection = this.connection!;
    if (!connection.isOpen) {
      this.phase = 'aborted';
      this.settle();
      throw new UnavailableError(`lost the connection to ${connection.label} after vote; the server aborted the transaction, retry it`);
    }
    try {
      const reply = await connection.request<WireCommitResult>('tpcFinish', [this.txnId, this.host.lastTid()]);
      this.phase = 'finished';
      return this.host.committed(reply, [...this.stores.values()]);
    } catch (error) {
      this.phase = 'aborted';
      throw error;
    } finally {
      this.settle();
    }
  }

  async abort(): Promise<void> {
    if (this.phase === 'finished' || this.phase === 'aborted') return;
    this.phase = 'aborted';
    this.sendAbort();
    this.settle();
  }

  private sendAbort(): void {
    if (this.txnId === null || !this.connection?.isOpen) return;
    this.connection.request('tpcAbort', [this.txnId]).catch(() => undefined);
  }
}
