import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { simFaultsPath } from '../src/relays/sim-driver.js';
import { PCM, BYTES_PER_MS } from '../src/audio/pcm.js';
import { main } from '../src/cli/main.js';
import { startStation } from './station-fixture.js';
import { until } from './sync-fixture.js';
import { startProvince } from './province-fixture.js';

/** `loa ARGS` in-process against the station's control socket. */
async function loa(socket: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const before = process.env.LOA_SOCKET;
  process.env.LOA_SOCKET = socket;
  try {
    const code = await main(['--config', '/nonexistent/loa.json', ...args], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
    return { code, out, err };
  } finally {
    if (before === undefined) delete process.env.LOA_SOCKET;
    else process.env.LOA_SOCKET = before;
  }
}

/** Stretches of sound in a raw s16le sink file, split at silences over 150 ms; [startMs, endMs] on the file's timeline. */
function audibleSpans(path: string): Array<[number, number]> {
  const buf = readFileSync(path);
  const frameBytes = PCM.channels * 2;
  const windowMs = 10;
  const windowBytes = Math.round(BYTES_PER_MS * windowMs);
  const spans: Array<[number, number]> = [];
  let open: [number, number] | null = null;
  for (let off = 0; off + windowBytes <= buf.length; off += windowBytes) {
    let peak = 0;
    for (let i = off; i < off + windowBytes; i += frameBytes) peak = Math.max(peak, Math.abs(buf.readInt16LE(i)));
    const at = (off / windowBytes) * windowMs;
    if (peak > 300) {
      if (open && at - open[1] <= 150) open[1] = at + windowMs;
      else {
        if (open) spans.push(open);
        open = [at, at + windowMs];
      }
    }
  }
  if (open) spans.push(open);
  return spans;
}

/** Milliseconds of sound in a raw sink file, counted in 10 ms windows. */
function audibleMs(path: string): number {
  const buf = readFileSync(path);
  const windowBytes = Math.round(BYTES_PER_MS * 10);
  let n = 0;
  for (let off = 0; off + windowBytes <= buf.length; off += windowBytes) {
    for (let i = off; i < off + windowBytes; i += PCM.channels * 2) {
      if (Math.abs(buf.readInt16LE(i)) > 300) {
        n++;
        break;
      }
    }
  }
  return n * 10;
}

t.test('a failed relay power-up: tried again within the grace window, then one failed row per item with the reason; an emergency airs regardless', async (t) => {
  const s = await startStation({ schedule: { graceMs: 4000 } });
  t.teardown(() => s.stop());
  const faults = simFaultsPath(s.config.paths.state);
  const north = s.config.relays.zones.find((z) => z.name === 'north')!.line;
  writeFileSync(faults, JSON.stringify({ failWrites: [north] }));
  const news = await s.tone('news', { seconds: 1, freq: 500 });

  const at = s.once({ id: 'news', name: 'Bản tin sáng', items: [{ content: news, repeat: 2, gapMs: 0 }], zones: ['north'] }, 500);
  const rows = await s.rows(2, 30_000);
  t.same(rows.map((r) => r.result), ['failed', 'failed'], 'every item of the programme has its row');
  for (const r of rows) {
    t.match(r.reason, new RegExp(`^relay power-up failed \\((\\d+) attempts\\): simulated GPIO line ${north}: write failed \\(EIO`), 'the reason names the line and the error');
    t.equal(r.occurrenceId !== undefined && r.content === news, true);
    t.equal(r.startedMs, undefined, 'never started');
  }
  t.ok(Number(/\((\d+) attempts\)/.exec(rows[0]!.reason!)![1]) >= 2, 'tried again before giving up');
  const state = await until(() => {
    const st = s.agent.conductor.agenda(at - 60_000, 1).find((o) => o.programmeId === 'news')?.state;
    return st !== 'playing' && st;
  }, 10_000, 'the session to end');
  t.equal(state, 'missed', 'the programme is not marked done as if it had played, nor retried after its window');
  t.same(audibleSpans(s.config.audio.sink.kind === 'file' ? s.config.audio.sink.path : ''), [], 'nothing reached the sink');
  t.notOk(s.switches().some((x) => x.name === 'north' && x.on), 'the broken zone never switched on');

  // An emergency does not wait for relays: it airs on what did switch on, and its row says what failed.
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: 'Lũ quét', items: [{ content: news, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'test' });
  const [, , alert] = await s.rows(3, 30_000);
  t.equal(alert!.result, 'played');
  t.match(alert!.reason, /^relay power-up failed: simulated GPIO line \d+: write failed/);
  await until(() => audibleSpans(s.config.audio.sink.kind === 'file' ? s.config.audio.sink.path : '').length === 1, 10_000, 'the emergency at the sink');
  const [span] = audibleSpans(s.config.audio.sink.kind === 'file' ? s.config.audio.sink.path : '');
  t.ok(span![1] - span![0] > 500, `the emergency's tone reached the sink (${span![1] - span![0]} ms)`);

  // A line that comes back within the window: the request plays, late but whole.
  await until(() => s.agent.conductor.nowPlaying() === null, 10_000, 'the emergency over');
  s.agent.conductor.submit({ id: 'notice', mode: 'now', priority: 0, label: 'Thông báo', items: [{ content: news, repeat: 1, gapMs: 0 }], zones: ['north'], volume: 80, origin: 'test' });
  setTimeout(() => rmSync(faults, { force: true }), 1500);
  const [, , , notice] = await s.rows(4, 30_000);
  t.equal(notice!.result, 'played', 'played once the relay answered');
  t.equal(notice!.reason, undefined);
  t.ok(s.switches().some((x) => x.name === 'north' && x.on), 'the zone switched on');
  await until(() => s.agent.conductor.nowPlaying() === null, 10_000, 'the notice over');
  t.equal((s.agent.store.db.prepare("SELECT state FROM request WHERE id = 'notice'").get() as { state: string }).state, 'done');
});

t.test('an emergency cuts a programme waiting for its relays; the programme plays once the line is back, within its window', async (t) => {
  const s = await startStation({ schedule: { graceMs: 30_000 } });
  t.teardown(() => s.stop());
  const faults = simFaultsPath(s.config.paths.state);
  const north = s.config.relays.zones.find((z) => z.name === 'north')!.line;
  writeFileSync(faults, JSON.stringify({ failWrites: [north] }));
  const news = await s.tone('news', { seconds: 1, freq: 500 });
  const alert = await s.tone('alert', { seconds: 1, freq: 1500 });
  const at = s.once({ id: 'news', name: 'Bản tin', items: [{ content: news, repeat: 1, gapMs: 0 }], zones: ['north'] }, 500);
  await until(() => Date.now() > at + 1500, 10_000, 'the programme retrying its power-up');
  t.equal(s.agent.conductor.nowPlaying()?.key.startsWith('occurrence:'), true, 'the programme holds the air while it retries');
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: 'Lũ quét', items: [{ content: alert, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'test' });
  const [first] = await s.rows(1, 20_000);
  t.match(first, { content: alert, result: 'played', priority: 9 }, 'the emergency first, at once: no failed row for the programme it cut');
  rmSync(faults);
  const [, second] = await s.rows(2, 30_000);
  t.match(second, { content: news, result: 'played', occurrenceId: /news/ }, 'the programme, resumed within its window once the relay answered');
  t.equal(second!.reason, undefined);
});

interface ReportJson {
  period: { from: string; to: string };
  countedUntilMs: number;
  classes: Record<string, { items: number; scheduled: number; requested: number; played: number; failed: number; onAirMs: number; hoursOnAir: number }>;
  zones: Record<string, { items: number; played: number; onAirMs: number }>;
  total: { items: number; played: number; onAirMs: number; hoursOnAir: number };
  emergencies: { count: number; startDelayMs: { median: number; max: number } | null };
  offline: { periods: number; ms: number; knownFromMs: number | null };
  faults: { count: number };
}

t.test('a day of real plays: loa report matches the play log and the sink (json, csv, text); the province gets the same figures', async (t) => {
  const { broker, keys, province } = await startProvince(t);
  const s = await startStation({
    sync: { brokers: [broker.url], provinceKeys: [keys.publicPem], protocolVersion: 4, reconnect: { initialMs: 200, maxMs: 2000, connectTimeoutMs: 5000 } },
  });
  t.teardown(() => s.stop());
  await until(() => s.agent.sync?.status().connected, 20_000, 'the station to connect');
  const sock = s.config.paths.socket;
  const news = await s.tone('news', { seconds: 1.5, freq: 500 });

  s.once({ id: 'news', name: 'Bản tin', items: [{ content: news, repeat: 2, gapMs: 1000 }], zones: ['north'] }, 1000);
  await s.rows(2, 30_000);
  await until(() => s.agent.conductor.nowPlaying() === null, 10_000, 'the programme over');
  s.agent.conductor.submit({ id: 'notice', mode: 'now', priority: 0, label: 'Thông báo', items: [{ content: news, repeat: 1, gapMs: 0 }], zones: ['south'], volume: 80, origin: 'test' });
  await s.rows(3, 30_000);
  await until(() => s.agent.conductor.nowPlaying() === null, 10_000, 'the notice over');
  s.agent.conductor.submit({ id: 'flood', mode: 'now', priority: 9, label: 'Lũ quét', items: [{ content: news, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'test' });
  await s.rows(4, 30_000);
  await until(() => s.agent.conductor.nowPlaying() === null, 10_000, 'the emergency over');

  const json = await loa(sock, '--json', 'report');
  t.equal(json.code, 0, json.err);
  const report = JSON.parse(json.out) as ReportJson;
  const log = (JSON.parse((await loa(sock, '--json', 'log')).out) as { rows: Array<{ priority: number; zones: string[]; result: string; source: string; startedMs: number; endedMs: number }> }).rows;
  t.equal(log.length, 4);
  const onAir = (rows: typeof log): number => rows.reduce((sum, r) => sum + (r.endedMs - r.startedMs), 0);
  t.match(report.classes.normal, { items: 3, scheduled: 2, requested: 1, played: 3, failed: 0, onAirMs: onAir(log.filter((r) => r.priority === 0)) });
  t.match(report.classes.emergency, { items: 1, played: 1, onAirMs: onAir(log.filter((r) => r.priority === 9)) });
  t.match(report.zones.north, { items: 3, played: 3, onAirMs: onAir(log.filter((r) => r.zones.includes('north'))) });
  t.match(report.zones.south, { items: 2, played: 2, onAirMs: onAir(log.filter((r) => r.zones.includes('south'))) });
  t.equal(report.total.onAirMs, onAir(log));
  t.equal(report.emergencies.count, 1);
  t.ok(report.emergencies.startDelayMs!.median > 0 && report.emergencies.startDelayMs!.median < 10_000, `request to first sample ${report.emergencies.startDelayMs?.median} ms`);
  t.ok(report.offline.periods >= 1 && report.offline.knownFromMs !== null, 'the start, before the link came up, is time offline');

  // What the sink heard is the time on air the report gives (10 ms windows, fades at the edges). Loose
  // for now: an item's last buffered audio can still be lost (issue 8, point 1, measured by the playout tests).
  const heard = audibleMs(s.config.audio.sink.kind === 'file' ? s.config.audio.sink.path : '');
  t.ok(Math.abs(heard - report.total.onAirMs) <= 150 + report.total.onAirMs * 0.15, `sound at the sink ${heard} ms against ${report.total.onAirMs} ms on air`);

  const csv = await loa(sock, 'report', '--csv');
  t.equal(csv.code, 0, csv.err);
  const cells = new Map(csv.out.trim().split('\r\n').slice(1).map((l) => { const [sec, name, fig, value] = l.split(','); return [`${sec}/${name}/${fig}`, value]; }));
  t.equal(cells.get('class/normal/played'), '3');
  t.equal(cells.get('zone/north/items'), '3');
  t.equal(cells.get('total/all/hoursOnAir'), String(report.total.hoursOnAir));
  t.equal(cells.get('emergency/all/count'), '1');
  t.equal(cells.get('period/from/date'), report.period.from);

  const vi = await loa(sock, '--lang', 'vi', 'report');
  t.match(vi.out, /Báo cáo năm của đài, từ \d{4}-12-15 đến \d{4}-12-14/);
  t.match(vi.out, /khẩn cấp\s+1\s+0\s+1\s+1/, 'the emergency row: 1 item, 0 scheduled, 1 requested, 1 played');
  t.match((await loa(sock, '--lang', 'en', 'report')).out, /Emergencies on air: 1; request to first sample: median \d+ ms/);
  t.match(JSON.parse((await loa(sock, '--json', 'report', '--from', '2026-13-01')).out), { error: { code: 'bad-date', params: { option: '--from' } } }, 'a bad date is named');

  // The province asks for the same figures over the signed command path.
  const { countedUntilMs: _a, ...local } = JSON.parse((await loa(sock, '--json', 'report')).out) as ReportJson;
  const { countedUntilMs: _b, ...remote } = (await province.report(s.config.station.id)) as ReportJson;
  t.same(remote, local, 'the province gets what loa report says');
  const day = new Date().toLocaleDateString('sv-SE', { timeZone: s.config.station.timezone });
  const today = (await province.report(s.config.station.id, { from: day, to: day })) as ReportJson;
  t.same([today.period.from, today.total.played], [day, 4]);
  const refused = await province.send({ station: s.config.station.id }, { action: 'report', from: '2026-12-10', to: '2026-12-01' });
  t.match(await province.waitResponse(refused.id), { status: 'rejected', reason: /after to/ });
});
