// The Tasks view in the browser against a real server: a task and its subtask made, edited and
// completed with the mouse and with the keyboard, checked through the JSON API and through
// python caldav (RELATED-TO, DUE, PRIORITY, PERCENT-COMPLETE, STATUS/COMPLETED of RFC 5545
// §3.8); a VTODO a CalDAV client PUTs shows up, nested, without a reload; axe-core on the view,
// and a phone-width pass.
'use strict';
const { test, expect, checkA11y, shot, caldavObjects, collectCspViolations } = require('./fixtures');

const TASKS = '/api/v1/calendars/tasks/events';

/** The user's items in the `tasks` list, by summary. */
async function tasksBySummary(api) {
  const r = await api('GET', `${TASKS}?limit=1000`);
  expect(r.status).toBe(200);
  return Object.fromEntries(r.body.events.map((e) => [e.summary, e]));
}

async function openTasks(page) {
  await page.goto('/#/tasks');
  await expect(page.getByRole('heading', { name: 'Tasks', level: 1 })).toBeVisible();
  await expect(page.getByLabel('Task list')).toHaveValue('tasks');
}

test('create, edit and complete a task with a subtask; the API and CalDAV agree', async ({ signedInPage: page, user, api }) => {
  await openTasks(page);

  // Quick add: type and press Enter.
  await page.getByLabel('New task title').fill('Plan the trip');
  await page.getByLabel('New task title').press('Enter');
  await expect(page.getByRole('button', { name: 'Edit Plan the trip' })).toBeVisible();
  let items = await tasksBySummary(api);
  expect(items['Plan the trip']).toBeTruthy();
  expect(items['Plan the trip'].kind).toBe('task');
  const parentUid = items['Plan the trip'].uid;

  // A subtask with due date and time, priority and percent.
  await page.getByRole('button', { name: 'Add subtask to Plan the trip' }).click();
  const dlg = page.getByRole('dialog', { name: 'New task' });
  await expect(dlg).toBeVisible();
  await expect(dlg.getByLabel('Subtask of')).toHaveValue(parentUid);
  await dlg.getByLabel('Title', { exact: true }).fill('Book flights');
  await dlg.getByLabel('Due date').fill('2031-03-14');
  await dlg.getByLabel('Due time').fill('09:30');
  await dlg.getByLabel('Priority').selectOption({ label: 'High' });
  await dlg.getByLabel('Percent complete').fill('30');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await expect(dlg).toBeHidden();

  // Shown nested under its parent.
  const sublist = page.getByRole('list', { name: 'Subtasks of Plan the trip' });
  await expect(sublist.getByRole('button', { name: 'Edit Book flights' })).toBeVisible();

  items = await tasksBySummary(api);
  const sub = items['Book flights'];
  expect(sub.parent).toBe(parentUid);
  expect(sub.priority).toBe(1);
  expect(sub.percent_complete).toBe(30);
  expect(sub.due.date_time).toBe('2031-03-14T09:30:00');
  expect(sub.due.time_zone).toBeTruthy();

  // Edit: rename, more progress, different due date (all-day now).
  await page.getByRole('button', { name: 'Edit Book flights' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit task' });
  await edit.getByLabel('Title', { exact: true }).fill('Book flights and hotel');
  await edit.getByLabel('Due time').fill('');
  await edit.getByLabel('Percent complete').fill('60');
  await edit.getByLabel('Notes').fill('Window seat');
  await edit.getByRole('button', { name: 'Save' }).click();
  await expect(edit).toBeHidden();
  // Focus went back to what opened the dialog.
  await expect(page.getByRole('button', { name: 'Edit Book flights and hotel' })).toBeFocused();

  items = await tasksBySummary(api);
  const edited = items['Book flights and hotel'];
  expect(edited.uid).toBe(sub.uid);
  expect(edited.percent_complete).toBe(60);
  expect(edited.description).toBe('Window seat');
  expect(edited.due).toEqual({ date: '2031-03-14' });
  expect(edited.parent).toBe(parentUid);

  await checkA11y(page, { name: 'tasks' });
  await shot(page, 'tasks-list');

  // Complete the subtask: it leaves the list while completed tasks are hidden.
  // click, not check(): the list re-renders as push events of its own writes arrive, and
  // check() would keep clicking a new, not yet checked element.
  await page.getByRole('checkbox', { name: 'Done: Book flights and hotel' }).click();
  await expect(page.getByRole('checkbox', { name: 'Done: Book flights and hotel' })).toBeHidden();
  items = await tasksBySummary(api);
  const done = items['Book flights and hotel'];
  expect(done.status).toBe('completed');
  expect(done.percent_complete).toBe(100);
  expect(done.completed).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  // Shown again (checked) with completed tasks visible.
  await page.getByLabel('Hide completed tasks').uncheck();
  await expect(page.getByRole('checkbox', { name: 'Done: Book flights and hotel' })).toBeChecked();

  // What a CalDAV client reads.
  const cal = await caldavObjects(user, user.tasksUrl);
  const comps = cal.objects.flatMap((o) => o.components);
  const todo = comps.find((c) => c.uid === sub.uid);
  expect(todo.type).toBe('VTODO');
  expect(todo.summary).toBe('Book flights and hotel');
  expect(todo.status).toBe('COMPLETED');
  expect(todo.related_to.map((r) => r.value)).toEqual([parentUid]);
  expect(todo.due.value).toBe('20310314');
  expect(todo.properties['PERCENT-COMPLETE'][0].value).toBe('100');
  expect(todo.properties.PRIORITY[0].value).toBe('1');
  expect(todo.properties.COMPLETED).toHaveLength(1);
  expect(comps.find((c) => c.uid === parentUid).status).toBe('NEEDS-ACTION');
});

test('the keyboard alone: add, open, Escape closes and focus comes back, delete', async ({ signedInPage: page, api }) => {
  await openTasks(page);
  await page.getByLabel('New task title').focus();
  await page.keyboard.type('Water the plants');
  await page.keyboard.press('Enter');
  const open = page.getByRole('button', { name: 'Edit Water the plants' });
  await expect(open).toBeVisible();
  // Focus stays in the quick-add field for the next task.
  await expect(page.getByLabel('New task title')).toBeFocused();

  await open.focus();
  await page.keyboard.press('Enter');
  const dlg = page.getByRole('dialog', { name: 'Edit task' });
  await expect(dlg).toBeVisible();
  await expect(dlg.getByLabel('Title', { exact: true })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dlg).toBeHidden();
  await expect(open).toBeFocused();

  // Space toggles the checkbox; Tab reaches the delete button.
  const check = page.getByRole('checkbox', { name: 'Done: Water the plants' });
  await page.getByLabel('Hide completed tasks').uncheck();
  await check.focus();
  await page.keyboard.press('Space');
  await expect(check).toBeChecked();
  await expect.poll(async () => (await tasksBySummary(api))['Water the plants'].status).toBe('completed');
  await expect(check).toBeFocused();
  await page.keyboard.press('Space');
  await expect(check).not.toBeChecked();
  await expect.poll(async () => (await tasksBySummary(api))['Water the plants'].status).toBe('needs-action');

  await page.getByRole('button', { name: 'Delete Water the plants' }).focus();
  await page.keyboard.press('Enter');
  const confirm = page.getByRole('dialog', { name: 'Delete task' });
  await expect(confirm.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await confirm.getByRole('button', { name: 'Delete' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('button', { name: 'Edit Water the plants' })).toBeHidden();
  expect((await tasksBySummary(api))['Water the plants']).toBeUndefined();
});

test('sort by due date, priority, title and custom order; filter', async ({ signedInPage: page, api }) => {
  for (const [summary, priority, due] of [['Bravo', 9, '2031-01-01'], ['Alpha', 5, '2031-01-02'], ['Charlie', 1, '2031-01-03']]) {
    const r = await api('POST', TASKS, { kind: 'task', summary, priority, due: { date: due } });
    expect(r.status).toBe(201);
  }
  await openTasks(page);
  const titles = () => page.getByRole('list', { name: 'Tasks in Tasks' }).getByRole('button', { name: /^Edit / }).allTextContents();
  await expect.poll(titles).toEqual(['Bravo', 'Alpha', 'Charlie']);
  await page.getByLabel('Sort by').selectOption('title');
  await expect.poll(titles).toEqual(['Alpha', 'Bravo', 'Charlie']);
  await page.getByLabel('Sort by').selectOption('priority');
  await expect.poll(titles).toEqual(['Charlie', 'Alpha', 'Bravo']);
  await page.getByLabel('Filter').fill('rav');
  await expect.poll(titles).toEqual(['Bravo']);
  await page.getByLabel('Filter').fill('');

  // Custom order (X-APPLE-SORT-ORDER): none is set yet, so due date decides; move Charlie up twice.
  await page.getByLabel('Sort by').selectOption('manual');
  await expect.poll(titles).toEqual(['Bravo', 'Alpha', 'Charlie']);
  await page.getByRole('button', { name: 'Move Charlie up' }).click();
  await expect.poll(titles).toEqual(['Bravo', 'Charlie', 'Alpha']);
  await expect(page.getByRole('button', { name: 'Move Charlie up' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect.poll(titles).toEqual(['Charlie', 'Bravo', 'Alpha']);
  const items = await tasksBySummary(api);
  expect(items.Charlie.sort_order).toBeLessThan(items.Bravo.sort_order);
  expect(items.Bravo.sort_order).toBeLessThan(items.Alpha.sort_order);
  await page.reload();
  await expect.poll(titles).toEqual(['Charlie', 'Bravo', 'Alpha']);
});

test('a VTODO PUT over CalDAV appears nested without a reload', async ({ signedInPage: page, user, api, davPut }) => {
  const parent = await api('POST', TASKS, { kind: 'task', summary: 'Move house' });
  expect(parent.status).toBe(201);
  await openTasks(page);
  await expect(page.getByRole('button', { name: 'Edit Move house' })).toBeVisible();

  const uid = `dav-sub-${Date.now()}@example.com`;
  const ics = [
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Madang tests//EN',
    'BEGIN:VTODO', `UID:${uid}`, 'DTSTAMP:20260101T000000Z', 'SUMMARY:Pack books',
    `RELATED-TO;RELTYPE=PARENT:${parent.body.uid}`, 'PRIORITY:5', 'DUE;VALUE=DATE:20310601',
    'X-APPLE-SORT-ORDER:7', 'END:VTODO', 'END:VCALENDAR', '',
  ].join('\r\n');
  await davPut(`${user.tasksUrl}${encodeURIComponent(uid)}.ics`, ics, 'text/calendar; charset=utf-8');
  const sublist = page.getByRole('list', { name: 'Subtasks of Move house' });
  await expect(sublist.getByRole('button', { name: 'Edit Pack books' })).toBeVisible({ timeout: 5_000 });

  // Edited in the browser, the phone's own property is still there for the phone.
  await sublist.getByRole('button', { name: 'Edit Pack books' }).click();
  const dlg = page.getByRole('dialog', { name: 'Edit task' });
  await dlg.getByLabel('Status').selectOption('in-process');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await expect(dlg).toBeHidden();
  const cal = await caldavObjects(user, user.tasksUrl, { uid });
  const todo = cal.objects[0].components[0];
  expect(todo.status).toBe('IN-PROCESS');
  expect(todo.related_to.map((r) => r.value)).toEqual([parent.body.uid]);
  expect(todo.properties['X-APPLE-SORT-ORDER'][0].value).toBe('7');
});

test('phone width: the list and the editor fit 375 px', async ({ signedInPage: page, api }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  const p = await api('POST', TASKS, { kind: 'task', summary: 'Renew passport', priority: 1, due: { date: '2031-05-01' }, percent_complete: 20 });
  await api('POST', TASKS, { kind: 'task', summary: 'Photos for the passport', parent: p.body.uid });
  await openTasks(page);
  await expect(page.getByRole('button', { name: 'Edit Renew passport' })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, 'no horizontal scrolling at 375 px').toBeLessThanOrEqual(0);
  await checkA11y(page, { name: 'tasks-phone' });
  await shot(page, 'tasks-phone');
  await page.getByRole('button', { name: 'Edit Renew passport' }).click();
  const dlg = page.getByRole('dialog', { name: 'Edit task' });
  await expect(dlg).toBeVisible();
  const box = await dlg.boundingBox();
  expect(box.width).toBeLessThanOrEqual(375);
  await checkA11y(page, { name: 'tasks-editor-phone' });
  await shot(page, 'tasks-editor-phone');
});

test('a change made elsewhere while editing is not overwritten (If-Match, 412)', async ({ signedInPage: page, api }) => {
  // The browser logs the refused PUT (412) as a failed resource load: expected here.
  (await collectCspViolations(page)).allow(/status of 412/);
  const made = await api('POST', TASKS, { kind: 'task', summary: 'Call the bank' });
  await openTasks(page);
  await page.getByRole('button', { name: 'Edit Call the bank' }).click();
  const dlg = page.getByRole('dialog', { name: 'Edit task' });
  await dlg.getByLabel('Title', { exact: true }).fill('Call the bank today');

  // Meanwhile a phone renames it.
  const phone = await api('PUT', `${TASKS}/${encodeURIComponent(made.body.uid)}`, { ...made.body, summary: 'Call the bank (phone)' }, { ifMatch: made.etag });
  expect(phone.status).toBe(200);

  await dlg.getByRole('button', { name: 'Save' }).click();
  await expect(dlg.getByRole('alert')).toHaveText('The task was not saved.');
  await expect(page.getByRole('status').filter({ hasText: 'changed elsewhere' })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('button', { name: 'Edit Call the bank (phone)' })).toBeVisible();
  const now = await api('GET', `${TASKS}/${encodeURIComponent(made.body.uid)}`);
  expect(now.body.summary).toBe('Call the bank (phone)');
});

test.describe('in Korean', () => {
  test.use({ locale: 'ko-KR' });

  test('the Tasks and Contacts views speak Korean', async ({ signedInPage: page, api }) => {
    await page.goto('/#/tasks');
    await expect(page.getByRole('heading', { name: '할 일', level: 1 })).toBeVisible();
    await page.getByLabel('새 할 일 제목').fill('장보기');
    await page.getByLabel('새 할 일 제목').press('Enter');
    await expect(page.getByRole('button', { name: '장보기 편집' })).toBeVisible();
    await page.getByRole('checkbox', { name: '완료: 장보기' }).click();
    await expect.poll(async () => (await tasksBySummary(api))['장보기'].status).toBe('completed');
    await checkA11y(page, { name: 'tasks-ko' });
    await shot(page, 'tasks-ko');

    await page.goto('/#/contacts');
    await expect(page.getByRole('heading', { name: '연락처', level: 1 })).toBeVisible();
    await page.getByRole('button', { name: '새 연락처' }).click();
    const dlg = page.getByRole('dialog', { name: '새 연락처' });
    await dlg.getByLabel('성', { exact: true }).fill('김');
    await dlg.getByLabel('이름', { exact: true }).fill('민지');
    await dlg.getByRole('button', { name: '저장' }).click();
    await expect(page.getByRole('heading', { name: '김민지', level: 2 })).toBeVisible();
    await shot(page, 'contacts-ko');
  });
});
