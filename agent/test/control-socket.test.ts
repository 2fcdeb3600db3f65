import t from 'tap';
import { connect } from 'node:net';
import { startStation } from './station-fixture.js';
import { call } from '../src/cli/client.js';

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
  const replies = await raw(path, 'not json\n{"id":2,"method":"rm -rf"}\n{"id":3,"method":"__proto__"}\n{"id":4,"method":"play","params":{"content":"zz"}}\n', 4);
  t.same(replies.map((r) => (r.error as { code: string }).code), ['bad-json', 'unknown-method', 'unknown-method', 'unknown-content']);
  const big = await raw(path, 'x'.repeat(9 * 1024 * 1024), 1);
  t.equal((big[0]!.error as { code: string }).code, 'too-large');
  const status = await call<{ station: { id: string } }>(path, 'status');
  t.equal(status.station.id, 'test-station', 'the agent still answers');
});
