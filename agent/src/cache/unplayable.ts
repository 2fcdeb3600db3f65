import type { Db } from '../store/database.js';

/**
 * Content the station knows it needs but cannot play: quarantined (its
 * bytes did not match its hash) or missing from disk. A row leaves this
 * list when the file is fetched again and verified (state back to ok), or
 * when nothing needs it any more (eviction forgets it). `loa status` and
 * `loa doctor` both show this one query, so they agree.
 */
export interface UnplayableContent {
  sha256: string;
  name: string;
  state: 'quarantined' | 'missing';
  problem: string | null;
}

export function unplayableContent(db: Db): UnplayableContent[] {
  return db.prepare("SELECT sha256, name, state, problem FROM content WHERE state != 'ok' ORDER BY name, sha256").all() as UnplayableContent[];
}

/** One operator line: `content "Bản tin sáng" (ab12cd34…) quarantined: hash mismatch …; waiting to be fetched again`. */
export function describeUnplayable(u: UnplayableContent, locale: 'vi' | 'en'): string {
  const what = `"${u.name}" (${u.sha256.slice(0, 12)})`;
  const reason = u.problem ? `: ${u.problem}` : '';
  if (locale === 'vi') {
    return `nội dung ${what} ${u.state === 'quarantined' ? 'bị cách ly (tệp hỏng)' : 'bị thiếu trên đĩa'}${reason}; không phát, đang chờ tải lại`;
  }
  return `content ${what} ${u.state === 'quarantined' ? 'quarantined (corrupt file)' : 'missing from disk'}${reason}; not played, waiting to be fetched again`;
}
