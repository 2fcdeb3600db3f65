/** The `loa` command as a process of its own, run by tests that put it where the daemon cannot see (another mount namespace). */
import { main } from '../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
