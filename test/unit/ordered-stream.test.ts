import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../workflows/messages.js';
import { OrderedStream } from '../../workflows/ordered-stream.js';

const ev = (seq: number, type = 'membership.added'): StreamEvent => ({ seq, outboxId: seq, type, payload: {} });
const seqs = (events: StreamEvent[]) => events.map((e) => e.seq);

describe('OrderedStream', () => {
  it('hands events out strictly in seq order, whatever order they arrive in, and drops duplicates', () => {
    const stream = new OrderedStream(0);
    stream.accept(ev(2));
    expect(stream.hasNext()).toBe(false);
    stream.accept(ev(1));
    stream.accept(ev(1));
    expect(stream.peek()?.seq).toBe(1);
    stream.markApplied(1);
    expect(stream.peek()?.seq).toBe(2);
    stream.accept(ev(1));
    expect(seqs(stream.pendingEvents())).toEqual([2]);
  });

  it('following: the consecutive run after a seq that the predicate accepts, at most max long', () => {
    const stream = new OrderedStream(0, [ev(1), ev(2), ev(3), ev(4, 'user.deactivated'), ev(5), ev(7)]);
    const membership = (e: StreamEvent) => e.type.startsWith('membership.');
    expect(seqs(stream.following(1, membership, 10))).toEqual([2, 3]);
    expect(seqs(stream.following(1, membership, 1))).toEqual([2]);
    // A gap ends the run: 6 has not arrived.
    expect(seqs(stream.following(4, membership, 10))).toEqual([5]);
    expect(stream.following(7, membership, 10)).toEqual([]);
  });

  it('advanceTo drops everything up to the new position (a batch applied through it)', () => {
    const stream = new OrderedStream(1, [ev(2), ev(3), ev(4), ev(6)]);
    stream.advanceTo(4);
    expect(stream.appliedSeq).toBe(4);
    expect(seqs(stream.pendingEvents())).toEqual([6]);
    expect(stream.hasNext()).toBe(false);
    stream.advanceTo(2);
    expect(stream.appliedSeq).toBe(4);
  });
});
