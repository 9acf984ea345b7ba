// goldloop tagger: one item at a time, keyboard first, the next items preloaded.
// Security: post data is only ever put in the page with textContent (never innerHTML);
// links are inert text until clicked, then opened with noopener/noreferrer.
(function () {
  'use strict';

  const root = document.getElementById('tagger');
  if (!root) return;
  const cfg = JSON.parse(root.dataset.config);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const els = {
    post: $('post'), text: $('post-text'), meta: $('post-meta'), context: $('context'),
    hints: $('hints'), hintList: $('hint-list'), status: $('status'), progress: $('progress'),
    progressText: $('progress-text'), help: $('help'), shortcuts: $('toggle-shortcuts'), showHints: $('toggle-hints'),
  };
  const labelButtons = Array.from(root.querySelectorAll('[data-label]'));
  const RETRY_EMPTY_MS = 500;
  const RECHECK_EXHAUSTED_MS = 15000;

  const state = {
    buffer: [],            // preloaded items, next first
    current: null,         // item on screen
    shownAt: 0,            // performance.now() when it appeared
    pending: new Set(),    // post ids answered but not yet acknowledged
    answered: new Map(),   // post id -> item, to show it again on undo
    writes: Promise.resolve(),  // answers and undos are sent one after another, in order
    fetching: null,
    retry: null,           // timer that asks for items again after an empty answer
    cursor: null,          // where the queue resumes after the items fetched so far
    exhausted: false,
    exhaustedMessage: '',
    progress: { done: 0, total: 0 },
  };

  // ---- server -------------------------------------------------------------------------
  function queueParams() {
    const p = new URLSearchParams();
    Object.entries(cfg.queue).forEach(([k, v]) => p.set(k, v));
    return p;
  }

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'Content-Type': 'application/json', 'X-CSRFToken': csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) { window.location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search)); }
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty body */ }
    if (!res.ok) {
      const err = new Error(data.error || ('HTTP ' + res.status));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function held() {
    const ids = state.buffer.map((i) => i.post_id).concat(Array.from(state.pending));
    if (state.current) ids.push(state.current.post_id);
    return ids;
  }

  function refill(withProgress) {
    if (state.fetching) return state.fetching;
    const want = cfg.prefetch - state.buffer.length;
    if (want <= 0 || (state.exhausted && !withProgress)) return Promise.resolve();
    const p = queueParams();
    p.set('n', String(Math.max(want, 1)));
    p.set('hints', '1');
    p.set('exclude', held().join(','));
    if (state.cursor) p.set('cursor', state.cursor);
    if (withProgress) p.set('progress', '1');
    state.fetching = api('GET', '/api/next?' + p.toString())
      .then((data) => {
        const known = new Set(held());
        data.items.forEach((item) => { if (!known.has(item.post_id)) state.buffer.push(item); });
        state.exhausted = data.exhausted === true;
        if (data.cursor) state.cursor = data.cursor;
        state.exhaustedMessage = data.exhausted ? (data.message || '') : '';
        if (data.progress) { state.progress = data.progress; renderProgress(); }
        if (!data.available) announce(data.message);
      })
      .catch((err) => announce('Could not load items: ' + err.message))
      .finally(() => { state.fetching = null; });
    return state.fetching;
  }

  // ---- rendering ----------------------------------------------------------------------
  const TOKEN = /(https?:\/\/[^\s]+)|([#＃][\p{L}\p{N}_]+)|(@[A-Za-z0-9_]+)/gu;

  function renderText(container, text) {
    container.replaceChildren();
    let last = 0;
    for (const m of text.matchAll(TOKEN)) {
      if (m.index > last) container.appendChild(document.createTextNode(text.slice(last, m.index)));
      const span = document.createElement('span');
      span.textContent = m[0];
      if (m[1]) {
        span.className = 'inert-link';
        span.title = 'Click to open in a new tab';
        span.dataset.href = m[1];
      } else {
        span.className = m[2] ? 'hashtag' : 'mention';
      }
      container.appendChild(span);
      last = m.index + m[0].length;
    }
    if (last < text.length) container.appendChild(document.createTextNode(text.slice(last)));
  }

  function openLink(event) {
    const target = event.target.closest('.inert-link');
    if (!target) return;
    const url = target.dataset.href;
    if (!/^https?:\/\//i.test(url)) return;
    const a = document.createElement('a');
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.click();
  }

  function renderProgress() {
    const { done, total } = state.progress;
    els.progress.setAttribute('aria-valuemax', String(total));
    els.progress.setAttribute('aria-valuenow', String(Math.min(done, total)));
    els.progress.firstElementChild.style.width = total ? (100 * Math.min(done, total) / total) + '%' : '0';
    els.progressText.textContent = total ? `${done} / ${total} done` : '';
  }

  function renderHints(item) {
    els.hintList.replaceChildren();
    const h = item.hints || { lf_votes: [], predictions: [] };
    const line = (text) => { const li = document.createElement('li'); li.textContent = text; els.hintList.appendChild(li); };
    h.predictions.forEach((p) => line(`${p.source}: ${p.label} (${p.confidence.toFixed(2)})`));
    h.lf_votes.forEach((v) => line(`LF ${v.lf}: ${v.label}`));
    if (!h.predictions.length && !h.lf_votes.length) line('No LF votes or predictions for this item.');
    els.hints.hidden = !els.showHints.checked;
  }

  function renderContext(item) {
    const parts = [];
    if (item.prediction) parts.push(`Model (${item.prediction.source}) predicts: ${item.prediction.label} (${item.prediction.confidence.toFixed(2)})`);
    if (cfg.queue.queue !== 'split' && cfg.queue.queue !== 'random' && item.golden_label) parts.push(`Current golden label: ${item.golden_label}`);
    if (item.my_label) parts.push(`Your label: ${item.my_label}`);
    els.context.textContent = parts.join(' · ');
    els.context.hidden = parts.length === 0;
  }

  function show(item) {
    state.current = item;
    if (!item) {
      els.post.dataset.postId = '';
      els.meta.textContent = '';
      els.text.textContent = state.exhausted ? (state.exhaustedMessage || 'Nothing left in this queue.') : 'Loading…';
      els.context.hidden = true;
      els.hints.hidden = true;
      return;
    }
    els.post.dataset.postId = item.post_id;
    const bits = [];
    if (item.author) bits.push('@' + item.author);
    if (item.created_at) bits.push(item.created_at.slice(0, 10));
    if (item.split) bits.push('split ' + item.split);
    bits.push('id ' + item.post_id);
    els.meta.textContent = bits.join(' · ');
    renderText(els.text, item.text);
    renderContext(item);
    renderHints(item);
    state.shownAt = performance.now();
  }

  async function showNext() {
    if (!state.buffer.length) {
      show(null);
      await refill(false);
    }
    if (state.current) return;  // an undo put an item on screen meanwhile
    const item = state.buffer.shift() || null;
    show(item);
    if (item) refill(false);
    else if (!state.retry) {
      // Nothing to show: ask again soon (others held the next items) or now and then (the queue
      // was exhausted, but undos, expired leases and new queues bring items back).
      state.retry = setTimeout(() => {
        state.retry = null;
        state.exhausted = false;
        if (!state.current) showNext();
      }, state.exhausted ? RECHECK_EXHAUSTED_MS : RETRY_EMPTY_MS);
    }
  }

  function announce(message) {
    els.status.textContent = message;
  }

  // ---- answering ----------------------------------------------------------------------
  function answer(fields, description) {
    const item = state.current;
    if (!item) return;
    const body = Object.assign({}, cfg.queue, fields, {
      post_id: item.post_id,
      duration_ms: Math.round(performance.now() - state.shownAt),
    });
    state.pending.add(item.post_id);
    state.answered.set(item.post_id, item);
    document.body.dataset.pending = String(state.pending.size);
    state.current = null;
    showNext();
    state.writes = state.writes.then(() => api('POST', '/api/submit', body))
      .then((row) => {
        state.progress.done += 1;
        renderProgress();
        announce(`Saved: ${row.action === 'skip' ? 'skipped' : row.label} (post ${row.post_id}).`);
      })
      .catch((err) => {
        if (err.status === 409) {  // refused for good (held by someone else, enough labels): move on
          announce(`Not saved: ${err.message}.`);
          return;
        }
        announce(`Not saved (${err.message}); the item is back.`);
        if (state.current) state.buffer.unshift(state.current);
        show(item);
      })
      .finally(() => {
        state.pending.delete(item.post_id);
        document.body.dataset.pending = String(state.pending.size);
      });
    announce(`${description}…`);
  }

  function chooseLabel(label) { answer({ action: 'label', label }, `Labeling ${label}`); }
  function skip() { answer({ action: 'skip' }, 'Skipping'); }
  function review(verdict) { if (cfg.queue.queue === 'predictions') answer({ action: 'label', answer: verdict }, verdict === 'accept' ? 'Accepting' : 'Rejecting'); }

  function undo() {
    state.pending.add('__undo__');
    document.body.dataset.pending = String(state.pending.size);
    state.writes = state.writes.then(() => api('POST', '/api/undo?hints=1', {}))
      .then((res) => {
        const item = state.answered.get(res.undone.post_id) || res.item;
        if (state.current) state.buffer.unshift(state.current);
        state.progress.done = Math.max(0, state.progress.done - 1);
        renderProgress();
        show(item);
        announce(`Undone: ${res.undone.action === 'skip' ? 'skip' : res.undone.label} on post ${res.undone.post_id}. Answer it again.`);
      })
      .catch((err) => announce(err.status === 404 ? 'Nothing to undo.' : `Undo failed: ${err.message}`))
      .finally(() => {
        state.pending.delete('__undo__');
        document.body.dataset.pending = String(state.pending.size);
      });
  }

  // ---- help, toggles, keyboard ----------------------------------------------------------
  function toggleHelp(open) {
    const want = open === undefined ? !els.help.open : open;
    if (want && !els.help.open) els.help.showModal();
    if (!want && els.help.open) els.help.close();
    $('btn-help').setAttribute('aria-expanded', String(want));
  }

  function setHints(on) {
    els.showHints.checked = on;
    localStorage.setItem('goldloop.hints', on ? '1' : '0');
    els.hints.hidden = !on || !state.current;
    announce(on ? 'Hints shown.' : 'Hints hidden.');
  }

  function typing(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable || target.closest('textarea, select')) return true;
    return target.matches('input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit])');
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (els.help.open) {
      if (event.key === '?') { event.preventDefault(); toggleHelp(false); }
      return;  // Escape is handled by the dialog itself
    }
    if (!els.shortcuts.checked || typing(event.target)) return;
    const key = event.key;
    let handled = true;
    if (/^[1-9]$/.test(key) && labelButtons[Number(key) - 1]) chooseLabel(labelButtons[Number(key) - 1].dataset.label);
    else if (key === 's') skip();
    else if (key === 'u' || key === 'Backspace') undo();
    else if (key === '?') toggleHelp(true);
    else if (key === 'h') setHints(!els.showHints.checked);
    else if (key === 'a' && cfg.queue.queue === 'predictions') review('accept');
    else if (key === 'x' && cfg.queue.queue === 'predictions' && cfg.binary) review('reject');
    else handled = false;
    if (handled) event.preventDefault();
  }

  labelButtons.forEach((b) => b.addEventListener('click', () => chooseLabel(b.dataset.label)));
  root.querySelectorAll('[data-answer]').forEach((b) => b.addEventListener('click', () => review(b.dataset.answer)));
  $('btn-skip').addEventListener('click', skip);
  $('btn-undo').addEventListener('click', undo);
  $('btn-help').addEventListener('click', () => toggleHelp());
  $('help-close').addEventListener('click', () => toggleHelp(false));
  els.help.addEventListener('close', () => $('btn-help').setAttribute('aria-expanded', 'false'));
  els.text.addEventListener('click', openLink);
  els.shortcuts.checked = localStorage.getItem('goldloop.shortcuts') !== '0';
  els.shortcuts.addEventListener('change', () => {
    localStorage.setItem('goldloop.shortcuts', els.shortcuts.checked ? '1' : '0');
    announce(els.shortcuts.checked ? 'Keyboard shortcuts on.' : 'Keyboard shortcuts off.');
  });
  els.showHints.checked = localStorage.getItem('goldloop.hints') === '1';
  els.showHints.addEventListener('change', () => setHints(els.showHints.checked));
  document.addEventListener('keydown', onKey);

  document.body.dataset.pending = '0';
  refill(true).then(showNext);
})();
