/**
 * Stream slots: a full 'replace' limit closes its own oldest stream, a
 * full 'refuse' limit turns the new one away, limits nest (a session under
 * its user under everyone), and asking (a HEAD) changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamSlots, type SlotLimit } from '../../protocol/http/stream-slots.js';

const ALL: SlotLimit = { name: 'all', max: 5, whenFull: 'refuse' };
const user = (name: string): SlotLimit => ({ name: `user:${name}`, max: 3, whenFull: 'refuse' });
const session = (token: string): SlotLimit => ({ name: `session:${token}`, max: 2, whenFull: 'replace' });

function opener(slots: StreamSlots, closed: string[]) {
  return (label: string, limits: SlotLimit[]) => {
    const result = slots.admit(limits, () => closed.push(label));
    return 'full' in result ? result.full : result.release;
  };
}

test("a full 'replace' limit closes its oldest stream, and only that one", () => {
  const slots = new StreamSlots();
  const closed: string[] = [];
  const open = opener(slots, closed);
  const kiosk: SlotLimit = { name: 'kiosk', max: 2, whenFull: 'replace' };
  const other: SlotLimit = { name: 'anonymous', max: 8, whenFull: 'refuse' };
  open('someone', [other]);
  open('k1', [kiosk]);
  open('k2', [kiosk]);
  assert.deepEqual(closed, []);
  assert.equal(typeof open('k3', [kiosk]), 'function');
  assert.deepEqual(closed, ['k1']);
  assert.equal(typeof open('k4', [kiosk]), 'function');
  assert.deepEqual(closed, ['k1', 'k2']);
  assert.equal(slots.size, 3);
});

test("a full 'refuse' limit turns the new stream away and closes nothing; a release makes room", () => {
  const slots = new StreamSlots();
  const closed: string[] = [];
  const open = opener(slots, closed);
  const pool: SlotLimit = { name: 'anonymous', max: 2, whenFull: 'refuse' };
  const first = open('a1', [pool]);
  open('a2', [pool]);
  assert.equal(open('a3', [pool]), 'anonymous');
  assert.deepEqual(closed, []);
  assert.equal(slots.size, 2);
  (first as () => void)();
  assert.equal(typeof open('a4', [pool]), 'function');
});

test('nested limits: a session replaces its own, its user is refused past the cap, other users get in until the total is reached', () => {
  const slots = new StreamSlots();
  const closed: string[] = [];
  const open = opener(slots, closed);
  const alice1 = [ALL, user('alice'), session('a1')];
  const alice2 = [ALL, user('alice'), session('a2')];
  open('a1-1', alice1);
  open('a1-2', alice1);
  open('a1-3', alice1);
  assert.deepEqual(closed, ['a1-1'], 'a session over its cap replaces its oldest');
  open('a2-1', alice2);
  assert.equal(open('a2-2', alice2), 'user:alice', 'a second session lets a user past the user cap');
  // A session at its own cap still gets in when its user is full: it gives up its own oldest.
  assert.equal(typeof open('a1-4', alice1), 'function');
  assert.deepEqual(closed, ['a1-1', 'a1-2']);
  open('b-1', [ALL, user('bob'), session('b')]);
  open('b-2', [ALL, user('bob'), session('b')]);
  assert.equal(slots.size, 5);
  assert.equal(open('c-1', [ALL, user('carol'), session('c')]), 'all');
  assert.equal(closed.length, 2, 'a refusal closed a stream');
});

test('plan (a HEAD) says what admit would do and changes nothing', () => {
  const slots = new StreamSlots();
  const closed: string[] = [];
  const open = opener(slots, closed);
  const limits = [ALL, user('alice'), session('a')];
  open('1', limits);
  open('2', limits);
  assert.deepEqual(slots.plan(limits), { admit: true, replaces: 1 });
  assert.deepEqual(slots.plan([{ name: 'pool', max: 0, whenFull: 'replace' }]), { admit: false, full: 'pool' });
  for (let i = 0; i < 20; i++) slots.plan(limits);
  assert.deepEqual(closed, []);
  assert.equal(slots.size, 2);
  slots.closeAll();
  assert.deepEqual(closed, ['1', '2']);
  assert.equal(slots.size, 0);
});
