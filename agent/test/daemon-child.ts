/** The real daemon entry, run as a child process by daemon tests (so it can be killed with SIGKILL). */
import { runDaemon } from '../src/daemon/main.js';

await runDaemon(process.argv.slice(2));
