/** bin/loa-board-devtools.js for tests: the same relay, run from the sources. */
import { runDevtoolsRelay } from '../src/board/devtools-relay.js';
import { createLogger } from '../src/lib/logger.js';

process.exit(await runDevtoolsRelay(process.argv.slice(2), createLogger({ name: 'loa-board-devtools' })));
