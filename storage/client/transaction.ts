// Two-phase commit over the wire for ClientStorage. store/checkCurrent only buffer here; vote
// opens the server transaction and sends everything in one request (tpcBegin, then tpcVote),
// finish sends tpcFinish. The whole transaction stays on the connection it voted on: if that
// connection is lost the server aborts it, and finish fails with UnavailableError.

import { UnavailableError } from '../../errors.js';
import type { CommitResult, StoreRequest, Tid, TransactionMeta } from '../contract.js';
import { BufferedTransaction } from '../buffered-transaction.js';
import type { WireCommitResult } from '../protocol/messages.js';
import type { Connection } from './connection.js';

export interface ClientTransactionHost {
  connected(): Promise<Connection>;
  lastTid(): Tid;
  /** Applies the reply's invalidations, caches the stores, returns the CommitResult. */
  committed(reply: WireCommitResult, stores: readonly StoreRequest[]): CommitResult;
  /** After a failed vote: a ConflictError brings the client current before it reaches the caller. */
  catchUpAfter(error: unknown): Promise<void>;
  /** A voted transaction holds the server's commit lock until `settled`; close waits for it. */
  track(settled: Promise<unknown>): void;
}

export class ClientTransaction extends BufferedTransaction {
  private connection: Connection | null = null;
  private txnId: number | null = null;
  private settle: () => void = () => undefined;

  constructor(
    private readonly host: ClientTransactionHost,
    private readonly meta: TransactionMeta,
  ) {
    super();
  }

  async vote(): Promise<void> {
    try {
      await this.voteWith(
        async () => {
          const connection = await this.host.connected();
          this.connection = connection;
          this.txnId = await connection.request<number>('tpcBegin', [this.meta]);
          await connection.request('tpcVote', [this.txnId, this.storeList(), this.readCurrent]);
        },
        () => this.sendAbort(),
      );
    } catch (error) {
      await this.host.catchUpAfter(error);
      throw error;
    }
    this.host.track(new Promise<void>((resolve) => (this.settle = resolve)));
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
      return this.host.committed(reply, this.storeList());
    } catch (error) {
      this.phase = 'aborted';
      if (error instanceof UnavailableError) {
        // The server may have finished before the connection went: nobody can say.
        throw new UnavailableError(`${error.message} during tpcFinish: the outcome is unknown (check before retrying)`, { cause: error });
      }
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
