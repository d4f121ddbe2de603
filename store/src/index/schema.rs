//! The index schema. `PRAGMA user_version` holds [`SCHEMA_VERSION`]; an
//! index with another version is rebuilt, never migrated (it is a cache).

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i64 = 2;

/// Creates the tables of an empty index.
pub const CREATE: &str = "
PRAGMA user_version = 2;
CREATE TABLE packs (
    num  INTEGER PRIMARY KEY,
    id   BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL
);
CREATE TABLE blobs (
    id         BLOB PRIMARY KEY,
    pack       INTEGER NOT NULL REFERENCES packs(num),
    offset     INTEGER NOT NULL,
    stored_len INTEGER NOT NULL,
    raw_len    INTEGER NOT NULL,
    kind       INTEGER NOT NULL,
    codec      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX blobs_by_pack ON blobs(pack);
CREATE TABLE snapshots (
    id     BLOB PRIMARY KEY,
    record BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE stat_cache (
    profile TEXT NOT NULL,
    path    BLOB NOT NULL,
    entry   BLOB NOT NULL,
    PRIMARY KEY (profile, path)
) WITHOUT ROWID;
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('blob_epoch', 0);
";
