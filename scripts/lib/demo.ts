/**
 * scripts/demo: a whole station on embedded defaults, narrated.
 *
 * Simulated relays (their transitions printed as they happen), audio to a
 * file paced like a sound card, Vietnamese sample bulletins spoken by
 * espeak-ng (tones when it is missing), a programme scheduled a minute ahead
 * and a flood warning that preempts it. The agent's control socket is open
 * meanwhile: `LOA_SOCKET=<printed path> npx loa status` in another terminal.
 */
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DateTime } from 'luxon';
import { parseConfig } from '../../agent/src/config/load.js';
import { startAgent } from '../../agent/src/daemon/agent.js';
import { createLogger } from '../../agent/src/lib/logger.js';
import { SimRelayDriver, simStatePath } from '../../agent/src/relays/sim-driver.js';
import { outputsOf } from '../../agent/src/relays/bank.js';
import { makeSpeech } from '../../agent/src/audio/tones.js';
import type { PlayLogRow } from '../../agent/src/store/station-store.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { lead: { type: 'string', default: '60' }, dir: { type: 'string' }, lang: { type: 'string' } },
});
const leadS = Number(values.lead);
const vi = (values.lang ?? process.env.LOA_LANG ?? 'vi').startsWith('vi');
const say = (v: string, e: string): void => console.log(`${DateTime.now().toFormat('HH:mm:ss.SSS')}  ${vi ? v : e}`);

const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'loa-demo-'));
mkdirSync(dir, { recursive: true });
const config = parseConfig({
  station: { id: 'demo-tam-duong-01', name: 'Đài xã Bình Lư (demo)', locale: vi ? 'vi' : 'en' },
  paths: { state: join(dir, 'state'), socket: join(dir, 'loa.sock') },
  relays: {
    driver: 'sim',
    amplifiers: [{ name: 'amp', line: 17, warmupMs: 1500 }],
    zones: [
      { name: 'ban-na-hiep', label: 'Bản Nà Hiệp', line: 22, amplifier: 'amp' },
      { name: 'ban-thang', label: 'Bản Thẳm', line: 23, amplifier: 'amp' },
      { name: 'trung-tam', label: 'Trung tâm xã', line: 24, amplifier: 'amp' },
    ],
  },
  audio: { sink: { kind: 'file', path: join(dir, 'on-air.raw') } },
  clock: { trustWithoutSync: true },
  log: { level: 'warn' },
});
mkdirSync(config.paths.state, { recursive: true });

const names = new Map(outputsOf(config.relays).map((o) => [o.line, o.name]));
const relays = new SimRelayDriver({ statePath: simStatePath(config.paths.state), names });
relays.on('transition', (tr) => {
  const o = outputsOf(config.relays).find((x) => x.line === tr.line)!;
  const on = (tr.level === 1) !== o.activeLow;
  say(`rơ-le  ${names.get(tr.line)} → ${on ? 'BẬT' : 'tắt'}`, `relay  ${names.get(tr.line)} → ${on ? 'ON' : 'off'}`);
});

say(`thư mục demo: ${dir}`, `demo folder: ${dir}`);
const agent = await startAgent(config, { log: createLogger({ level: 'warn' }), relayDriver: relays });
say(`tác tử sẵn sàng; thử: LOA_SOCKET=${config.paths.socket} npx loa status`, `agent ready; try: LOA_SOCKET=${config.paths.socket} npx loa status`);

const spoken = async (name: string, text: string): Promise<string> => {
  const file = await makeSpeech(join(dir, `${name}.wav`), text);
  return (await agent.media.importFile(file, name)).sha256;
};
const morning = await spoken('ban-tin-sang', 'Xin chào bà con. Đây là bản tin sáng của Đài truyền thanh xã Bình Lư. Hôm nay trời nhiều mây, có mưa rào rải rác.');
const market = await spoken('thong-bao-cho', 'Thông báo: phiên chợ Bình Lư họp vào sáng chủ nhật tuần này. Bà con mang theo giấy tờ khi bán gia súc.');
const flood = await spoken('canh-bao-lu', 'Cảnh báo khẩn cấp. Nguy cơ lũ quét và sạt lở đất tại các bản ven suối Nậm Mu. Bà con di chuyển ngay lên vùng cao an toàn.');

const start = DateTime.now().setZone(config.station.timezone).plus({ seconds: leadS }).startOf('second');
agent.store.replaceSchedule(
  {
    programmes: [
      {
        id: 'ban-tin-sang',
        name: 'Bản tin sáng',
        priority: 0,
        recurrence: { kind: 'once', date: start.toISODate()!, time: start.toFormat('HH:mm:ss') },
        items: [
          { content: morning, repeat: 1, gapMs: 500 },
          { content: market, repeat: 2, gapMs: 500 },
        ],
        zones: ['ban-na-hiep', 'ban-thang'],
        volume: 80,
      },
    ],
  },
  Date.now() - 1000,
);
agent.conductor.reloadSchedule();
agent.conductor.kick('demo schedule');
say(`lịch: "Bản tin sáng" lúc ${start.toFormat('HH:mm:ss')} (sau ${leadS} s), 2 cụm loa`, `schedule: "Bản tin sáng" at ${start.toFormat('HH:mm:ss')} (in ${leadS} s), 2 zones`);

agent.conductor.on('played', (row: PlayLogRow) => {
  const at = row.startedMs ? DateTime.fromMillis(row.startedMs).toFormat('HH:mm:ss.SSS') : '-';
  const late = row.startedMs && row.scheduledMs ? ` (${row.startedMs - row.scheduledMs} ms)` : '';
  say(`nhật ký  ${row.result.padEnd(11)} p${row.priority} bắt đầu ${at}${late} ${row.reason ?? ''}`, `log  ${row.result.padEnd(11)} p${row.priority} started ${at}${late} ${row.reason ?? ''}`);
});
agent.conductor.on('session', (s: { label: string; state: string }) => say(`phiên "${s.label}": ${s.state}`, `session "${s.label}": ${s.state}`));

// The flood warning lands 6 s into the programme.
setTimeout(() => {
  say('!!! CẢNH BÁO LŨ QUÉT: phát khẩn cấp trên mọi cụm loa', '!!! FLASH FLOOD WARNING: emergency on every zone');
  agent.conductor.submit({ id: 'lu-quet-1', mode: 'now', priority: 9, label: 'Cảnh báo lũ quét', items: [{ content: flood, repeat: 1, gapMs: 0 }], zones: [], volume: 100, origin: 'demo' });
}, (leadS + 6) * 1000);

// Done when the programme has been resumed and completed.
agent.conductor.on('session', async (s: { label: string; state: string }) => {
  if (s.label !== 'Bản tin sáng' || s.state !== 'completed') return;
  await new Promise((r) => setTimeout(r, config.relays.tailMs + 500));
  say('xong. nhật ký phát:', 'done. play log:');
  for (const r of agent.store.recentPlays(20)) {
    console.log(`  ${r.result.padEnd(11)} p${r.priority} ${r.programmeId ?? r.requestId} ${r.content?.slice(0, 10)} ${r.reason ?? ''}`);
  }
  say(`âm thanh đã phát: ${config.audio.sink.kind === 'file' ? config.audio.sink.path : ''} (s16le 48 kHz stereo)`, `audio that went out: ${config.audio.sink.kind === 'file' ? config.audio.sink.path : ''} (s16le 48 kHz stereo)`);
  await agent.stop();
  process.exit(0);
});
