// Drives Debian's chromium (headless, through puppeteer-core) over the operator dashboard:
// signs in with the admin token, waits until the counts shown are the expected ones and the
// ones the dashboard API answers, searches an order and opens its history, and writes a
// screenshot. Exits 0 when every check held; otherwise prints what failed and exits 1.
//
//   node dashboard_check.js --url http://127.0.0.1:PORT --token TOKEN --expect success=5,failed=1
//        --search MERCHANT_ORDER_ID --order ORDER_ID --screenshot FILE [--wait-ms 20000]
'use strict';

const puppeteer = require('puppeteer-core');

const STATES = ['accepted', 'charging', 'unknown', 'success', 'failed'];

function parseArgs(argv) {
  const args = { waitMs: 20000, browser: '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    args[name] = argv[i + 1];
  }
  args.waitMs = Number(args.waitMs);
  args.expected = {};
  for (const state of STATES) args.expected[state] = 0;
  for (const pair of (args.expect || '').split(',').filter(Boolean)) {
    const [state, count] = pair.split('=');
    args.expected[state] = Number(count);
  }
  return args;
}

async function shownCounts(page) {
  return page.evaluate((states) => {
    const counts = {};
    for (const state of states) counts[state] = Number(document.getElementById('count-' + state).textContent);
    return counts;
  }, STATES);
}

function same(a, b) { return STATES.every((state) => a[state] === b[state]); }

async function check(args) {
  const browser = await puppeteer.launch({
    executablePath: args.browser,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--no-first-run', '--no-default-browser-check'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1400 });
  const external = [];
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    // Everything must come from the server itself: anything else is refused and reported.
    if (!request.url().startsWith(args.url) && !request.url().startsWith('data:')) {
      external.push(request.url());
      request.abort();
    } else {
      request.continue();
    }
  });
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  try {
    await page.goto(args.url + '/ui', { waitUntil: 'load' });
    await page.type('#token', args.token);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#login')]);
    if (await page.$('#count-success') === null) {
      throw new Error('login failed: the dashboard did not open (' + page.url() + ')');
    }
    const cookies = await page.cookies();
    const session = cookies.find((c) => c.name === 'topup_session');
    if (!session || !session.httpOnly || session.sameSite !== 'Strict' || session.value.includes(args.token)) {
      throw new Error('the session cookie is not HttpOnly and SameSite=Strict: ' + JSON.stringify(session));
    }

    // The counts shown must become the expected ones, and be what the API answers.
    const deadline = Date.now() + args.waitMs;
    let shown = null;
    let api = null;
    for (;;) {
      shown = await shownCounts(page);
      api = (await page.evaluate(async () => (await fetch('/v1/admin/dashboard')).json())).orders;
      if (same(shown, args.expected) && same(api, args.expected)) break;
      if (Date.now() > deadline) {
        throw new Error('counts shown ' + JSON.stringify(shown) + ', API ' + JSON.stringify(api) +
          ', expected ' + JSON.stringify(args.expected));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const channels = await page.$$eval('#channels tbody tr', (rows) => rows.length);
    if (channels < 1) throw new Error('no channel shown');

    // Search by merchant order id, then open the order's history.
    await page.type('#search-q', args.search);
    await page.click('#search-go');
    await page.waitForFunction((id) => [...document.querySelectorAll('#results a.order-link')]
      .some((a) => a.textContent === id), { timeout: 10000 }, args.order);
    await page.$$eval('#results a.order-link', (links, id) => links.find((a) => a.textContent === id).click(), args.order);
    await page.waitForFunction(() => !document.getElementById('order').hidden &&
      document.querySelectorAll('#order-events tbody tr').length > 0, { timeout: 10000 });
    const events = await page.$$eval('#order-events tbody tr', (rows) => rows.map((r) => r.cells[1].textContent));
    const attempts = await page.$$eval('#order-attempts tbody tr', (rows) => rows.length);
    const shownId = await page.$eval('#order-id', (e) => e.textContent);
    if (shownId !== args.order) throw new Error('order page shows ' + shownId + ', not ' + args.order);
    if (events[0] !== 'accepted' || attempts < 1) {
      throw new Error('order history incomplete: events ' + JSON.stringify(events) + ', attempts ' + attempts);
    }
    await page.waitForFunction(() => document.getElementById('refreshed').textContent.startsWith('refreshed'));
    await page.screenshot({ path: args.screenshot, fullPage: true });
    if (external.length > 0) throw new Error('requests left the machine: ' + external.join(' '));
    if (pageErrors.length > 0) throw new Error('errors in the page: ' + pageErrors.join('; '));
    console.log('dashboard checked: counts ' + JSON.stringify(shown) + ', order ' + args.order +
      ' with ' + events.length + ' events and ' + attempts + ' attempts; screenshot ' + args.screenshot);
  } finally {
    await browser.close();
  }
}

const args = parseArgs(process.argv.slice(2));
// Bounded whatever happens inside the browser.
const bound = setTimeout(() => { console.error('dashboard check: timed out'); process.exit(2); }, args.waitMs + 30000);
check(args).then(() => { clearTimeout(bound); process.exit(0); }, (error) => {
  console.error('dashboard check failed: ' + error.message);
  process.exit(1);
});
