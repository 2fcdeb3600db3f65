import { streamArgs } from '../src/audio/live/input.js';
console.log(streamArgs({ id: 'm', kind: 'http', url: process.argv[2] }, false, 0).map((a) => `'${a}'`).join(' '));
