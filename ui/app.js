// The operator dashboard: reads /v1/admin/... with the session cookie and redraws itself every
// few seconds. Text from the server is set with textContent only, never parsed as HTML.
'use strict';

const REFRESH_MS = 3000;
const STATES = ['accepted', 'charging', 'unknown', 'success', 'failed'];

function el(id) { return document.getElementById(id); }

async function getJson(path) {
  const response = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (response.status === 401 || response.status === 403) {
    window.location.assign('/ui');  // the session ended: back to the login form
    throw new Error('signed out');
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || ('HTTP ' + response.status));
  return body;
}

function fillTable(id, rows) {
  const body = el(id).querySelector('tbody');
  body.replaceChildren();
  for (const cells of rows) {
    const tr = document.createElement('tr');
    for (const cell of cells) {
      const td = document.createElement('td');
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function orderLink(orderId) {
  const a = document.createElement('a');
  a.href = '#order=' + encodeURIComponent(orderId);
  a.textContent = orderId;
  a.className = 'order-link';
  return a;
}

function time(ms) { return ms ? new Date(ms).toLocaleTimeString() : ''; }
function fixed(value, digits) { return value === null || value === undefined ? '-' : value.toFixed(digits); }

let throughputChart = null;
let latencyChart = null;

function drawCharts(series) {
  const labels = series.map((point) => time(point.at_ms));
  const accepted = series.map((point) => point.accepted_per_s);
  const finished = series.map((point) => point.finished_per_s);
  const latency = series.map((point) => point.latency_mean_s);
  if (throughputChart === null) {
    const options = { animation: false, responsive: true, scales: { y: { beginAtZero: true } } };
    throughputChart = new Chart(el('throughput-chart'), {
      type: 'line',
      data: { labels, datasets: [
        { label: 'accepted', data: accepted, borderColor: '#1f77b4' },
        { label: 'finished', data: finished, borderColor: '#2ca02c' }] },
      options,
    });
    latencyChart = new Chart(el('latency-chart'), {
      type: 'line',
      data: { labels, datasets: [{ label: 'mean s', data: latency, borderColor: '#d62728', spanGaps: true }] },
      options,
    });
    return;
  }
  throughputChart.data.labels = labels;
  throughputChart.data.datasets[0].data = accepted;
  throughputChart.data.datasets[1].data = finished;
  throughputChart.update();
  latencyChart.data.labels = labels;
  latencyChart.data.datasets[0].data = latency;
  latencyChart.update();
}

async function refresh() {
  try {
    const d = await getJson('/v1/admin/dashboard');
    for (const state of STATES) el('count-' + state).textContent = String(d.orders[state]);
    el('interval').textContent = String(d.interval_ms / 1000);
    el('notify-pending').textContent = String(d.notifications.pending);
    el('notify-delivered').textContent = String(d.notifications.delivered);
    el('notify-given-up').textContent = String(d.notifications.given_up);
    drawCharts(d.series);
    fillTable('deadlines', d.nearest_deadline.map((o) => [
      orderLink(o.order_id), o.merchant_id, o.status,
      String(Math.round((o.deadline_ms - d.now_ms) / 1000))]));
    fillTable('channels', d.channels.map((c) => {
      const breaker = document.createElement('span');
      breaker.textContent = c.breaker;
      breaker.className = 'breaker-' + c.breaker;
      return [c.channel, breaker, c.attempts_in_flight + ' / ' + c.attempt_limit,
        c.success_rate === null ? '-' : (100 * c.success_rate).toFixed(1) + ' %',
        c.submit_latency_mean_s === null ? '-' : fixed(1000 * c.submit_latency_mean_s, 0) + ' ms'];
    }));
    el('refreshed').textContent = 'refreshed ' + time(d.now_ms) +
      (d.sampled_ms ? ', counts of ' + time(d.sampled_ms) : '');
    document.body.dataset.sampledMs = String(d.sampled_ms || 0);
  } catch (error) {
    el('refreshed').textContent = 'refresh failed: ' + error.message;
  }
  setTimeout(refresh, REFRESH_MS);
}

async function search(event) {
  event.preventDefault();
  const q = el('search-q').value.trim();
  if (!q) return;
  try {
    const found = await getJson('/v1/admin/search?q=' + encodeURIComponent(q));
    fillTable('results', found.orders.length === 0 ? [['no order found', '', '', '']]
      : found.orders.map((o) => [orderLink(o.order_id), o.merchant_order_id, o.phone, o.status]));
  } catch (error) {
    fillTable('results', [['search failed: ' + error.message, '', '', '']]);
  }
}

// Attempts, from the events: each event names the attempt it belongs to.
function attemptsOf(events) {
  const attempts = new Map();
  for (const e of events) {
    if (!e.attempt_no) continue;
    const attempt = attempts.get(e.attempt_no) || { started: e.at_ms, last: e, no: e.attempt_no };
    attempt.last = e;
    attempts.set(e.attempt_no, attempt);
  }
  return [...attempts.values()].map((a) => [String(a.no), time(a.started), a.last.kind, a.last.detail]);
}

async function showOrder() {
  const match = /^#order=(.+)$/.exec(window.location.hash);
  if (!match) { el('order').hidden = true; return; }
  const orderId = decodeURIComponent(match[1]);
  const id = encodeURIComponent(orderId);
  try {
    const [history, notifications] = await Promise.all([
      getJson('/v1/admin/orders/' + id), getJson('/v1/admin/orders/' + id + '/notifications')]);
    const o = history.order;
    el('order-id').textContent = o.order_id;
    el('order-summary').textContent = o.merchant_id + ' / ' + o.merchant_order_id + ' · ' + o.phone +
      ' · ' + o.face_value + ' yuan · ' + o.status;
    fillTable('order-events', history.events.map((e) => [
      time(e.at_ms), e.kind, e.from + ' → ' + e.to, String(e.attempt_no), e.detail]));
    fillTable('order-attempts', attemptsOf(history.events));
    fillTable('order-notifications', notifications.notifications.map((n) => [
      String(n.notification_id), n.state, n.order_status, String(n.tries), time(n.delivered_ms)]));
    el('order').hidden = false;
  } catch (error) {
    el('order-id').textContent = orderId;
    el('order-summary').textContent = 'not shown: ' + error.message;
    el('order').hidden = false;
  }
}

if (el('login-form')) {
  el('login-failed').hidden = !window.location.search.includes('login=failed');
} else {
  el('search-form').addEventListener('submit', search);
  window.addEventListener('hashchange', showOrder);
  refresh();
  showOrder();
}
