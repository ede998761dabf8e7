import type { StreamEvent } from './messages.js';

/**
 * Applies a stream's events strictly in seq order, whatever order signals arrive in (several relay
 * replicas, redeliveries): duplicates are dropped, gaps wait for the missing event.
 */
export class OrderedStream {
  private readonly pending = new Map<number, StreamEvent>();

  constructor(
    public appliedSeq: number,
    carried: readonly StreamEvent[] = [],
  ) {
    for (const e of carried) this.accept(e);
  }

  accept(event: StreamEvent): void {
    if (event.seq > this.appliedSeq) this.pending.set(event.seq, event);
  }

  /** Called when the stream's position is learned from the database (first run). */
  advanceTo(seq: number): void {
    this.appliedSeq = Math.max(this.appliedSeq, seq);
    for (const s of [...this.pending.keys()]) if (s <= this.appliedSeq) this.pending.delete(s);
  }

  hasNext(): boolean {
    return this.pending.has(this.appliedSeq + 1);
  }

  peek(): StreamEvent | undefined {
    return this.pending.get(this.appliedSeq + 1);
  }

  /** The pending events right after `seq`, in order, while each is there and `accept`s (at most `max`). */
  following(seq: number, accept: (event: StreamEvent) => boolean, max: number): StreamEvent[] {
    const run: StreamEvent[] = [];
    for (let next = this.pending.get(seq + 1); next && run.length < max && accept(next); next = this.pending.get(next.seq + 1)) run.push(next);
    return run;
  }

  markApplied(seq: number): void {
    this.pending.delete(seq);
    this.appliedSeq = Math.max(this.appliedSeq, seq);
  }

  pendingEvents(): StreamEvent[] {
    return [...this.pending.values()].sort((a, b) => a.seq - b.seq);
  }
}
