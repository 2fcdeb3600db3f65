import t from 'tap';
import { cobsDecode, cobsEncode } from '../src/protocol/cobs.js';
import { crc16 } from '../src/protocol/crc16.js';
import { encodeFrame, FrameDecoder, MAX_ENCODED, MAX_PAYLOAD, parseBlock, type DecodeError, type Frame } from '../src/protocol/frame.js';
import * as M from '../src/protocol/messages.js';

const bytes = (...a: number[]): Uint8Array => Uint8Array.from(a);
const decodeAll = (d: FrameDecoder, chunk: Uint8Array): { frames: Frame[]; errors: DecodeError[] } => {
  const frames: Frame[] = [];
  const errors: DecodeError[] = [];
  d.push(chunk, (f) => frames.push(f), (e) => errors.push(e));
  return { frames, errors };
};

t.test('CRC-16/CCITT-FALSE check value', async (t) => {
  t.equal(crc16(new TextEncoder().encode('123456789')), 0x29b1);
  t.equal(crc16(new Uint8Array(0)), 0xffff);
});

t.test('COBS: known vectors (from the paper and Wikipedia)', async (t) => {
  const cases: Array<[number[], number[]]> = [
    [[0x00], [0x01, 0x01]],
    [[0x00, 0x00], [0x01, 0x01, 0x01]],
    [[0x11, 0x22, 0x00, 0x33], [0x03, 0x11, 0x22, 0x02, 0x33]],
    [[0x11, 0x22, 0x33, 0x44], [0x05, 0x11, 0x22, 0x33, 0x44]],
    [[0x11, 0x00, 0x00, 0x00], [0x02, 0x11, 0x01, 0x01, 0x01]],
  ];
  for (const [raw, enc] of cases) {
    t.same([...cobsEncode(bytes(...raw))], enc, `encode ${raw}`);
    t.same([...cobsDecode(bytes(...enc))!], raw, `decode ${enc}`);
  }
  // 254 non-zero bytes: one full block, then the trailing code.
  const long = Uint8Array.from({ length: 254 }, (_, i) => i + 1);
  const enc = cobsEncode(long);
  t.equal(enc[0], 0xff);
  t.equal(enc.length, 256);
  t.same(cobsDecode(enc), long);
  t.equal(cobsDecode(bytes(0x05, 0x11)), null, 'a code past the end is malformed');
  t.equal(cobsDecode(bytes(0x00, 0x11)), null, 'a zero inside is malformed');
});

t.test('a frame round-trips and has the documented layout', async (t) => {
  const wire = encodeFrame({ type: M.Req.RELAY_SET, seq: 7, payload: M.encodeRelaySet({ mask: 0x0003, levels: 0x0001 }) });
  t.equal(wire[0], 0, 'leading delimiter');
  t.equal(wire[wire.length - 1], 0, 'trailing delimiter');
  t.notOk(wire.subarray(1, -1).includes(0), 'no zero inside');
  const raw = cobsDecode(wire.subarray(1, -1))!;
  t.same([...raw.subarray(0, 3)], [0x10, 7, 4], 'type, seq, len');
  t.same([...raw.subarray(3, 7)], [0x03, 0x00, 0x01, 0x00], 'little-endian payload');
  const crc = crc16(raw, 0, 7);
  t.same([...raw.subarray(7)], [crc >> 8, crc & 0xff], 'CRC big-endian over header and payload');
  const d = new FrameDecoder();
  const { frames } = decodeAll(d, wire);
  t.same(frames, [{ type: 0x10, seq: 7, payload: M.encodeRelaySet({ mask: 3, levels: 1 }) }]);
});

t.test('encodeFrame refuses what does not fit', async (t) => {
  t.throws(() => encodeFrame({ type: 256, seq: 0, payload: bytes() }), /type 256/);
  t.throws(() => encodeFrame({ type: 1, seq: -1, payload: bytes() }), /sequence number -1/);
  t.throws(() => encodeFrame({ type: 1, seq: 0, payload: new Uint8Array(MAX_PAYLOAD + 1) }), /exceeds/);
  const max = encodeFrame({ type: 1, seq: 0, payload: new Uint8Array(MAX_PAYLOAD).fill(0) });
  t.ok(max.length - 2 <= MAX_ENCODED, 'the largest frame fits the decoder buffer');
  t.same(decodeAll(new FrameDecoder(), max).frames.length, 1);
});

t.test('decoder: split across chunks, byte by byte', async (t) => {
  const a = encodeFrame({ type: 0x82, seq: 1, payload: bytes(1, 2, 3) });
  const b = encodeFrame({ type: 0x41, seq: 9, payload: bytes(0, 0, 0, 0) });
  const all = new Uint8Array([...a, ...b]);
  const d = new FrameDecoder();
  const got: Frame[] = [];
  for (const byte of all) d.push(bytes(byte), (f) => got.push(f));
  t.same(got.map((f) => [f.type, f.seq]), [[0x82, 1], [0x41, 9]]);
});

t.test('decoder: each kind of damage is named and the next frame still decodes', async (t) => {
  const good = encodeFrame({ type: 0x81, seq: 3, payload: bytes(9, 9) });
  const flipped = good.slice();
  flipped[5] = flipped[5]! ^ 0x40; // a payload byte
  const lenWrong = (() => {
    const raw = cobsDecode(good.subarray(1, -1))!.slice();
    raw[2] = 5;
    return new Uint8Array([0, ...cobsEncode(raw), 0]);
  })();
  const cases: Array<[string, Uint8Array, DecodeError]> = [
    ['bit flip', flipped, 'crc'],
    ['too short', bytes(0, 0x02, 0x11, 0), 'short'],
    ['length field disagrees', lenWrong, 'length'],
    ['malformed COBS', bytes(0, 0x09, 0x11, 0x22, 0), 'cobs'],
  ];
  for (const [name, bad, want] of cases) {
    const d = new FrameDecoder();
    const r = decodeAll(d, new Uint8Array([...bad, ...good]));
    t.same(r.errors, [want], name);
    t.equal(r.frames.length, 1, `${name}: the good frame after it`);
  }
});

t.test('decoder: a run longer than any frame is dropped whole, the buffer stays bounded', async (t) => {
  const d = new FrameDecoder();
  const junk = new Uint8Array(MAX_ENCODED * 3).fill(0x55);
  const r = decodeAll(d, junk);
  t.same(r.errors, ['overrun']);
  t.ok(d.buffered <= MAX_ENCODED);
  const good = encodeFrame({ type: 0x81, seq: 3, payload: bytes() });
  // The tail of the overrun is not glued to the next frame: the leading 0x00 ends it.
  t.equal(decodeAll(d, good).frames.length, 1);
  t.equal(d.stats.errors.overrun, 1);
});

t.test('a half frame (sender reset mid-frame) costs only itself', async (t) => {
  const d = new FrameDecoder();
  const f = encodeFrame({ type: 0x41, seq: 1, payload: bytes(1, 0, 1, 0) });
  const good = encodeFrame({ type: 0x40, seq: 0, payload: bytes(1, 2, 3, 4, 1) });
  const r = decodeAll(d, new Uint8Array([...f.subarray(0, 5), ...good]));
  t.same(r.frames.map((x) => x.type), [0x40]);
});

t.test('payload codecs round-trip', async (t) => {
  const hello: M.HelloInfo = { version: 1, bootId: 0xdeadbeef, resetCause: 'watchdog', capabilities: ['relays', 'rtc', 'fm'], relayCount: 8, inputCount: 4, analogCount: 3, window: 4, firmware: 'io-board 2.3' };
  t.same(M.decodeHelloResponse(M.encodeHelloResponse(hello)), hello);
  const status: M.McuStatus = { bootId: 0xffffffff, uptimeMs: 123456, relays: 0x81, inputs: 0x5, faults: 0x2, watchdogEnabled: true, watchdogRemainingMs: 999 };
  t.same(M.decodeStatus(M.encodeStatus(status)), status);
  t.same(M.decodeRelaySet(M.encodeRelaySet({ mask: 0xffff, levels: 0x8001 })), { mask: 0xffff, levels: 0x8001 });
  t.same(M.decodeAnalog(M.encodeAnalog([{ channel: 2, kind: M.AnalogKind.TEMPERATURE_MC, milli: -12500 }])), [{ channel: 2, kind: 'temperature', milli: -12500, value: -12.5, unit: '°C' }]);
  const ms = Date.UTC(2026, 4, 1, 12, 0, 0, 345);
  t.equal(M.decodeRtcTime(M.encodeRtcTime(ms)), ms);
  t.same(M.decodeRtcReading(M.encodeRtcReading({ valid: false, ms })), { valid: false, ms });
  t.same(M.decodeWatchdogSet(M.encodeWatchdogSet({ timeoutMs: 30000, warnMs: 5000 })), { timeoutMs: 30000, warnMs: 5000 });
  const wdt = { enabled: true, timeoutMs: 30000, warnMs: 5000, remainingMs: 12000, fired: 2 };
  t.same(M.decodeWatchdogStatus(M.encodeWatchdogStatus(wdt)), wdt);
  t.same(M.decodeFmStatus(M.encodeFmStatus({ mhz: 99.5, rssiDbuv: 58, tuned: true, stereo: true, playing: false })), { mhz: 99.5, rssiDbuv: 58, tuned: true, stereo: true, playing: false });
  t.same(M.decodeFaultEvent(M.encodeFaultEvent({ code: 1, active: true, faults: 2, milli: 91000 })), { code: 1, active: true, faults: 2, milli: 91000 });
  t.same(M.decodeBootEvent(M.encodeBootEvent({ bootId: 7, resetCause: 'brown-out' })), { bootId: 7, resetCause: 'brown-out' });
  t.same(M.decodeErr(M.encodeErr({ requestType: 0x10, code: M.ErrCode.NO_SESSION })), { requestType: 0x10, code: 5 });
});

t.test('payload errors name the message and the field', async (t) => {
  t.throws(() => M.decodeStatus(bytes(1, 2, 3)), { message: /PING response: payload of 3 bytes ends before field "boot_id"/, kind: 'length' });
  t.throws(() => M.encodeWatchdogSet({ timeoutMs: 500, warnMs: 0 }), { message: /watchdog timeout \(ms\) must be an integer from 1000 to 600000/, kind: 'value' });
  t.throws(() => M.encodeFmTune(12000), /FM frequency/);
  t.throws(() => M.decodeRtcTime(bytes(0, 0, 0, 0, 0xe8, 0x03)), /millis 1000/);
  const bad = M.encodeHelloResponse({ version: 1, bootId: 1, resetCause: 'pin', capabilities: [], relayCount: 17, inputCount: 0, analogCount: 0, window: 1, firmware: '' });
  t.throws(() => M.decodeHelloResponse(bad), /at most 16/);
  t.same(M.decodeStatus(new Uint8Array([...M.encodeStatus({ bootId: 1, uptimeMs: 2, relays: 3, inputs: 4, faults: 0, watchdogEnabled: false, watchdogRemainingMs: 0 }), 7, 7])).relays, 3, 'fields appended by newer firmware are ignored');
});

t.test('type ranges do not overlap', async (t) => {
  for (const v of Object.values(M.Req)) {
    t.ok(M.isRequestType(v) && !M.isEventType(v) && !M.isResponseType(v), `request 0x${v.toString(16)}`);
    t.ok(M.isResponseType(M.responseType(v)), `response 0x${M.responseType(v).toString(16)}`);
  }
  for (const v of Object.values(M.Evt)) t.ok(M.isEventType(v) && !M.isRequestType(v) && !M.isResponseType(v));
  t.same(M.capabilityNames(M.capabilityBits(['fm', 'relays'])), ['relays', 'fm']);
  t.same(M.faultNames(0b1010), ['amp-overtemp', 'supply-high']);
});

t.test('parseBlock is the decoder without the stream', async (t) => {
  const wire = encodeFrame({ type: 0x90, seq: 200, payload: bytes(1, 0) });
  t.same(parseBlock(wire.subarray(1, -1)), { type: 0x90, seq: 200, payload: bytes(1, 0) });
});

t.test('the PROTOCOL.md example is what the encoder sends', async (t) => {
  t.same([...encodeFrame({ type: M.Req.PING, seq: 1, payload: bytes() })], [0x00, 0x03, 0x02, 0x01, 0x03, 0x91, 0xcd, 0x00]);
});
