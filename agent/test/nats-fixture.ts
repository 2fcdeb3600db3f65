import type { Test } from 'tap';
import { NatsCluster, type NatsClusterOptions } from '../../province/src/nats-cluster.js';
import { tempDir } from './sync-fixture.js';

/**
 * A three-node NATS cluster (JetStream, MQTT, HAProxy fronts) with the
 * project's configuration (province/nats), each node on free loopback ports
 * with its own store, stopped at teardown. Never the system's nats-server.
 */
export async function startNatsCluster(t: Test, o: Omit<NatsClusterOptions, 'dir'>): Promise<NatsCluster> {
  const cluster = await NatsCluster.create({ dir: tempDir('nats'), ...o });
  t.teardown(() => cluster.stop());
  return cluster;
}

/** A station's broker list on the cluster: every node, starting at `first`, so stations spread over the nodes. */
export function brokersFrom(cluster: NatsCluster, first: number): string[] {
  const urls = cluster.urls;
  return urls.map((_, i) => urls[(first + i) % urls.length]!);
}
