import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout or install root: the nearest folder above this file holding loa's package.json. */
export const LOA_ROOT: string = (() => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'loa') return dir;
  }
  throw new Error('loa package.json not found above ' + fileURLToPath(import.meta.url));
})();

export const SOFTWARE_VERSION: string = (JSON.parse(readFileSync(join(LOA_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
