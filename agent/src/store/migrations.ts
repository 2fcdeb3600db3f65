/**
 * Forward-only schema migrations. Entry N brings the database from
 * user_version N to N+1; never edit a released entry, append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the station's first schema.
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  -- Cached audio, addressed by SHA-256. state: ok | quarantined | missing
  -- (agent/src/cache/content-cache.ts); problem says why it cannot play.
  CREATE TABLE content (
    sha256        TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    name          TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    format        TEXT NOT NULL,
    loudness_lufs REAL,
    true_peak_dbtp REAL,
    gain_db       REAL NOT NULL DEFAULT 0,
    imported_ms   INTEGER NOT NULL,
    last_used_ms  INTEGER,
    state         TEXT NOT NULL DEFAULT 'ok',
    problem       TEXT
  );

  -- Programmes as validated documents; rows that fail validation are
  -- reported and skipped at load, never played.
  CREATE TABLE programme (
    id         TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
  );

  -- What the station did with each scheduled occurrence, so a restart
  -- neither replays nor forgets it. state: playing | done | missed | interrupted
  CREATE TABLE occurrence (
    id            TEXT PRIMARY KEY,
    programme_id  TEXT NOT NULL,
    start_ms      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    resume_item   INTEGER NOT NULL DEFAULT 0,
    resume_offset_ms INTEGER NOT NULL DEFAULT 0,
    updated_ms    INTEGER NOT NULL
  );
  CREATE INDEX occurrence_start ON occurrence(start_ms);

  -- Operator requests: play-now and priority bulletins.
  -- state: pending | playing | done | cancelled | expired
  CREATE TABLE request (
    id          TEXT PRIMARY KEY,
    doc         TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    sort_key    INTEGER NOT NULL,
    state       TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
  );
  CREATE INDEX request_state ON request(state, priority DESC, sort_key);

  -- Proof of play: one row per item, whatever happened to it.
  CREATE TABLE play_log (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL,
    programme_id  TEXT,
    occurrence_id TEXT,
    request_id    TEXT,
    content       TEXT,
    priority      INTEGER NOT NULL,
    scheduled_ms  INTEGER,
    started_ms    INTEGER,
    ended_ms      INTEGER,
    zones         TEXT NOT NULL,
    volume        INTEGER NOT NULL,
    result        TEXT NOT NULL,
    reason        TEXT,
    clock         TEXT NOT NULL
  );
  CREATE INDEX play_log_started ON play_log(started_ms);

  -- Everything that must reach the province, kept until acknowledged.
  CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_ms INTEGER NOT NULL
  );

  -- Provincial sync: signed sequence numbers already accepted, per stream
  -- (replay protection that does not trust the station clock).
  CREATE TABLE sync_seen (
    stream TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (stream, seq)
  ) WITHOUT ROWID;

  -- Provincial commands already seen, so one seen twice runs once and its
  -- answer can be given again.
  CREATE TABLE sync_command (
    id          TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    status      TEXT NOT NULL,
    response    TEXT NOT NULL,
    received_ms INTEGER NOT NULL
  );
  CREATE INDEX sync_command_received ON sync_command(received_ms);
  `,
  // 2: the bulletin board's images and videos share the content cache.
  `
  ALTER TABLE content ADD COLUMN kind TEXT NOT NULL DEFAULT 'audio';
  `,
  // 3: proof of play says how much audio reached the sound card, counted in samples.
  `
  ALTER TABLE play_log ADD COLUMN played_ms INTEGER;
  `,
];
