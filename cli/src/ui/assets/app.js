// snap ui: the page. Hand-written, no framework, no build step. Every text
// from the repository goes into the page through textContent, never HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { profiles: [], profile: null, snapshots: [], browse: { snap: null, path: '' }, restoreSnap: null, lastSeen: '' };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

class ApiError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts || {}));
  const type = r.headers.get('Content-Type') || '';
  if (!r.ok) {
    if (type.startsWith('application/json')) {
      const j = await r.json();
      if (j && j.error) throw new ApiError(j.error.kind, j.error.message);
    }
    throw new ApiError('error', `${r.status} ${r.statusText}`);
  }
  return type.startsWith('application/json') ? r.json() : r;
}

const post = (path, body) => api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
const q = (params) => new URLSearchParams(params).toString();

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${u[i]}`;
}
const when = (ms) => new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

function ago(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  const a = Math.abs(s);
  const t = a < 90 ? `${a} s` : a < 5400 ? `${Math.round(a / 60)} min` : a < 129600 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} days`;
  return s >= 0 ? `${t} ago` : `in ${t}`;
}

function toast(msg, bad) {
  const t = $('toast');
  t.textContent = msg;
  t.className = bad ? 'show bad' : 'show';
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ''; }, 6000);
}

// ---- profiles -------------------------------------------------------------

async function loadProfiles() {
  const data = await api('/api/profiles');
  state.profiles = data.profiles;
  state.lastCheck = data.last_check;
  $('repo').textContent = `Repository ${data.repository} · ${bytes(data.stored_bytes)} stored`;
  if (!state.profile && data.profiles.length) state.profile = data.profiles[0].settings.name;
  const ul = $('profiles');
  ul.replaceChildren(...data.profiles.map((p) => {
    const s = p.settings;
    const last = p.last ? `last ${ago(p.last.time_ms)}` : 'no snapshot yet';
    return el('li', {},
      el('button', { type: 'button', class: 'profile', 'aria-current': s.name === state.profile ? 'true' : null, onclick: () => selectProfile(s.name) },
        el('strong', { text: s.name }),
        el('span', { class: 'muted', text: `${p.snapshots} snapshot${p.snapshots === 1 ? '' : 's'} · ${last}` })));
  }));
  renderStatus();
}

function nextDue(p) {
  const s = p.settings;
  if (!s.auto) return 'automatic snapshots are off';
  if (!p.next_due_ms) return `every ${s.interval}, once \`snap auto\` runs`;
  if (p.next_due_ms <= Date.now()) return `due now (every ${s.interval}): at the next \`snap auto\` round`;
  return `${when(p.next_due_ms)} (${ago(p.next_due_ms)}), every ${s.interval}`;
}

function lastCheck(c) {
  if (!c) return 'never: run `snap check` (add --read-data to read every byte)';
  const found = c.ok ? 'no problems' : `${c.problems} problem${c.problems === 1 ? '' : 's'} found: run \`snap check\` for the list`;
  return `${when(c.time_ms)} (${ago(c.time_ms)}), ${c.read_data ? 'all data read' : 'structure only, without --read-data'}: ${found}`;
}

function current() { return state.profiles.find((p) => p.settings.name === state.profile); }

function renderStatus() {
  const p = current();
  const box = $('profile-status');
  if (!p) { box.replaceChildren(el('p', { class: 'muted', text: 'No profiles yet: run `snap create DIR` once.' })); return; }
  const s = p.settings;
  const items = [
    ['Folder', s.path],
    ['Last snapshot', p.last ? `${when(p.last.time_ms)} (${ago(p.last.time_ms)})` : 'none yet'],
    ['Next automatic snapshot', nextDue(p)],
    ['Last check', lastCheck(state.lastCheck)],
    ['Stored', p.stored_bytes === null ? '–' : `${bytes(p.stored_bytes)} for ${bytes(p.logical_bytes)} of snapshots (dedup ${p.dedup_ratio.toFixed(1)}×)`],
  ];
  box.replaceChildren(el('h2', { id: 'profile-title', text: s.name }),
    el('dl', { class: 'facts' }, items.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])));
}

async function selectProfile(name) {
  state.profile = name;
  state.browse = { snap: null, path: '' };
  await refresh();
}

// ---- timeline -------------------------------------------------------------

async function loadSnapshots() {
  if (!state.profile) { state.snapshots = []; renderTimeline(); return; }
  state.snapshots = await api(`/api/snapshots?${q({ profile: state.profile })}`);
  renderTimeline();
  fillSelects();
}

function renderTimeline() {
  const tbody = $('timeline').tBodies[0];
  $('timeline-empty').hidden = state.snapshots.length > 0;
  tbody.replaceChildren(...state.snapshots.map((s) => el('tr', { 'data-id': s.id },
    el('td', {}, el('time', { datetime: new Date(s.time_ms).toISOString(), text: when(s.time_ms) })),
    el('td', {}, el('span', { text: s.name }), el('br'), el('code', { class: 'muted', text: s.short_id })),
    el('td', { text: bytes(s.bytes) }),
    el('td', { text: s.files }),
    el('td', { class: 'counts', 'aria-label': `${s.added} added, ${s.changed} modified, ${s.removed} removed` },
      el('span', { class: 'add', text: `+${s.added}` }), ' ', el('span', { class: 'mod', text: `M${s.changed}` }), ' ', el('span', { class: 'del', text: `−${s.removed}` })),
    el('td', {}, s.tags.map((t) => el('span', { class: `tag tag-${t}`, text: t }))),
    el('td', { class: 'row-actions' },
      el('button', { type: 'button', onclick: () => openBrowse(s.id), 'aria-label': `Browse ${s.name}`, text: 'Browse' }),
      el('button', { type: 'button', onclick: () => openRestore(s), 'aria-label': `Restore ${s.name}`, text: 'Restore…' }),
      el('a', { class: 'button', href: `/api/export?${q({ snapshot: s.id })}`, download: `${s.name}.zip`, 'aria-label': `Export ${s.name} as ZIP`, text: 'ZIP' }),
      el('button', { type: 'button', onclick: () => exportVault(s), 'aria-label': `Export ${s.name} as vault`, text: 'Vault…' }),
      el('button', { type: 'button', class: 'pin', 'aria-pressed': s.tags.includes('keep') ? 'true' : 'false', onclick: () => pinOne(s), 'aria-label': `${s.tags.includes('keep') ? 'Unpin' : 'Pin'} ${s.name}`, text: s.tags.includes('keep') ? 'Unpin' : 'Pin' }),
      el('button', { type: 'button', class: 'danger', onclick: () => forgetOne(s), 'aria-label': `Forget ${s.name}`, text: 'Forget' })))));
}

function fillSelects() {
  const opts = (extra) => [...extra, ...state.snapshots.map((s) => el('option', { value: s.id, text: `${when(s.time_ms)} — ${s.name}` }))];
  for (const [id, extra] of [['browse-snapshot', []], ['diff-a', []], ['diff-b', [el('option', { value: 'live', text: 'The live folder now' })]]]) {
    const sel = $(id);
    const keep = sel.value;
    sel.replaceChildren(...opts(extra));
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }
  if (!$('diff-a').dataset.touched && state.snapshots.length > 1) {
    $('diff-a').value = state.snapshots[1].id;
    $('diff-b').value = state.snapshots[0].id;
  }
}

async function pinOne(s) {
  const pinned = s.tags.includes('keep');
  try {
    await post('/api/tag', pinned ? { snapshot: s.id, remove: ['keep'] } : { snapshot: s.id, add: ['keep'] });
    toast(pinned ? `Unpinned ${s.name}: rotation may remove it again.` : `Pinned ${s.name}: forget and rotation keep it.`);
    await refresh();
  } catch (e) { toast(e.message, true); }
}

async function forgetOne(s) {
  if (!confirm(`Forget snapshot ${s.name} (${s.short_id})? Its data is reclaimed by the next gc.`)) return;
  try {
    await post('/api/forget', { snapshot: s.id });
    toast(`Forgot ${s.name}.`);
    await refresh();
  } catch (e) { toast(e.message, true); }
}

// ---- tabs -----------------------------------------------------------------

const TABS = ['timeline', 'browse', 'diff'];
function showTab(name, focus) {
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute('aria-selected', on ? 'true' : 'false');
    tab.tabIndex = on ? 0 : -1;
    $(`view-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
}
function wireTabs() {
  TABS.forEach((t, i) => {
    const tab = $(`tab-${t}`);
    tab.addEventListener('click', () => { showTab(t); if (t === 'browse') ensureBrowse(); });
    tab.addEventListener('keydown', (ev) => {
      const d = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
      if (!d) return;
      const next = TABS[(i + d + TABS.length) % TABS.length];
      showTab(next, true);
      if (next === 'browse') ensureBrowse();
    });
  });
}

// ---- browser --------------------------------------------------------------

function ensureBrowse() {
  if (!state.browse.snap && state.snapshots.length) openBrowse(state.snapshots[0].id);
}

async function openBrowse(id, path) {
  state.browse = { snap: id, path: path || '' };
  $('browse-snapshot').value = id;
  showTab('browse');
  await renderFolder();
}

async function renderFolder() {
  const { snap, path } = state.browse;
  const crumbs = [['All files', '']];
  let acc = '';
  for (const part of path.split('/').filter(Boolean)) { acc = acc ? `${acc}/${part}` : part; crumbs.push([part, acc]); }
  $('crumbs').replaceChildren(...crumbs.map(([label, p], i) => el('li', {},
    i === crumbs.length - 1 ? el('span', { 'aria-current': 'location', text: label }) : el('button', { type: 'button', class: 'link', onclick: () => openBrowse(snap, p), text: label }))));
  try {
    const entries = await api(`/api/ls?${q({ snapshot: snap, path })}`);
    $('entries').replaceChildren(...entries.map((e) => {
      const name = e.path.split('/').pop();
      const isDir = e.kind === 'dir';
      return el('li', {}, el('button', { type: 'button', class: `entry ${e.kind}`, onclick: () => (isDir ? openBrowse(snap, e.path) : preview(e)) },
        el('span', { 'aria-hidden': 'true', class: 'icon', text: isDir ? '▸' : e.kind === 'symlink' ? '↪' : '▤' }),
        el('span', { class: 'name', text: isDir ? `${name}/` : name }),
        el('span', { class: 'muted size', text: isDir ? '' : bytes(e.size) })));
    }));
    if (!entries.length) $('entries').replaceChildren(el('li', { class: 'muted', text: 'This folder is empty.' }));
  } catch (e) { $('entries').replaceChildren(el('li', { class: 'error', text: e.message })); }
}

function kindOf(path) {
  const ext = (path.split('.').pop() || '').toLowerCase();
  if (['png', 'jpg', 'jpeg', 'gif', 'webp'].includes(ext)) return 'image';
  if (ext === 'json') return 'json';
  return 'other';
}

async function preview(e, snapId) {
  const snap = snapId || state.browse.snap;
  const url = `/api/file?${q({ snapshot: snap, path: e.path })}`;
  const box = $('preview');
  const head = el('div', { class: 'preview-head' },
    el('h3', { text: e.path }),
    el('p', { class: 'muted', text: `${bytes(e.size)} · modified ${when(e.mtime_ns / 1e6)}` }),
    el('div', { class: 'row wrap' },
      el('a', { class: 'button', href: `${url}&download=1`, download: e.path.split('/').pop(), text: 'Download' }),
      el('button', { type: 'button', onclick: () => versions(e.path), text: 'Every version of this file' })));
  box.replaceChildren(head, el('p', { class: 'muted', text: 'Loading…' }));
  let body;
  try {
    const kind = kindOf(e.path);
    if (kind === 'image') {
      body = el('img', { src: url, alt: `Preview of ${e.path}`, class: 'image-preview' });
    } else {
      const r = await fetch(url, { credentials: 'same-origin' });
      if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
      const buf = new Uint8Array(await r.arrayBuffer());
      let text = null;
      try { text = new TextDecoder('utf-8', { fatal: true }).decode(buf.slice(0, 1 << 20)); } catch (_) { text = null; }
      if (text !== null && text.includes('\u0000')) text = null;
      if (text === null) body = el('p', { class: 'muted', text: 'No preview for this kind of file; download it instead.' });
      else if (kind === 'json') {
        let pretty = text;
        try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* shown as it is */ }
        body = el('pre', { class: 'code json', tabindex: '0', 'aria-label': `Content of ${e.path}`, text: pretty });
      } else {
        body = el('pre', { class: 'code', tabindex: '0', 'aria-label': `Content of ${e.path}`, text: text + (buf.length > (1 << 20) ? '\n…' : '') });
      }
    }
  } catch (err) { body = el('p', { class: 'error', text: err.message }); }
  box.replaceChildren(head, body);
}

async function versions(path) {
  const box = $('preview');
  try {
    const list = await api(`/api/versions?${q({ profile: state.profile, path })}`);
    const table = el('table', { class: 'versions' }, el('caption', { text: `Every version of ${path}, newest first` }),
      el('thead', {}, el('tr', {}, ['Snapshot', 'Size', 'Changed', ''].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, list.map((v) => el('tr', {},
        el('td', {}, el('time', { text: when(v.time_ms) }), el('br'), el('code', { class: 'muted', text: v.short_id })),
        el('td', { text: bytes(v.size) }),
        el('td', { text: v.changed ? 'changed' : 'same as before' }),
        el('td', {}, el('button', { type: 'button', onclick: () => preview({ path, size: v.size, mtime_ns: v.mtime_ns }, v.snapshot), text: 'View' }))))));
    box.append(table);
    table.scrollIntoView({ block: 'nearest' });
  } catch (e) { toast(e.message, true); }
}

// ---- diff -----------------------------------------------------------------

async function runDiff(ev) {
  if (ev) ev.preventDefault();
  const a = $('diff-a').value; const b = $('diff-b').value;
  const list = $('diff-list');
  $('diff-text').replaceChildren();
  try {
    const changes = await api(`/api/diff?${q({ a, b })}`);
    if (!changes.length) { list.replaceChildren(el('li', { class: 'muted', text: 'No differences.' })); return; }
    list.replaceChildren(...changes.map((c) => el('li', { class: `change ${c.kind}` },
      el('span', { class: 'marker', 'aria-label': c.kind, text: c.marker === '-' ? '−' : c.marker }),
      c.file ? el('button', { type: 'button', class: 'link', onclick: () => textDiff(a, b, c.path), text: c.path }) : el('span', { text: c.path }))));
  } catch (e) { list.replaceChildren(el('li', { class: 'error', text: e.message })); }
}

async function textDiff(a, b, path) {
  const box = $('diff-text');
  try {
    const d = await api(`/api/textdiff?${q({ a, b, path })}`);
    const head = el('h3', { text: path });
    if (d.binary) { box.replaceChildren(head, el('p', { class: 'muted', text: 'Binary file: no line-by-line view.' })); return; }
    if (!d.hunks.length) { box.replaceChildren(head, el('p', { class: 'muted', text: 'Same content.' })); return; }
    box.replaceChildren(head, ...d.hunks.map((h) => el('pre', { class: 'hunk', tabindex: '0' },
      el('span', { class: 'muted', text: `@@ line ${h.old_start} → ${h.new_start}\n` }),
      h.lines.map((l) => el('span', { class: `line ${l.op}`, text: `${l.op === 'added' ? '+' : l.op === 'removed' ? '−' : ' '} ${l.text}\n` })))));
  } catch (e) { box.replaceChildren(el('p', { class: 'error', text: e.message })); }
}

// ---- restore --------------------------------------------------------------

function restoreRequest(dryRun, force) {
  const folder = document.querySelector('input[name=where]:checked').value === 'folder';
  return {
    snapshot: state.restoreSnap.id,
    target: folder ? $('restore-target').value.trim() : null,
    paths: $('restore-paths').value.split('\n').map((s) => s.trim()).filter(Boolean),
    dry_run: dryRun,
    force: !!force,
  };
}

function openRestore(s) {
  state.restoreSnap = s;
  const p = current();
  $('restore-title').textContent = `Restore ${s.name}`;
  $('restore-summary').replaceChildren(...[
    ['Taken', when(s.time_ms)], ['Contains', `${s.files} files, ${bytes(s.bytes)}`], ['Profile', `${s.profile} (${p ? p.settings.path : ''})`], ['Id', s.short_id],
  ].flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  for (const id of ['restore-plan', 'restore-error', 'restore-result']) { $(id).replaceChildren(); }
  $('restore-error').hidden = true; $('restore-result').hidden = true; $('restore-confirm').hidden = true;
  $('restore-anyway').hidden = true; $('restore-go').disabled = true;
  $('restore-dialog').showModal();
  $('restore-preview').focus();
}

function restoreInvalidate() {
  $('restore-go').disabled = true;
  $('restore-confirm').hidden = true;
  $('restore-plan').replaceChildren();
  $('restore-error').hidden = true;
  $('restore-anyway').hidden = true;
  $('restore-target').disabled = document.querySelector('input[name=where]:checked').value !== 'folder';
}

function restoreError(e) {
  const box = $('restore-error');
  box.hidden = false;
  box.replaceChildren(el('p', { text: e.kind === 'in_use' ? `Another program has the profile open: ${e.message}. Close it first, or restore anyway (that program may keep writing into the replaced files).` : e.message }));
  $('restore-anyway').hidden = e.kind !== 'in_use';
}

async function restorePreview() {
  $('restore-error').hidden = true; $('restore-result').hidden = true;
  try {
    const r = await post('/api/restore', restoreRequest(true));
    const marks = { added: '+', modified: 'M', removed: '−' };
    const plan = $('restore-plan');
    const n = r.changes.length;
    plan.replaceChildren(el('h3', { text: n ? `${n} change${n === 1 ? '' : 's'} to ${r.target}` : `Nothing to change in ${r.target}` }),
      el('ul', { class: 'changes', 'aria-label': 'What the restore will change' }, r.changes.map((c) => el('li', { class: `change ${c.kind}` },
        el('span', { class: 'marker', text: marks[c.kind] || c.kind }), el('span', { text: c.path })))));
    const confirmText = r.in_place
      ? `Before it replaces anything, snap saves the current contents of ${r.target} as a new “pre-restore” snapshot: that is your undo point, listed in the timeline.`
      : `The files are written into ${r.target}, which must be new or empty; the profile folder is not touched.`;
    $('restore-confirm').textContent = confirmText;
    $('restore-confirm').hidden = false;
    $('restore-go').disabled = false;
    $('restore-go').focus();
  } catch (e) { restoreError(e); }
}

function progressLine(p) {
  const pct = p.bytes_total > 0 ? Math.floor((100 * p.bytes_done) / p.bytes_total) : (p.files_total > 0 ? Math.floor((100 * p.files_done) / p.files_total) : 0);
  return { pct, text: `${p.files_done} of ${p.files_total} files, ${bytes(p.bytes_done)} of ${bytes(p.bytes_total)} (${pct}%)` };
}

async function waitForJob(id, res) {
  const bar = el('progress', { id: 'restore-progress', max: '100', value: '0', 'aria-label': 'Restore progress' });
  const line = el('span', { id: 'restore-progress-text', text: 'Starting…' });
  res.replaceChildren(el('p', {}, bar, ' ', line));
  for (;;) {
    const j = await api(`/api/job?${q({ id })}`);
    const p = progressLine(j.progress);
    bar.value = p.pct;
    line.textContent = j.status === 'running' ? `Restoring: ${p.text}` : p.text;
    if (j.status === 'done') return j.result;
    if (j.status === 'failed') throw new ApiError(j.error.kind, j.error.message);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function restoreGo(force) {
  const go = $('restore-go');
  go.disabled = true; $('restore-anyway').hidden = true; $('restore-error').hidden = true;
  const res = $('restore-result');
  res.hidden = false;
  res.setAttribute('aria-busy', 'true');
  res.replaceChildren(el('p', { text: 'Restoring…' }));
  try {
    const started = await post('/api/restore', restoreRequest(false, force));
    const r = await waitForJob(started.job, res);
    const lines = [el('p', { text: `Restored ${r.short_id} into ${r.target}: ${r.files_written} files written, ${r.files_reused} already correct.` })];
    for (const w of r.warnings || []) lines.push(el('p', { class: 'warning', text: `Warning: ${w}` }));
    if (r.undo) lines.push(el('p', { class: 'undo', text: `Undo point: ${r.undo.name} (${r.undo.short_id}). Restore it to go back.` }));
    res.append(...lines);
    toast('Restore done.');
    await refresh();
  } catch (e) {
    res.hidden = true;
    restoreError(e);
    go.disabled = false;
  } finally { res.removeAttribute('aria-busy'); }
}

// ---- settings, create, import, vault --------------------------------------

function openSettings() {
  const p = current();
  if (!p) return;
  const s = p.settings;
  $('set-auto').checked = s.auto;
  $('set-interval').value = [...$('set-interval').options].some((o) => o.value === s.interval) ? s.interval : '30m';
  $('set-count').value = s.retention.max_count || 25;
  $('set-age').value = [...$('set-age').options].some((o) => o.value === s.retention.max_age) ? s.retention.max_age : '30d';
  $('settings-error').hidden = true;
  $('settings-dialog').showModal();
  $('set-auto').focus();
}

async function saveSettings(ev) {
  ev.preventDefault();
  try {
    await post('/api/settings', { profile: state.profile, auto: $('set-auto').checked, interval: $('set-interval').value, max_count: Number($('set-count').value), max_age: $('set-age').value });
    $('settings-dialog').close();
    toast('Settings saved.');
    await refresh();
  } catch (e) {
    $('settings-error').hidden = false;
    $('settings-error').textContent = e.message;
  }
}

async function createNow() {
  const b = $('create-now');
  b.disabled = true;
  try {
    const r = await post('/api/create', { profile: state.profile });
    toast(r.status === 'unchanged' ? 'Nothing changed since the last snapshot.' : `Snapshot ${r.manifest.name} created.`);
    await refresh();
  } catch (e) { toast(e.message, true); } finally { b.disabled = false; }
}

function askPassword(what) {
  return new Promise((resolve) => {
    const d = $('vault-dialog');
    $('vault-what').textContent = what;
    $('vault-password').value = '';
    $('vault-error').hidden = true;
    const done = (v) => { d.close(); resolve(v); };
    $('vault-form').onsubmit = (ev) => { ev.preventDefault(); done($('vault-password').value); };
    $('vault-cancel').onclick = () => done(null);
    d.showModal();
    $('vault-password').focus();
  });
}

function save(blob, name) {
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

async function exportVault(s) {
  const password = await askPassword(`Encrypt ${s.name} into a .stvault file.`);
  if (!password) return;
  try {
    const r = await api('/api/export-vault', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ snapshot: s.id, password }) });
    save(await r.blob(), `${s.name}.stvault`);
  } catch (e) { toast(e.message, true); }
}

async function importFile() {
  const input = $('import-file');
  const file = input.files[0];
  input.value = '';
  if (!file) return;
  const head = new Uint8Array(await file.slice(0, 7).arrayBuffer());
  const isVault = new TextDecoder().decode(head) === 'STVAULT';
  const headers = { 'Content-Type': 'application/octet-stream' };
  if (isVault) {
    const pw = await askPassword(`Decrypt ${file.name}.`);
    if (!pw) return;
    headers['X-Snap-Password'] = pw;
  }
  try {
    const r = await api(`/api/import?${q({ name: file.name, profile: state.profile || '' })}`, { method: 'POST', headers, body: file });
    toast(`Imported ${file.name} as snapshot ${r.short_id} of ${r.profile}.`);
    await refresh();
  } catch (e) { toast(e.message, true); }
}

// ---- live updates ---------------------------------------------------------

async function refresh() {
  try {
    await loadProfiles();
    await loadSnapshots();
    $('live').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) { $('live').textContent = `Cannot reach snap ui: ${e.message}`; }
}

async function poll() {
  // A snapshot taken by `snap auto` or another process shows up here.
  try {
    const all = await api('/api/snapshots');
    const sig = all.map((s) => s.id).join(',');
    if (state.lastSeen && sig !== state.lastSeen) await refresh();
    state.lastSeen = sig;
  } catch (_) { /* the next round tries again */ }
}

function wire() {
  wireTabs();
  $('create-now').addEventListener('click', createNow);
  $('open-settings').addEventListener('click', openSettings);
  $('settings-form').addEventListener('submit', saveSettings);
  $('settings-cancel').addEventListener('click', () => $('settings-dialog').close());
  $('import-file').addEventListener('change', importFile);
  $('browse-snapshot').addEventListener('change', (ev) => openBrowse(ev.target.value));
  $('diff-form').addEventListener('submit', runDiff);
  $('diff-a').addEventListener('change', () => { $('diff-a').dataset.touched = '1'; });
  $('restore-preview').addEventListener('click', restorePreview);
  $('restore-go').addEventListener('click', () => restoreGo(false));
  $('restore-anyway').addEventListener('click', () => restoreGo(true));
  $('restore-cancel').addEventListener('click', () => $('restore-dialog').close());
  for (const r of document.querySelectorAll('input[name=where]')) r.addEventListener('change', restoreInvalidate);
  $('restore-target').addEventListener('input', restoreInvalidate);
  $('restore-paths').addEventListener('input', restoreInvalidate);
}

document.addEventListener('DOMContentLoaded', async () => {
  wire();
  await refresh();
  await poll();
  setInterval(poll, 2000);
});
