/**
 * provisioning/install.sh --root into a fresh debootstrap Debian 12 tree
 * (Debian's Node 18, systemd 252, udev): what a blank controller becomes.
 * The whole life of an install on one tree: installed; its units verified by
 * the tree's systemd; its users, groups, rules, limits, runtime and release
 * checked where they landed, and `loa` run there on Node 20; installed again
 * over a technician's config.json with nothing written at all; uninstalled,
 * which leaves exactly the configuration and the users; purged, which leaves
 * the tree as it was (only shadow's backup files remember).
 */
import t from 'tap';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootTemplate, freshDebianRoot } from './debian-root-fixture.js';
import { changedPaths, contentDiffers, inTree, install, run, treeListing } from './install-fixture.js';

// What useradd, usermod and userdel write (the databases, their backups, the lock).
const shadowDbs = ['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow'];
const shadowBackups = shadowDbs.map((f) => `${f}-`);
const shadowFiles = [...shadowDbs, ...shadowBackups, 'etc/.pwd.lock'];

const line = (root: string, file: string, name: string): string[] | undefined =>
  readFileSync(join(root, file), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.split(':');

t.test('install, install again, uninstall, purge', async (t) => {
  const root = await freshDebianRoot(t);
  const pristine = treeListing(root);

  const first = install(root);
  t.equal(first.status, 0, first.out);
  t.match(first.out, /loa \S+ is installed in /);
  const told = first.out.split('\n').find((l) => l.startsWith('install.sh: changed '))?.split(' ') ?? [];
  for (const what of ['user:loa', 'member:loa@gpio', '/opt/loa/current', '/usr/local/bin/loa', '/etc/loa/config.json']) {
    t.ok(told.includes(what), `the first run says it changed ${what}`);
  }

  await t.test('users and groups in the tree', async (t) => {
    const loa = line(root, 'etc/passwd', 'loa');
    t.same(loa?.slice(5), ['/var/lib/loa', '/usr/sbin/nologin'], 'loa: home is the state folder, no login');
    t.ok(Number(loa?.[2]) < 1000, 'loa is a system user');
    t.same(line(root, 'etc/passwd', 'loa-board')?.slice(5), ['/run/loa-board', '/usr/sbin/nologin']);
    const members = (g: string): string[] => line(root, 'etc/group', g)?.[3]?.split(',') ?? [];
    for (const g of ['gpio', 'audio', 'dialout', 'video']) t.ok(members(g).includes('loa'), `loa is in ${g}`);
    for (const g of ['video', 'render', 'input']) t.ok(members(g).includes('loa-board'), `loa-board is in ${g}`);
    t.notOk(members('video').includes('root'));
  });

  await t.test('the release, /opt/loa/current and Node 20 beside Debian\'s Node 18', async (t) => {
    const current = readlinkSync(join(root, 'opt/loa/current'));
    t.match(current, /^releases\/0\.\d+\.\d+\+[0-9a-f]{10}/, 'a relative link to the release, so it holds inside and outside the tree');
    const rel = join(root, 'opt/loa', current);
    for (const f of ['bin/loa-agent.js', 'bin/loa.js', 'dist/agent/src/daemon/main.js', 'node_modules/better-sqlite3/package.json']) {
      t.ok(existsSync(join(rel, f)), `${f} in the release`);
    }
    for (const dev of ['typescript', 'tap', 'pino-pretty', '@types/luxon']) t.notOk(existsSync(join(rel, 'node_modules', dev)), `no dev dependency ${dev}`);
    t.equal(statSync(rel).uid, 0, 'the release belongs to root: the agent cannot rewrite its own code');
    t.equal(readlinkSync(join(root, 'opt/loa/runtime/current')), '20.20.2');

    t.match(inTree(root, '/usr/bin/node', '-v').stdout, /^v18\./, "the tree's own node is Debian's 18");
    t.equal(inTree(root, '/opt/loa/runtime/current/bin/node', '-v').stdout, 'v20.20.2');
    const sqlite = inTree(root, '/opt/loa/runtime/current/bin/node', '-e',
      'const D = require("/opt/loa/current/node_modules/better-sqlite3"); console.log(new D(":memory:").prepare("select sqlite_version() v").get().v)');
    t.match(sqlite.stdout, /^3\.\d+\.\d+$/, 'the release\'s better-sqlite3 loads on the runtime (same ABI)');

    const usage = inTree(root, '/usr/local/bin/loa', 'help');
    t.equal(usage.status, 0, usage.out);
    t.match(usage.stdout, /loa status/, '`loa` on the PATH runs the release\'s CLI on Node 20');
  });

  await t.test('config skeleton: 0600, owned by loa, names no station yet', async (t) => {
    const cfg = join(root, 'etc/loa/config.json');
    const st = statSync(cfg);
    t.equal(st.mode & 0o777, 0o600);
    t.equal(st.uid, Number(line(root, 'etc/passwd', 'loa')?.[2]));
    t.equal(JSON.parse(readFileSync(cfg, 'utf8')).station.id, '');
  });

  await t.test('units installed, enabled and verified by the tree\'s systemd', async (t) => {
    for (const u of ['loa-agent.service', 'loa-board.service']) {
      t.equal(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants', u)), `/etc/systemd/system/${u}`, `${u} enabled`);
    }
    t.equal(readFileSync(join(root, 'etc/pam.d/loa-board'), 'utf8'), readFileSync(join(import.meta.dirname, '../../systemd/loa-board.pam'), 'utf8'));
    t.ok(existsSync(join(root, 'etc/polkit-1/rules.d/50-loa-board.rules')));
    const agent = run('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/loa-agent.service']);
    t.equal(agent.out, '', 'loa-agent.service: no complaint, /opt/loa/current/bin/loa-agent.js found in the tree');
    t.equal(agent.status, 0);
    // --no-packages: cage and chromium are not in the tree; that must be all verify finds.
    const board = run('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/loa-board.service']);
    t.same(board.out.split('\n').filter((l) => !/Command \/usr\/bin\/cage is not executable|Failed to create|Unit .* failed to load/.test(l)), [], board.out);
    const broken = readFileSync(join(root, 'etc/systemd/system/loa-agent.service'), 'utf8').replace('ExecStart=/opt/loa/current/', 'ExecStart=/opt/loa/nowhere/');
    writeFileSync(join(root, 'etc/systemd/system/loa-broken.service'), broken);
    t.match(run('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/loa-broken.service']).out,
      /Command \/opt\/loa\/nowhere\/bin\/loa-agent.js is not executable/, 'the check sees the tree: a path missing there is caught');
    run('rm', [join(root, 'etc/systemd/system/loa-broken.service')]);
  });

  await t.test('journald limits: a drop-in journald reads, with keys it knows', async (t) => {
    const cat = run('systemd-analyze', ['cat-config', `--root=${root}`, 'systemd/journald.conf']);
    t.ok(cat.out.split('\n').includes(`# ${root}/etc/systemd/journald.conf.d/60-loa.conf`), 'read by journald as a drop-in');
    const stock = readFileSync(join(root, 'etc/systemd/journald.conf'), 'utf8');
    const ours = readFileSync(join(root, 'etc/systemd/journald.conf.d/60-loa.conf'), 'utf8');
    const keys = [...ours.matchAll(/^(\w+)=/gm)].map((m) => m[1]!);
    t.ok(keys.includes('SystemMaxUse') && keys.includes('Storage') && keys.includes('RateLimitBurst'));
    for (const k of keys) t.match(stock, new RegExp(`^#${k}=`, 'm'), `${k} is a journald.conf key of systemd 252`);
  });

  await t.test('udev rules: parsed by the tree\'s udevd without a complaint', async (t) => {
    const rules = '/etc/udev/rules.d/60-loa.rules';
    const udev = inTree(root, 'udevadm', 'test', '--action=add', '/sys/devices/virtual/mem/null');
    t.match(udev.out, new RegExp(`Reading rules file: ${rules.replaceAll('.', '\\.')}`), 'udevadm reads our file');
    t.notMatch(udev.out, /60-loa\.rules:\d+/, `no line of ${rules} is refused`);
    // The same check, on a copy with a mistake, does complain.
    const good = readFileSync(join(root, rules), 'utf8');
    writeFileSync(join(root, rules), good.replace('GROUP="video"', 'GRUOP="video"'));
    t.match(inTree(root, 'udevadm', 'test', '--action=add', '/sys/devices/virtual/mem/null').out, /60-loa\.rules:\d+/);
    writeFileSync(join(root, rules), good);
  });

  // A technician's own configuration, then the installer once more.
  const cfg = join(root, 'etc/loa/config.json');
  const own = '{ "station": { "id": "lc-binh-lu-01" } }\n';
  writeFileSync(cfg, own);
  const installed = treeListing(root);
  const second = install(root);
  t.equal(second.status, 0, second.out);
  t.match(second.out, /^install\.sh: nothing changed$/m, 'and says so');
  t.same(changedPaths(installed, treeListing(root)), [],
    'a second run writes nothing: every mode, owner, size and time (change time included) is the same, config.json too');
  t.equal(readFileSync(cfg, 'utf8'), own);

  const uninstall = install(root, '--uninstall');
  t.equal(uninstall.status, 0, uninstall.out);
  t.same(changedPaths(pristine, treeListing(root)), ['etc/loa', 'etc/loa/config.json', 'etc/loa/install-manifest', ...shadowFiles].sort(),
    'only the configuration and the users (shadow files) are left: /opt/loa, units, links, rules, drop-ins and /usr/local/bin/loa are gone');
  t.equal(readFileSync(cfg, 'utf8'), own, 'the configuration is kept as it was');

  const purge = install(root, '--uninstall', '--purge');
  t.equal(purge.status, 0, purge.out);
  const rewritten = changedPaths(pristine, treeListing(root));
  t.same(rewritten, [...shadowFiles, 'etc/subgid', 'etc/subuid'].sort(), 'purged: nothing of loa left, the shadow files rewritten...');
  const template = await debianRootTemplate();
  t.same(rewritten.filter((p) => contentDiffers(template, root, p)), shadowBackups.sort(),
    '...to their first bytes: users and groups gone (only shadow\'s backups remember)');
});
