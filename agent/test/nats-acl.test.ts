import t from 'tap';
import { aclToPermissions, topicToSubjects } from '../../province/src/nats-cluster.js';
import { renderAcl } from '../../province/src/mosquitto.js';

// The NATS cluster enforces the project's Mosquitto ACL, turned into subject permissions.

t.test('topic filters become subjects; # also covers its parent', async (t) => {
  t.same(topicToSubjects('loa/v1/time'), ['loa.v1.time']);
  t.same(topicToSubjects('loa/v1/station/+/status'), ['loa.v1.station.*.status']);
  t.same(topicToSubjects('loa/v1/station/st-1/target/#'), ['loa.v1.station.st-1.target', 'loa.v1.station.st-1.target.>']);
  t.throws(() => topicToSubjects('loa/v1/group/a.b/cmd'), /NATS cannot carry/);
});

t.test("the station ACL: its own topics and its groups', nothing else", async (t) => {
  const perms = aclToPermissions(renderAcl(['province'], [{ id: 'st-1', groups: ['commune-7'] }]));
  t.same(perms.get('province'), { publish: ['loa.v1', 'loa.v1.>'], subscribe: ['loa.v1', 'loa.v1.>'] });
  t.same(perms.get('st-1'), {
    subscribe: ['loa.v1.time', 'loa.v1.station.st-1.target', 'loa.v1.station.st-1.target.>', 'loa.v1.station.st-1.cmd', 'loa.v1.group.commune-7.cmd'],
    publish: ['loa.v1.station.st-1.status', 'loa.v1.station.st-1.reported', 'loa.v1.station.st-1.response', 'loa.v1.station.st-1.out', 'loa.v1.station.st-1.out.>'],
  });
  t.throws(() => aclToPermissions('user a\ntopic deny x\n'), /not understood/);
});
