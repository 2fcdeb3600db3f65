import t, { type Test } from 'tap';
import { connect } from 'node:net';
import { startStation } from './station-fixture.js';
import { call, DaemonError } from '../src/cli/client.js';
import { createServer, type Server } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';

/** Sends raw bytes to the control socket and collects the reply lines. */
function raw(path: string, data: string, lines: number): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    s.setEncoding('utf8');
    s.on('error', reject);
    s.on('data', (d: string) => {
      buf += d;
      const got = buf.split('\n').filter(Boolean);
      if (got.length >= lines) {
        s.destroy();
        resolve(got.map((l) => JSON.parse(l) as Record<string, unknown>));
      }
    });
    s.on('close', () => resolve(buf.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
    s.write(data);
  });
}

t.test('garbage on the control socket is answered with an error and harms nothing', async (t) => {
  const s = await startStation();
  t.teardown(() => s.stop());
  const path = s.config.paths.socket;
  const replies = await raw(path, 'not json\n{"id":2,"method":"rm -rf"}\n{"id":3,"method":"__proto__"}\n{"id":4,"method":"play","params":{"content":"zz"}}\nnull\n[]\n', 6);
  // Answers come as each request finishes, not in order.
  t.same(replies.map((r) => (r.error as { code: string }).code).sort(), ['bad-json', 'bad-json', 'unknown-content', 'unknown-method', 'unknown-method', 'unknown-method']);
  const big = await raw(path, 'x'.repeat(9 * 1024 * 1024), 1);
  t.equal((big[0]!.error as { code: string }).code, 'too-large');
  const status = await call<{ station: { id: string } }>(path, 'status');
  t.equal(status.station.id, 'test-station', 'the agent still answers');
});

/** A stand-in agent on a socket of its own: `onLine` decides what it does with a request. */
async function fakeAgent(t: Test, onLine: (socket: import('node:net').Socket) => void): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'loa-fake-agent-')), 'loa.sock');
  const server: Server = createServer((socket) => socket.once('data', () => onLine(socket)));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return path;
}

t.test('the CLI never hangs: an agent that says nothing, goes away or answers garbage gets a clear message', async (t) => {
  const silent = await fakeAgent(t, () => undefined);
  const started = Date.now();
  await t.rejects(call(silent, 'status', {}, 1500), { code: 'timeout', message: /no answer from the agent within 1.5 s/ });
  t.ok(Date.now() - started < 10_000, 'gave up at its deadline');

  const gone = await fakeAgent(t, (s) => s.destroy());
  const closedAt = Date.now();
  await t.rejects(call(gone, 'status', {}, 60_000), { code: 'closed' });
  t.ok(Date.now() - closedAt < 10_000, 'at once, not at the deadline');

  const garbage = await fakeAgent(t, (s) => s.write('<html>\n'));
  await t.rejects(call(garbage, 'status'), new DaemonError('bad-reply', 'the agent answered something that is not JSON'));

  process.env.LOA_SOCKET = gone;
  t.teardown(() => { delete process.env.LOA_SOCKET; });
  let err = '';
  const code = await main(['--lang', 'en', 'status'], { stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) } });
  t.equal(code, 1);
  t.match(err, /closed the connection without answering [\s\S]*loa status/, 'the operator is told what happened and what to check');
});
