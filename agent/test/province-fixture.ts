import type { Test } from 'tap';
import { EmbeddedBroker } from '../../province/src/embedded-broker.js';
import { ContentServer } from '../../province/src/content-server.js';
import { Province } from '../../province/src/province.js';
import { generateProvinceKeys } from '../src/sync/signing.js';

export type ProvinceKeys = ReturnType<typeof generateProvinceKeys>;

/** The province side of a test: the embedded broker, a content server, a signing key and the reference simulator, all closed at teardown. */
export async function startProvince(t: Test, keys: ProvinceKeys = generateProvinceKeys()): Promise<{ broker: EmbeddedBroker; content: ContentServer; keys: ProvinceKeys; province: Province }> {
  const broker = await EmbeddedBroker.start();
  t.teardown(() => broker.close());
  const content = new ContentServer();
  await content.listen();
  t.teardown(() => content.close());
  const province = new Province({ url: broker.url, privateKey: keys.privateKey, protocolVersion: 4 });
  await province.connect();
  t.teardown(() => province.close());
  return { broker, content, keys, province };
}
