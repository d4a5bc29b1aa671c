// The Tasks view: the user's task lists (calendars that accept VTODO) and their tasks, with
// due dates, priority, completion, percent done and subtasks (RFC 5545 RELATED-TO, shown
// nested under their parent), sorted and filtered in the browser; every write goes through
// /api/v1 with If-Match so a change made meanwhile on a phone is never overwritten silently.

import { h } from '../ui.js';
import {
  confirmDialog, debounce, errorText, field, focusKeeper, liveRegion, openDialog, select, setOptions,
} from './common.js';
import { viewerZone, whenLabel } from './dates.js';
import {
  buildTree, comparator, dueRank, isDone, orderOf, parentOf, priorityRank, titleOf,
} from './task_tree.js';

const PREF = 'madang.tasks.';
const SORTS = ['due', 'priority', 'title', 'manual'];

/** `2024-05-01T10:00:00Z` for now (the JSON model's COMPLETED form). */
function nowUtc() {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}

function storedPref(name, fallback) {
  try { return localStorage.getItem(PREF + name) ?? fallback; } catch { return fallback; }
}

function savePref(name, value) {
  try { localStorage.setItem(PREF + name, String(value)); } catch { /* private mode: not kept */ }
}

export function mount(root, ctx) {
  const { api, t, onPush } = ctx;
  const collator = new Intl.Collator(document.documentElement.lang || undefined, { sensitivity: 'base', numeric: true });
  const state = {
    lists: [],
    listId: storedPref('list', null),
    tasks: [],
    sort: SORTS.includes(storedPref('sort', 'due')) ? storedPref('sort', 'due') : 'due',
    hideCompleted: storedPref('hideCompleted', 'true') === 'true',
    filter: '',
    loaded: false,
    failed: null,
  };
  const status = liveRegion();
  const keeper = focusKeeper();
  const dialogs = new Set();
  let alive = true;
  let loadSeq = 0;

  const path = (uid) => {
    const base = `/api/v1/calendars/${encodeURIComponent(state.listId)}/events`;
    return uid === undefined ? base : `${base}/${encodeURIComponent(uid)}`;
  };

  // ----- The fixed frame: heading, list picker, toolbar, quick add, the list itself. -----
  const heading = h('h1', { class: 'v-title', id: 'tasks-heading', tabindex: '-1' }, t('tasks.title'));
  const listPicker = h('select', { id: 'tasks-list-picker' });
  listPicker.addEventListener('change', () => {
    state.listId = listPicker.value;
    savePref('list', state.listId);
    state.tasks = [];
    state.loaded = false;
    render();
    loadTasks().catch((err) => status.say(errorText(t, err), { error: true }));
  });
  const sortPicker = select(SORTS.map((s) => [s, t(`tasks.sort.${s}`)]), state.sort, { id: 'tasks-sort' });
  sortPicker.addEventListener('change', () => {
    state.sort = sortPicker.value;
    savePref('sort', state.sort);
    render();
  });
  const hideBox = h('input', { type: 'checkbox', id: 'tasks-hide-completed' });
  hideBox.checked = state.hideCompleted;
  hideBox.addEventListener('change', () => {
    state.hideCompleted = hideBox.checked;
    savePref('hideCompleted', state.hideCompleted);
    render();
  });
  const filterBox = h('input', { type: 'search', id: 'tasks-filter', autocomplete: 'off' });
  const applyFilter = debounce(() => { state.filter = filterBox.value.trim(); render(); }, 150);
  filterBox.addEventListener('input', applyFilter);

  const quickTitle = h('input', { type: 'text', id: 'tasks-new-title', autocomplete: 'off', required: true });
  const quickAdd = h('form', { class: 'v-quickadd', 'aria-label': t('tasks.new') },
    field(t('tasks.new_title'), quickTitle),
    h('button', { type: 'submit' }, t('tasks.add')));
  quickAdd.addEventListener('submit', async (e) => {
    e.preventDefault();
    const summary = quickTitle.value.trim();
    if (!summary || !state.listId) return;
    if (await create({ kind: 'task', summary, status: 'needs-action' })) {
      quickTitle.value = '';
      quickTitle.focus();
    }
  });
  const detailsButton = h('button', { type: 'button', class: 'secondary' }, t('tasks.new_detailed'));
  detailsButton.addEventListener('click', () => editTask(null, { summary: quickTitle.value.trim() }));

  const toolbar = h('div', { class: 'v-toolbar', role: 'group', 'aria-label': t('tasks.view_options') },
    field(t('tasks.list'), listPicker),
    field(t('tasks.sort'), sortPicker),
    field(t('tasks.filter'), filterBox),
    h('div', { class: 'v-field v-check' }, hideBox, h('label', { for: 'tasks-hide-completed' }, t('tasks.hide_completed'))));

  const body = h('div', { class: 'v-tasks-body' });
  const frame = h('section', { class: 'v-view v-tasks', 'aria-labelledby': 'tasks-heading' },
    h('div', { class: 'v-head' }, heading),
    toolbar,
    h('div', { class: 'v-quickrow' }, quickAdd, detailsButton),
    status.node,
    body);
  root.replaceChildren(frame);

  // ----- Rendering. -----
  function shown(task) {
    if (state.hideCompleted && isDone(task)) return false;
    if (!state.filter) return true;
    const needle = state.filter.toLocaleLowerCase();
    return [task.summary, task.description, ...(task.categories || [])]
      .some((s) => s && s.toLocaleLowerCase().includes(needle));
  }

  function render() {
    if (!alive) return;
    keeper.save();
    setOptions(listPicker, state.lists.map((c) => [c.id, c.name || c.id]), state.listId);
    listPicker.disabled = state.lists.length === 0;
    quickTitle.disabled = !state.listId;
    detailsButton.disabled = !state.listId;

    if (state.failed) {
      const retry = h('button', { type: 'button', 'data-focus-key': 'retry' }, t('views.retry'));
      retry.addEventListener('click', () => { state.failed = null; refreshAll(); });
      body.replaceChildren(h('p', { class: 'v-error', role: 'alert' }, state.failed), retry);
    } else if (state.loaded && state.lists.length === 0) {
      body.replaceChildren(emptyNoLists());
    } else if (!state.loaded) {
      body.replaceChildren(h('p', { class: 'v-muted' }, t('views.loading')));
    } else {
      const { roots, children } = buildTree(state.tasks, shown, comparator(state.sort, collator));
      const total = state.tasks.length;
      const open = state.tasks.filter((x) => !isDone(x)).length;
      const summary = h('p', { class: 'v-muted v-count' }, t('tasks.count', { open, total }));
      if (roots.length === 0) {
        body.replaceChildren(summary, h('p', { class: 'v-empty' },
          total === 0 ? t('tasks.empty') : t('tasks.none_shown')));
      } else {
        body.replaceChildren(summary, taskList(roots, children, t('tasks.list_label', { list: listName() }), 0));
      }
    }
    keeper.restore(frame);
  }

  function listName() {
    const c = state.lists.find((x) => x.id === state.listId);
    return c ? c.name || c.id : '';
  }

  function taskList(tasks, children, label, depth) {
    return h('ul', { class: depth ? 'v-tasklist v-subtasks' : 'v-tasklist', 'aria-label': label },
      ...tasks.map((task) => taskItem(task, children, depth, tasks)));
  }

  function taskItem(task, children, depth, siblings) {
    const title = titleOf(task, t);
    const done = isDone(task);
    const due = dueRank(task);
    const overdue = !done && due !== Infinity && due < Date.now();
    const check = h('input', {
      type: 'checkbox', class: 'v-task-done', 'aria-label': t('tasks.mark_done', { title }),
      'data-focus-key': `done:${task.uid}`,
    });
    check.checked = done;
    check.addEventListener('change', () => setDone(task, check.checked));

    const open = h('button', { type: 'button', class: 'v-linklike v-task-title', 'data-focus-key': `edit:${task.uid}`,
      'aria-label': t('tasks.edit_named', { title }) }, title);
    open.addEventListener('click', () => editTask(task));

    const meta = h('span', { class: 'v-task-meta' });
    if (task.due) {
      meta.append(h('span', { class: overdue ? 'v-due v-overdue' : 'v-due' },
        overdue ? t('tasks.overdue_on', { when: whenLabel(task.due) }) : t('tasks.due_on', { when: whenLabel(task.due) })));
    }
    const rank = priorityRank(task);
    if (rank <= 9) {
      const level = rank <= 4 ? 'high' : rank === 5 ? 'medium' : 'low';
      meta.append(h('span', { class: `v-prio v-prio-${level}` }, t(`tasks.priority.${level}`)));
    }
    if (typeof task.percent_complete === 'number' && task.percent_complete > 0 && !done) {
      const pct = task.percent_complete;
      meta.append(h('progress', { max: '100', value: String(pct), 'aria-label': t('tasks.percent_of', { title, pct }) }),
        h('span', { class: 'v-pct', 'aria-hidden': 'true' }, `${pct}%`));
    }

    const addSub = h('button', { type: 'button', class: 'secondary v-small', 'data-focus-key': `sub:${task.uid}`,
      'aria-label': t('tasks.add_subtask_to', { title }) }, t('tasks.add_subtask'));
    addSub.addEventListener('click', () => editTask(null, { parent: task.uid }));
    const del = h('button', { type: 'button', class: 'secondary v-small v-danger-text', 'data-focus-key': `del:${task.uid}`,
      'aria-label': t('tasks.delete_named', { title }) }, t('views.delete'));
    del.addEventListener('click', () => removeTask(task));

    const actions = h('div', { class: 'v-task-actions' }, addSub, del);
    if (state.sort === 'manual') {
      const i = siblings.indexOf(task);
      const up = h('button', { type: 'button', class: 'secondary v-small', 'data-focus-key': `up:${task.uid}`,
        'aria-label': t('tasks.move_up', { title }) }, '↑');
      up.disabled = i === 0;
      up.addEventListener('click', () => move(siblings, i, -1));
      const down = h('button', { type: 'button', class: 'secondary v-small', 'data-focus-key': `down:${task.uid}`,
        'aria-label': t('tasks.move_down', { title }) }, '↓');
      down.disabled = i === siblings.length - 1;
      down.addEventListener('click', () => move(siblings, i, 1));
      actions.prepend(up, down);
    }
    const li = h('li', { class: `v-task${done ? ' v-done' : ''}`, 'data-uid': task.uid },
      h('div', { class: 'v-task-row' }, check, h('div', { class: 'v-task-main' }, open, meta), actions));
    const kids = children.get(task.uid);
    if (kids && kids.length) li.append(taskList(kids, children, t('tasks.subtasks_of', { title }), depth + 1));
    return li;
  }

  function emptyNoLists() {
    const name = h('input', { type: 'text', id: 'tasks-new-list', required: true, autocomplete: 'off' });
    const form = h('form', { class: 'v-inline-form' },
      field(t('tasks.new_list_name'), name), h('button', { type: 'submit' }, t('tasks.create_list')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!name.value.trim()) return;
      try {
        const r = await api('POST', '/api/v1/calendars', { name: name.value.trim(), components: ['VTODO'] });
        state.listId = r.body.id;
        savePref('list', state.listId);
        status.say(t('tasks.list_created'));
        await refreshAll();
        quickTitle.focus();
      } catch (err) {
        status.say(errorText(t, err), { error: true });
      }
    });
    return h('div', { class: 'v-empty' }, h('p', {}, t('tasks.no_lists')), form);
  }

  // ----- Loading. -----
  async function loadLists() {
    const r = await api('GET', '/api/v1/calendars');
    const all = Array.isArray(r.body) ? r.body : [];
    state.lists = all.filter((c) => (c.components || []).includes('VTODO'));
    if (!state.lists.some((c) => c.id === state.listId)) {
      // A list made for tasks (no events in it) is the better first choice than a calendar.
      const first = state.lists.find((c) => !(c.components || []).includes('VEVENT')) || state.lists[0];
      state.listId = first ? first.id : null;
    }
  }

  async function loadTasks() {
    const seq = ++loadSeq;
    if (!state.listId) { state.tasks = []; state.loaded = true; render(); return; }
    const listId = state.listId;
    const items = [];
    let cursor = null;
    // Pages of 1000 (the route's maximum) until the server says there is no more.
    for (let page = 0; page < 100; page += 1) {
      const q = new URLSearchParams({ limit: '1000' });
      if (cursor) q.set('cursor', cursor);
      const r = await api('GET', `${path()}?${q}`);
      items.push(...(r.body.events || []));
      cursor = r.body.next_cursor;
      if (!cursor) break;
    }
    if (seq !== loadSeq || listId !== state.listId || !alive) return;
    state.tasks = items.filter((x) => x.kind === 'task');
    state.loaded = true;
    state.failed = null;
    render();
  }

  async function refreshAll() {
    try {
      await loadLists();
      render();
      await loadTasks();
    } catch (err) {
      if (!alive) return;
      state.failed = errorText(t, err);
      state.loaded = true;
      render();
    }
  }

  const refetchTasks = debounce(() => { loadTasks().catch((err) => status.say(errorText(t, err), { error: true })); }, 250);
  const refetchAll = debounce(() => { refreshAll(); }, 250);

  // ----- Writing. -----
  function replaceLocal(task) {
    const i = state.tasks.findIndex((x) => x.uid === task.uid);
    if (i >= 0) state.tasks[i] = task; else state.tasks.push(task);
  }

  /** After a failed write: say why and reload, so the next try starts from what is stored. */
  function failed(err) {
    status.say(errorText(t, err), { error: true });
    refetchTasks();
  }

  async function create(fields) {
    try {
      const r = await api('POST', path(), fields);
      if (r.body && r.body.uid) replaceLocal(r.body);
      status.say(t('tasks.created', { title: fields.summary }));
      render();
      return r.body;
    } catch (err) {
      failed(err);
      return null;
    }
  }

  async function save(task, changes) {
    // The whole item goes back (PUT replaces what the model covers), with our changes on top.
    const next = { ...task, ...changes };
    try {
      const r = await api('PUT', path(task.uid), next, { ifMatch: task.etag });
      replaceLocal(r.body && r.body.uid ? r.body : { ...next, etag: r.etag || task.etag });
      render();
      return true;
    } catch (err) {
      failed(err);
      return false;
    }
  }

  /**
   * Custom order (`sort_order`, Apple's X-APPLE-SORT-ORDER): swaps a task with its neighbour
   * among the siblings shown. Two writes when the siblings already have distinct orders;
   * otherwise the siblings are numbered 10, 20, … first (a list made elsewhere has none).
   */
  async function move(siblings, i, delta) {
    const j = i + delta;
    if (j < 0 || j >= siblings.length) return;
    const order = siblings.map(orderOf);
    const distinct = order.every((o) => o !== null) && new Set(order).size === order.length;
    const next = distinct ? [...order] : siblings.map((_, k) => (k + 1) * 10);
    [next[i], next[j]] = [next[j], next[i]];
    const moved = siblings[i];
    for (let k = 0; k < siblings.length; k += 1) {
      if (orderOf(siblings[k]) === next[k]) continue;
      const current = state.tasks.find((x) => x.uid === siblings[k].uid) || siblings[k];
      if (!(await save(current, { sort_order: next[k] }))) return;
    }
    status.say(t('tasks.moved', { title: titleOf(moved, t), position: j + 1, count: siblings.length }));
  }

  async function setDone(task, done) {
    const changes = done
      ? { status: 'completed', completed: nowUtc(), percent_complete: 100 }
      : { status: 'needs-action', completed: null, percent_complete: task.percent_complete === 100 ? 0 : task.percent_complete };
    if (await save(task, changes)) {
      status.say(t(done ? 'tasks.completed_msg' : 'tasks.reopened_msg', { title: titleOf(task, t) }));
    }
  }

  async function removeTask(task) {
    const title = titleOf(task, t);
    const kids = state.tasks.filter((x) => parentOf(x) === task.uid).length;
    const ok = await confirmDialog(t, {
      title: t('tasks.delete_title'),
      message: kids ? t('tasks.delete_confirm_kids', { title, count: kids }) : t('tasks.delete_confirm', { title }),
      confirmLabel: t('views.delete'),
    });
    if (!ok) return;
    try {
      await api('DELETE', path(task.uid), undefined, { ifMatch: task.etag });
      state.tasks = state.tasks.filter((x) => x.uid !== task.uid);
      render();
      status.say(t('tasks.deleted', { title }));
      // The row is gone: focus goes to the quick-add field rather than to the page's top.
      quickTitle.focus();
    } catch (err) {
      failed(err);
    }
  }

  /** UIDs of `uid` and everything under it (not allowed as its new parent). */
  function subtree(uid) {
    const out = new Set([uid]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const x of state.tasks) {
        const p = parentOf(x);
        if (p && out.has(p) && !out.has(x.uid)) { out.add(x.uid); grew = true; }
      }
    }
    return out;
  }

  /** The editor: a dialog for a new task (`task` null, `preset` fields) or an existing one. */
  function editTask(task, preset = {}) {
    const base = task || { kind: 'task', status: 'needs-action', ...preset };
    const title = h('input', { type: 'text', required: true, autocomplete: 'off', autofocus: true });
    title.value = base.summary || '';
    const notes = h('textarea', { rows: '4' });
    notes.value = base.description || '';

    const dueDate = h('input', { type: 'date' });
    const dueTime = h('input', { type: 'time' });
    const zone = base.due && base.due.date_time ? base.due.time_zone || null : null;
    if (base.due?.date) dueDate.value = base.due.date;
    if (base.due?.date_time) {
      dueDate.value = base.due.date_time.slice(0, 10);
      dueTime.value = base.due.date_time.slice(11, 16);
    }
    const zoneHint = zone && zone !== viewerZone() ? t('tasks.due_zone', { zone }) : t('tasks.due_time_hint');

    const prioOptions = [[0, t('tasks.priority.none')], [1, t('tasks.priority.high')], [5, t('tasks.priority.medium')], [9, t('tasks.priority.low')]];
    const p = base.priority || 0;
    if (!prioOptions.some(([v]) => v === p)) prioOptions.push([p, t('tasks.priority.n', { n: p })]);
    const prio = select(prioOptions, p);

    const statuses = ['needs-action', 'in-process', 'completed', 'cancelled'];
    const cur = base.status || (isDone(base) ? 'completed' : 'needs-action');
    const stat = select(statuses.map((s) => [s, t(`tasks.status.${s}`)]), statuses.includes(cur) ? cur : 'needs-action');

    const pct = h('input', { type: 'number', min: '0', max: '100', step: '1', inputmode: 'numeric' });
    if (typeof base.percent_complete === 'number') pct.value = String(base.percent_complete);

    const excluded = task ? subtree(task.uid) : new Set();
    const parents = state.tasks
      .filter((x) => !excluded.has(x.uid))
      .sort(comparator('title', collator))
      .map((x) => [x.uid, titleOf(x, t)]);
    const parentPick = select([['', t('tasks.parent_none')], ...parents], parentOf(base) || '');

    const err = h('p', { class: 'v-error', role: 'alert' });
    const saveBtn = h('button', { type: 'submit' }, t('views.save'));
    const cancel = h('button', { type: 'button', class: 'secondary' }, t('views.cancel'));
    const actions = h('div', { class: 'v-actions' }, cancel, saveBtn);
    if (task) {
      const del = h('button', { type: 'button', class: 'secondary v-danger-text' }, t('views.delete'));
      // The confirmation opens once the editor has closed and given focus back to the row.
      del.addEventListener('click', () => {
        d.dialog.addEventListener('close', () => removeTask(task), { once: true });
        d.close('delete');
      });
      actions.prepend(del);
    }
    const form = h('form', { class: 'v-form', novalidate: true },
      field(t('tasks.field.title'), title),
      field(t('tasks.field.notes'), notes),
      h('div', { class: 'v-row' }, field(t('tasks.field.due_date'), dueDate), field(t('tasks.field.due_time'), dueTime, zoneHint)),
      h('div', { class: 'v-row' }, field(t('tasks.field.priority'), prio), field(t('tasks.field.status'), stat),
        field(t('tasks.field.percent'), pct)),
      field(t('tasks.field.parent'), parentPick),
      err, actions);

    const d = openDialog({
      title: task ? t('tasks.edit_title') : t('tasks.new_title_dialog'),
      content: form,
      returnTo: () => quickTitle,
    });
    dialogs.add(d);
    d.dialog.addEventListener('close', () => dialogs.delete(d));
    cancel.addEventListener('click', () => d.close('cancel'));

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const summary = title.value.trim();
      if (!summary) { err.textContent = t('tasks.error.title'); title.focus(); return; }
      if (dueTime.value && !dueDate.value) { err.textContent = t('tasks.error.time_without_date'); dueDate.focus(); return; }
      const n = pct.value === '' ? null : Number(pct.value);
      if (n !== null && !(Number.isInteger(n) && n >= 0 && n <= 100)) { err.textContent = t('tasks.error.percent'); pct.focus(); return; }
      let due = null;
      if (dueDate.value && dueTime.value) {
        due = { date_time: `${dueDate.value}T${dueTime.value}:00`, time_zone: zone || viewerZone() };
        // Unchanged wall time: keep the stored value exactly (its zone name, seconds).
        if (base.due?.date_time && base.due.date_time.slice(0, 16) === due.date_time.slice(0, 16)) due = base.due;
      } else if (dueDate.value) {
        due = { date: dueDate.value };
      }
      const statusValue = stat.value;
      const fields = {
        kind: 'task',
        summary,
        description: notes.value.trim() || null,
        due,
        priority: Number(prio.value) || null,
        status: statusValue,
        percent_complete: statusValue === 'completed' ? 100 : n,
        completed: statusValue === 'completed' ? base.completed || nowUtc() : null,
        parent: parentPick.value || null,
      };
      saveBtn.disabled = true;
      const ok = task ? await save(task, fields) : await create(fields);
      saveBtn.disabled = false;
      if (ok) {
        if (task) status.say(t('tasks.saved', { title: summary }));
        d.close('saved');
      } else {
        err.textContent = t('tasks.error.not_saved');
      }
    });
  }

  // ----- Live updates: another device's change refetches this list (debounced). -----
  const unsubscribe = [
    onPush('calendar.object', (data) => {
      if (!data || !data.calendar) refetchAll();
      else if (data.calendar === state.listId) refetchTasks();
    }),
    onPush('calendar.collection', () => refetchAll()),
    onPush('resync', () => refetchAll()),
  ];

  render();
  refreshAll();

  return {
    unmount() {
      alive = false;
      refetchTasks.cancel();
      refetchAll.cancel();
      applyFilter.cancel();
      for (const u of unsubscribe) if (typeof u === 'function') u();
      for (const d of dialogs) d.close('unmount');
      root.replaceChildren();
    },
  };
}
