// The pure part of the Tasks view: which task is done, how tasks sort, and the forest of
// subtasks (RFC 5545 RELATED-TO;RELTYPE=PARENT) to show. No DOM, so node's test runner loads it.

import { whenInstant } from './dates.js';

/** The task's parent UID (RELATED-TO;RELTYPE=PARENT), as the JSON model names it. */
export function parentOf(task) {
  return task.parent || null;
}

/** The task's manual position (Apple's X-APPLE-SORT-ORDER), as the JSON model names it. */
export function orderOf(task) {
  const v = task.sort_order;
  return typeof v === 'number' ? v : null;
}

export function isDone(task) {
  return task.status === 'completed' || Boolean(task.completed);
}

/** RFC 5545 §3.8.1.9: 1 is highest, 9 lowest, 0 (or none) undefined, sorted last. */
export function priorityRank(task) {
  const p = task.priority;
  return p && p >= 1 && p <= 9 ? p : 10;
}

export function dueRank(task) {
  const at = whenInstant(task.due);
  return at === null || Number.isNaN(at) ? Infinity : at;
}

export function titleOf(task, t) {
  return (task.summary || '').trim() || t('tasks.untitled');
}

/** The comparison for a sort mode; ties fall through due → priority → title → uid. */
export function comparator(mode, collator) {
  const byTitle = (a, b) => collator.compare(a.summary || '', b.summary || '') || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0);
  const byDue = (a, b) => dueRank(a) - dueRank(b);
  const byPriority = (a, b) => priorityRank(a) - priorityRank(b);
  const byOrder = (a, b) => (orderOf(a) ?? Infinity) - (orderOf(b) ?? Infinity) || 0;
  const chain = {
    due: [byDue, byPriority, byTitle],
    priority: [byPriority, byDue, byTitle],
    title: [byTitle],
    manual: [byOrder, byDue, byPriority, byTitle],
  }[mode] || [byDue, byPriority, byTitle];
  return (a, b) => {
    for (const c of chain) {
      const r = c(a, b);
      if (r) return r;
    }
    return 0;
  };
}

/**
 * The forest to show: each shown task under its nearest shown ancestor (a hidden completed
 * parent or a parent in another list lifts its children up), cycles broken, siblings sorted.
 * Returns `{ roots, children: Map<uid, task[]> }`.
 */
export function buildTree(tasks, shown, compare) {
  const byUid = new Map(tasks.map((x) => [x.uid, x]));
  const visible = tasks.filter(shown);
  const isVisible = new Set(visible.map((x) => x.uid));
  const up = new Map();
  for (const task of visible) {
    let p = parentOf(task);
    const seen = new Set([task.uid]);
    while (p && !isVisible.has(p)) {
      if (seen.has(p)) { p = null; break; }
      seen.add(p);
      const pt = byUid.get(p);
      p = pt ? parentOf(pt) : null;
    }
    up.set(task.uid, p && p !== task.uid ? p : null);
  }
  // A RELATED-TO loop (A under B under A) would hide both: the first task found in it
  // becomes a root.
  for (const task of visible) {
    const seen = new Set();
    let cur = task.uid;
    while (cur && up.get(cur)) {
      if (seen.has(cur)) { up.set(cur, null); break; }
      seen.add(cur);
      cur = up.get(cur);
    }
  }
  const roots = [];
  const children = new Map();
  for (const task of visible) {
    const p = up.get(task.uid);
    if (p) {
      if (!children.has(p)) children.set(p, []);
      children.get(p).push(task);
    } else {
      roots.push(task);
    }
  }
  roots.sort(compare);
  for (const list of children.values()) list.sort(compare);
  return { roots, children };
}

