import t from 'tap';
import * as M from '../src/protocol/messages.js';
import { McuRefusedError } from '../src/client/client.js';
import { ErrCode } from '../src/protocol/messages.js';
import { rig } from './rig.js';

t.test('LED_BLINK: payloads round trip and refuse what the protocol does not carry', async (t) => {
  t.same(M.decodeLedBlink(M.encodeLedBlink({ durationMs: 30_000, periodMs: 500 })), { durationMs: 30_000, periodMs: 500 });
  t.same([...M.encodeLedBlink({ durationMs: 1000, periodMs: 500 })], [0xe8, 0x03, 0, 0, 0xf4, 0x01], 'little-endian u32, u16');
  t.same(M.decodeLedStatus(M.encodeLedStatus({ blinking: true, remainingMs: 1234 })), { blinking: true, remainingMs: 1234 });
  t.throws(() => M.encodeLedBlink({ durationMs: 700_000, periodMs: 500 }), /LED blink duration/);
  t.throws(() => M.encodeLedBlink({ durationMs: 1000, periodMs: 50 }), /LED blink period/);
  t.same(M.capabilityNames(M.Cap.LED), ['led']);
});

t.test('the simulated board blinks its LED over the pty, journals each transition, stops on 0', async (t) => {
  const { client, sim } = await rig(t);
  t.ok(client.has('led'));
  const s = await client.blinkLed(1000, 200);
  t.equal(s.blinking, true);
  t.ok(s.remainingMs > 800 && s.remainingMs <= 1000);
  await new Promise((r) => setTimeout(r, 1300));
  const j = sim.mcu.ledJournal;
  t.ok(j.length >= 8 && j.length <= 12, `about 10 transitions in 1 s at 5 Hz (${j.length})`);
  t.ok(j.every((x, i) => i === 0 || x.on !== j[i - 1]!.on), 'each one a change');
  t.equal(j.at(-1)!.on, false, 'off at the end');
  await client.blinkLed(60_000, 500);
  t.equal((await client.blinkLed(0)).blinking, false, '0 stops it at once');
  t.equal(sim.mcu.ledJournal.at(-1)!.on, false);
});

t.test('a board without the LED refuses (UNSUPPORTED), the client says so', async (t) => {
  const { client } = await rig(t, { mcu: { led: false } });
  t.notOk(client.has('led'));
  const err = await client.blinkLed(1000).then(() => null, (e: unknown) => e);
  t.ok(err instanceof McuRefusedError && err.code === ErrCode.UNSUPPORTED, String(err));
  t.match(String(err), /no led capability/);
});
