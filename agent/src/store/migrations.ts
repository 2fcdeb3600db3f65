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
  // 3: a schedule imported while the clock was untrusted is dated when the
  // clock becomes trusted (updated_ms of such a row is not yet a time).
  `
  ALTER TABLE programme ADD COLUMN undated INTEGER NOT NULL DEFAULT 0;
  `,
  // 4: proof of display, province link and faults kept for the yearly report (agent/src/report/).
  `
  -- Proof of display: one row per board showing, written when it ends.
  CREATE TABLE board_proof (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL UNIQUE,
    key       TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    kind      TEXT NOT NULL,
    source    TEXT NOT NULL,
    shown_ms  INTEGER,
    ended_ms  INTEGER NOT NULL,
    result    TEXT NOT NULL,
    problem   TEXT,
    clock     TEXT NOT NULL
  );
  CREATE INDEX board_proof_ended ON board_proof(ended_ms);

  -- Province link up/down transitions (and the agent's own starts), for time offline.
  CREATE TABLE link_change (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms  INTEGER NOT NULL,
    online INTEGER NOT NULL
  );

  -- Warnings and errors reported to the province, kept after the outbox has sent them.
  CREATE TABLE fault_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    event   TEXT NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL
  );
  CREATE INDEX fault_log_at ON fault_log(at_ms);
  `,
  // 5: proof of play at the relays: per zone, confirmed on for the whole item, and from what (JSON; NULL before this).
  `
  ALTER TABLE play_log ADD COLUMN relay_evidence TEXT;
  `,
  // 6: proof of play says how much audio reached the sound card, counted in samples.
  `
  ALTER TABLE play_log ADD COLUMN played_ms INTEGER;
  `,
  // 7: public alerts (agent/src/alerts/): every alert message with its lifecycle state, and the alert each play-log row proves.
  `
  -- One row per alert message, whatever brought it (CAP command or feed, a station emergency).
  -- key: "sender,identifier,sent" as CAP references name it. registry: live | cancelled | superseded
  -- (alerts/lifecycle.ts); doc: the parsed CapAlert as JSON; raw: the CAP XML as received.
  -- last_play_ms: when its last play ended (repeats count from it, across restarts); finished: no more plays.
  CREATE TABLE alert (
    key           TEXT PRIMARY KEY,
    identifier    TEXT NOT NULL,
    sender        TEXT NOT NULL,
    sent_ms       INTEGER NOT NULL,
    status        TEXT NOT NULL,
    msg_type      TEXT NOT NULL,
    refs          TEXT NOT NULL,
    origin        TEXT NOT NULL,
    doc           TEXT NOT NULL,
    raw           TEXT,
    registry      TEXT NOT NULL,
    ended_by      TEXT,
    request_id    TEXT,
    last_play_ms  INTEGER,
    plays         INTEGER NOT NULL DEFAULT 0,
    finished      INTEGER NOT NULL DEFAULT 0,
    received_ms   INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
  );
  CREATE INDEX alert_identifier ON alert(identifier);
  CREATE INDEX alert_request ON alert(request_id);

  -- A Cancel or Update that arrived before the alert it references: the late original stays silent.
  CREATE TABLE alert_overtaken (
    key      TEXT PRIMARY KEY,
    by_key   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    sent_ms  INTEGER NOT NULL,
    status   TEXT NOT NULL
  );

  ALTER TABLE play_log ADD COLUMN alert_id TEXT;
  `,
  // 8: live relays.
  // A live item's row has no content: it names its sources and which one was
  // heard from when to when (JSON; NULL for files). A relay cut off by an
  // emergency is rejoined until the end it had.
  `
  ALTER TABLE play_log ADD COLUMN live TEXT;
  ALTER TABLE occurrence ADD COLUMN resume_until_ms INTEGER;
  `,
  // 9: what played, in the operator's words, as it was when it played: a
  // schedule replaced or a file evicted later leaves \`loa log\` readable.
  `
  ALTER TABLE play_log ADD COLUMN programme_name TEXT;
  ALTER TABLE play_log ADD COLUMN label TEXT;
  ALTER TABLE play_log ADD COLUMN file_name TEXT;
  `,
  // 10: when the item a cut left unfinished was first heard again after a
  // restart. A power supply that keeps failing restarts that item from its
  // start each time: only its first return counts as progress, so its grace
  // window closes instead of carrying the programme on for ever.
  `
  ALTER TABLE occurrence ADD COLUMN resumed_ms INTEGER;
  `,
];
