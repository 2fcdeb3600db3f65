import t from 'tap';
import { parseConfig, ConfigError } from '../src/config/load.js';

const problems = (raw: unknown): string[] => {
  try {
    parseConfig(raw);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

t.test('a minimal configuration is complete with defaults', async (t) => {
  const c = parseConfig({ station: { id: 'lc-01' } });
  t.equal(c.station.timezone, 'Asia/Ho_Chi_Minh');
  t.equal(c.station.locale, 'vi');
  t.equal(c.audio.loudness.targetLufs, -23);
  t.equal(c.relays.driver, 'sim');
  t.equal(c.sync, undefined, 'a station without sync runs alone');
});

t.test('every problem is reported at once, each naming the field and the fix', async (t) => {
  const p = problems({
    station: { id: 'bad id!', timezone: 'Asia/Nowhere' },
    relays: {
      amplifiers: [{ name: 'amp', line: 17, warmupMs: 9000 }],
      zones: [{ name: 'z', line: 17, amplifier: 'other' }],
    },
    audio: { sink: { kind: 'speaker' } },
  });
  t.match(p.join('\n'), /station\.id: use letters/);
  t.match(p.join('\n'), /relays\.amplifiers\.0\.warmupMs/);
  t.match(p.join('\n'), /audio\.sink/);
  t.ok(p.length >= 3, `${p.length} problems in one pass`);
  t.match(problems({ station: { id: 'x' }, relays: { zones: [{ name: 'z', line: 22, amplifier: 'nope' }] } }).join(), /relays\.zones\.0\.amplifier: no amplifier named "nope"/);
  t.match(problems({ station: { id: 'x' }, relays: { amplifiers: [{ name: 'a', line: 5 }], zones: [{ name: 'z', line: 5, amplifier: 'a' }] } }).join(), /line 5 is used by both/);
  t.match(problems({ station: { id: 'x', timezone: 'Asia/Nowhere' } }).join(), /station\.timezone: unknown time zone/);
  t.match(problems({ station: { id: 'x' }, relays: { driver: 'bridge' } }).join(), /relays\.driver: driver "bridge" needs a "bridge" section/);
});

t.test('files the configuration names must be readable', async (t) => {
  const p = problems({
    station: { id: 'x' },
    sync: { brokers: ['mqtts://province.example:8883'], provinceKeys: ['k'], passwordFile: '/nonexistent/secret', tls: { caFile: '/nonexistent/ca.pem' } },
  });
  t.match(p.join('\n'), /sync\.passwordFile: cannot read \/nonexistent\/secret \(ENOENT\)/);
  t.match(p.join('\n'), /sync\.tls\.caFile: cannot read/);
});
