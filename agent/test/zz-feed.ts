import { startIcecast } from './stream-fixture.js';
const ic = await startIcecast();
console.log('port', ic.port);
try { await ic.feed('main.mp3', 440); console.log('ok'); } catch (e) { console.log(String(e)); const r = await fetch(`http://127.0.0.1:${ic.port}/status-json.xsl`); console.log(await r.text()); }
await ic.close();
