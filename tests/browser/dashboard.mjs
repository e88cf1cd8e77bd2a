// The dashboards in a real browser: Playwright driving Debian's Chromium
// against the real binary (started by tests/dashboard.rs, which passes the
// addresses and tokens in the environment). Each step asserts what an
// officer would see; a screenshot of each page goes to SHOTS. Prints one
// JSON line of what it checked; exits 1 with the failed step on error.

import { chromium } from 'playwright-core';
import { readFile } from 'node:fs/promises';
import assert from 'node:assert/strict';

const BASE = process.env.LT_BASE;
const LINK = process.env.LT_LINK;
const VIEWER = process.env.LT_VIEWER_TOKEN;
const SHOTS = process.env.LT_SHOTS;
const CHROMIUM = process.env.LT_CHROMIUM || '/usr/bin/chromium';

const report = {};
let step = 'launch';

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

/// A new browser context in `locale` that fails the test on any dialog
/// (a script that ran from chain data would open one).
async function context(locale) {
  const ctx = await browser.newContext({ locale, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  ctx.on('page', (p) => p.on('dialog', (d) => { throw new Error(`a dialog opened: ${d.message()}`); }));
  return ctx;
}

/// Signs in through the form with `token`, starting from `path`.
async function signIn(page, token, path) {
  await page.goto(BASE + path);
  assert.match(new URL(page.url()).pathname, /^\/login$/, 'an anonymous visitor is sent to sign in');
  await page.getByLabel(/API token/).fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === new URL(BASE + path).pathname);
}

try {
  // ---- An administrator: the demo's one-time link, then the pages. ----
  const admin = await context('en-US');
  const page = await admin.newPage();
  page.on('dialog', (d) => { throw new Error(`a dialog opened: ${d.message()}`); });

  step = 'sign in with the one-time link';
  await page.goto(BASE + LINK);
  await page.waitForURL((u) => u.pathname === '/');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  step = 'the link works once';
  const again = await admin.request.get(BASE + LINK, { maxRedirects: 0 });
  assert.equal(again.status(), 401, 'a used sign-in link is refused');

  step = 'overview charts';
  for (const id of ['volume', 'per-rule', 'per-severity', 'statuses']) {
    const chart = page.locator(`svg#${id}`);
    await chart.waitFor();
    const bars = await chart.locator('rect.bar').count();
    assert.ok(bars > 0, `chart ${id} has bars`);
    const box = await chart.boundingBox();
    assert.ok(box && box.width > 100 && box.height > 50, `chart ${id} is drawn (${JSON.stringify(box)})`);
    report[`chart_${id}_bars`] = bars;
  }
  step = 'keyboard: the first Tab reaches the skip link, which moves to the content';
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');

  const head = Number(await page.locator('#head').textContent());
  assert.ok(head > 0, 'the overview shows the verified head');
  await shot(page, 'overview');

  step = 'search 汇款';
  /// Every visible form control has a label.
  const unlabelled = async (p) => p.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
    .map((el) => el.name || el.id));
  await page.getByRole('link', { name: 'Search', exact: true }).click();
  await page.getByLabel('Search text').fill('汇款');
  await page.getByLabel('Search text').press('Enter');
  await page.waitForURL(/\/search\?q=/);
  const rows = page.locator('table.data tbody tr');
  await rows.first().waitFor();
  const shown = await rows.count();
  assert.ok(shown > 0, 'rows match 汇款');
  const marks = await page.locator('table.data tbody mark').allTextContents();
  assert.ok(marks.length > 0, 'matches are highlighted');
  assert.ok(marks.every((m) => m.includes('汇款') || m.includes('汇')), `highlights are the searched word: ${marks.slice(0, 5)}`);
  const total = Number((await page.locator('.results h2 .count').textContent()).replace(/,/g, ''));
  assert.deepEqual(await unlabelled(page), [], 'every search control has a label');
  report.search_rows = shown;
  report.search_total = total;
  report.highlights = marks.length;
  await shot(page, 'search');

  step = 'a deep link reproduces the search';
  const deep = page.url();
  const hashes = await rows.locator('td:nth-child(2) a').evaluateAll((as) => as.map((a) => a.title));
  const other = await admin.newPage();
  await other.goto(deep);
  const again2 = await other.locator('table.data tbody tr td:nth-child(2) a').evaluateAll((as) => as.map((a) => a.title));
  assert.deepEqual(again2, hashes, 'the same URL shows the same rows');
  await other.close();

  step = 'sort by amount';
  await page.getByRole('link', { name: /^Amount/ }).click();
  await page.waitForURL(/sort=amount/);
  await page.locator('th[aria-sort="descending"]').waitFor();
  const amounts = (await page.locator('table.data tbody tr td:nth-child(6)').allTextContents())
    .map((t) => parseFloat(t.replace(/[^0-9.]/g, '')))
    .filter((x) => !Number.isNaN(x));
  assert.ok(amounts.length > 1, 'amounts shown');
  for (let i = 1; i < amounts.length; i++) assert.ok(amounts[i - 1] >= amounts[i], `amounts descend: ${amounts}`);
  const sortedHashes = await page.locator('table.data tbody tr td:nth-child(2) a').evaluateAll((as) => as.map((a) => a.title));

  step = 'CSV export';
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Export CSV' }).click(),
  ]);
  const csv = (await readFile(await download.path(), 'utf8')).replace(/^\uFEFF/, '');
  const lines = csv.trim().split(/\r?\n/);
  const header = lines[0].split(',');
  assert.equal(header[1], 'hash');
  const csvHashes = lines.slice(1).map((l) => l.split(',')[1]);
  assert.equal(csvHashes.length, total, 'the export holds the whole result set');
  assert.deepEqual(csvHashes.slice(0, sortedHashes.length), sortedHashes, 'in the order shown, starting with the rows shown');
  report.csv_rows = csvHashes.length;

  step = 'a private transaction with its decrypted memo';
  await page.goto(`${BASE}/search?q=${encodeURIComponent('汇款')}&privacy=private`);
  await page.locator('table.data tbody tr').first().waitFor();
  const privateHref = await page.locator('table.data tbody tr td:nth-child(2) a').first().getAttribute('href');
  await page.goto(BASE + privateHref);
  await page.getByRole('heading', { name: 'Payload' }).waitFor();
  const memo = await page.locator('dd.memo').textContent();
  assert.ok(memo.includes('汇款'), `the decrypted memo is shown: ${memo}`);
  assert.equal(await page.locator('text=OPENED').count() > 0, true, 'the envelope was opened');
  report.private_memo = memo;
  await shot(page, 'transaction');

  step = 'an evidence pack of the transaction';
  const packDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download evidence pack' }).click();
  const pack = JSON.parse(await readFile(await (await packDownload).path(), 'utf8'));
  assert.equal(pack.format, 'lookthrough-evidence/1');
  assert.equal(pack.body.transactions.length, 1);
  assert.ok(pack.body.transactions[0].opening, 'the pack proves the opening');
  report.evidence_pack_bytes = JSON.stringify(pack).length;

  step = 'chain text is shown as text';
  await page.goto(`${BASE}/search?q=script`);
  await page.locator('table.data tbody tr').first().waitFor();
  // The row's memo shows the markup as text, in the table already.
  const cell = await page.locator('table.data tbody td.snippet').first().textContent();
  assert.ok(cell.includes('<script>'), `the markup shows as text: ${cell}`);
  await page.locator('table.data tbody tr td:nth-child(2) a').first().click();
  await page.getByRole('heading', { name: 'Payload' }).waitFor();
  const markupMemo = await page.locator('dd.memo').textContent();
  assert.ok(markupMemo.includes("<script>alert('货款')</script>"), `memo as text: ${markupMemo}`);
  assert.equal(await page.locator('main script').count(), 0, 'no script element came from the chain');
  report.markup_memo = markupMemo;
  await shot(page, 'transaction-markup');

  step = 'an account';
  await page.locator('dd a[href^="/account/"]').first().click();
  await page.getByRole('heading', { name: 'Counterparties' }).waitFor();
  assert.ok(await page.locator('svg#timeline rect.bar').count() > 0, 'the timeline is drawn');
  await shot(page, 'account');

  step = 'acknowledge and resolve an alert';
  await page.getByRole('link', { name: 'Alerts', exact: true }).click();
  await page.getByLabel('State').selectOption('OPEN');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/state=OPEN/);
  await shot(page, 'alerts');
  await page.locator('table.alerts tbody tr td:nth-child(2) a').first().click();
  await page.waitForURL(/\/alerts\/\d+$/);
  const alertUrl = page.url();
  assert.equal(await page.locator('#state').textContent(), 'Open');
  assert.deepEqual(await unlabelled(page), [], 'every alert control has a label');
  await page.getByLabel('Assignee', { exact: true }).fill('zhao.lei');
  await page.getByRole('button', { name: 'Assign' }).click();
  await page.waitForURL(alertUrl);
  assert.equal(await page.locator('#assignee').textContent(), 'zhao.lei', 'assigned');
  await page.getByLabel('Note').fill('looked at the counterparty');
  await page.getByRole('button', { name: 'Acknowledge' }).click();
  await page.waitForURL(alertUrl);
  assert.equal(await page.locator('#state').textContent(), 'Acknowledged');
  await page.getByLabel('Note').fill('a known supplier: not suspicious');
  await page.getByRole('button', { name: 'Resolve' }).click();
  await page.waitForURL(alertUrl);
  assert.equal(await page.locator('#state').textContent(), 'Resolved');
  const history = await page.locator('#history tbody tr').allTextContents();
  assert.ok(history.some((h) => h.includes('acknowledged') && h.includes('looked at the counterparty')), `history: ${history}`);
  assert.ok(history.some((h) => h.includes('resolved') && h.includes('a known supplier')), `history: ${history}`);
  report.history = history.length;
  await shot(page, 'alert');

  step = 'text contrast';
  // WCAG AA: 4.5:1 for text, against the first opaque background behind it.
  const contrast = await page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bg = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const worst = [];
    for (const el of document.querySelectorAll('h1, h2, p, td, th, dt, dd, a, label, button, span')) {
      if (!el.textContent.trim() || el.offsetParent === null) continue;
      const [l1, l2] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(bg(el))];
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      if (ratio < 4.5) worst.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)}`);
    }
    return worst;
  });
  assert.deepEqual(contrast, [], 'every text meets 4.5:1');

  step = 'a form without its CSRF token is refused';
  const id = alertUrl.split('/').pop();
  const forged = await admin.request.post(`${BASE}/alerts/${id}`, { form: { action: 'reopen' }, maxRedirects: 0 });
  assert.equal(forged.status(), 403, 'no token: 403');
  const wrong = await admin.request.post(`${BASE}/alerts/${id}`, { form: { action: 'reopen', csrf: '0'.repeat(64) }, maxRedirects: 0 });
  assert.equal(wrong.status(), 403, 'a wrong token: 403');
  await page.reload();
  assert.equal(await page.locator('#state').textContent(), 'Resolved', 'the refused forms changed nothing');

  step = 'rules';
  await page.getByRole('link', { name: 'Rules', exact: true }).click();
  const ruleRows = await page.locator('table.rules tbody tr').count();
  assert.ok(ruleRows >= 5, `rules listed: ${ruleRows}`);
  await shot(page, 'rules');

  step = 'a backtest of a rule next to its live figures';
  await page.locator('table.rules tbody tr').filter({ hasText: 'large-transfer' }).getByRole('link', { name: 'Backtest' }).click();
  await page.getByRole('heading', { name: 'Backtest' }).waitFor();
  assert.match(await page.locator('#rule-text').inputValue(), /id = "large-transfer"/, 'the rule in force, ready to change');
  await page.getByRole('button', { name: 'Run backtest' }).click();
  await page.getByRole('heading', { name: 'What it would have opened' }).waitFor();
  const wouldOpen = Number((await page.locator('#bt-alerts').textContent()).replace(/,/g, ''));
  assert.ok(Number.isInteger(wouldOpen), `an alert count: ${wouldOpen}`);
  assert.ok(await page.getByRole('button', { name: "Save as the rule's next version" }).count() === 1, 'an admin may save it');
  report.backtest_alerts = wouldOpen;
  await shot(page, 'backtest');

  step = 'switch to Chinese';
  await page.goto(`${BASE}/search?q=${encodeURIComponent('汇款')}`);
  await page.getByRole('link', { name: '中文' }).click();
  await page.getByRole('heading', { name: '检索', exact: true }).waitFor();
  assert.ok(await page.locator('table.data tbody tr').count() > 0, 'the same search, in Chinese');
  await shot(page, 'search-zh');
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Search', exact: true }).waitFor();

  step = 'sign out';
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login$/);
  await page.goto(BASE + '/alerts');
  await page.waitForURL(/\/login\?next=/);

  // ---- A viewer: the decrypted memo is withheld. ----
  step = 'a viewer signs in with a token';
  const viewer = await context('en-US');
  const vpage = await viewer.newPage();
  await signIn(vpage, VIEWER, privateHref);
  step = 'a viewer sees the payload withheld';
  await vpage.getByRole('heading', { name: 'Payload' }).waitFor();
  const note = await vpage.locator('p.withheld').first().textContent();
  assert.match(note, /withheld/, 'the payload is withheld, saying why');
  assert.equal(await vpage.locator('dd.memo').count(), 0, 'no memo for a viewer');
  assert.ok(!(await vpage.content()).includes(memo), 'the memo is nowhere in the page');
  await shot(vpage, 'transaction-viewer');

  step = 'a bad token is refused';
  const stranger = await context('en-US');
  const spage = await stranger.newPage();
  await spage.goto(BASE + '/login');
  await spage.getByLabel(/API token/).fill('lt_nobody_x');
  await spage.getByRole('button', { name: 'Sign in' }).click();
  await spage.locator('p.error').waitFor();
  await shot(spage, 'login-refused');

  console.log(JSON.stringify({ ok: true, ...report }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, step, error: String(e && e.stack || e), ...report }));
  await browser.close();
  process.exit(1);
}
