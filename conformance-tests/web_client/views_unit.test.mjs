// Unit tests of the Tasks view's pure parts (client/views/task_tree.js, dates.js), node's runner:
//   node --experimental-detect-module --test conformance-tests/web_client/views_unit.test.mjs
// (the flag lets Node 20 load the client's ES modules, which have no package.json beside them).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { buildTree, comparator, isDone } from '../../client/views/task_tree.js';
import { whenInstant } from '../../client/views/dates.js';

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: true });
const task = (uid, extra = {}) => ({ uid, kind: 'task', summary: uid, ...extra });
const shape = ({ roots, children }) => {
  const walk = (t) => (children.get(t.uid) ? { [t.uid]: children.get(t.uid).map(walk) } : t.uid);
  return roots.map(walk);
};

test('subtasks nest under their parent, siblings sorted', () => {
  const tasks = [task('b', { parent: 'a' }), task('a'), task('c', { parent: 'a' }), task('d')];
  const tree = buildTree(tasks, () => true, comparator('title', collator));
  assert.deepEqual(shape(tree), [{ a: ['b', 'c'] }, 'd']);
});

test('a hidden parent lifts its children to the nearest shown ancestor', () => {
  const tasks = [task('a'), task('b', { parent: 'a', status: 'completed' }), task('c', { parent: 'b' })];
  const tree = buildTree(tasks, (t) => !isDone(t), comparator('title', collator));
  assert.deepEqual(shape(tree), [{ a: ['c'] }]);
});

test('a parent that is not in the list makes a root; a RELATED-TO loop does not hide tasks', () => {
  const orphan = buildTree([task('x', { parent: 'elsewhere' })], () => true, comparator('due', collator));
  assert.deepEqual(shape(orphan), ['x']);
  const loop = buildTree([task('a', { parent: 'b' }), task('b', { parent: 'a' })], () => true, comparator('title', collator));
  assert.equal(loop.roots.length, 1);
  assert.equal([...loop.children.values()].flat().length, 1);
  const self = buildTree([task('s', { parent: 's' })], () => true, comparator('title', collator));
  assert.deepEqual(shape(self), ['s']);
});

test('sorts: due (undated last), priority (1 first, none last), title', () => {
  const tasks = [
    task('late', { due: { date: '2031-02-01' }, priority: 9 }),
    task('none', { priority: 0 }),
    task('early', { due: { date: '2031-01-01' }, priority: 5 }),
    task('urgent', { due: { date_time: '2031-01-15T09:00:00', time_zone: 'UTC' }, priority: 1 }),
  ];
  const order = (mode) => [...tasks].sort(comparator(mode, collator)).map((t) => t.uid);
  assert.deepEqual(order('due'), ['early', 'urgent', 'late', 'none']);
  assert.deepEqual(order('priority'), ['urgent', 'early', 'late', 'none']);
  assert.deepEqual(order('title'), ['early', 'late', 'none', 'urgent']);
});

test('isDone: status or a COMPLETED time', () => {
  assert.equal(isDone(task('a', { status: 'completed' })), true);
  assert.equal(isDone(task('a', { completed: '2031-01-01T00:00:00Z' })), true);
  assert.equal(isDone(task('a', { status: 'in-process' })), false);
});

test('whenInstant: UTC, a named zone across DST, and a date', () => {
  assert.equal(whenInstant({ date_time: '2031-03-14T09:30:00', time_zone: 'UTC' }), Date.UTC(2031, 2, 14, 9, 30));
  // Berlin is UTC+1 in winter and UTC+2 in summer.
  assert.equal(whenInstant({ date_time: '2031-01-10T12:00:00', time_zone: 'Europe/Berlin' }), Date.UTC(2031, 0, 10, 11));
  assert.equal(whenInstant({ date_time: '2031-07-10T12:00:00', time_zone: 'Europe/Berlin' }), Date.UTC(2031, 6, 10, 10));
  assert.equal(whenInstant({ date_time: '2031-07-10T12:00:00', time_zone: 'Asia/Seoul' }), Date.UTC(2031, 6, 10, 3));
  assert.equal(whenInstant({ date: '2031-07-10' }), new Date(2031, 6, 10).getTime());
  assert.equal(whenInstant(null), null);
});
