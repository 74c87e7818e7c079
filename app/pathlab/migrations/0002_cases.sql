-- The lab's cases and their fine-needle-aspirate measurements, loaded from the holding file.
-- What each measurement is (label, unit, meaning) is data too, so the pages need no list of their own.
CREATE TABLE measurement_kinds (
    name        TEXT PRIMARY KEY,
    position    INTEGER NOT NULL,
    label       TEXT NOT NULL,
    unit        TEXT NOT NULL,
    description TEXT NOT NULL
);

CREATE TABLE cases (
    id          INTEGER PRIMARY KEY,
    accession   TEXT NOT NULL UNIQUE,
    source_row  INTEGER NOT NULL,
    added_at    TEXT NOT NULL
);

CREATE TABLE measurements (
    case_id INTEGER NOT NULL REFERENCES cases(id),
    kind    TEXT NOT NULL REFERENCES measurement_kinds(name),
    value   REAL NOT NULL,
    PRIMARY KEY (case_id, kind)
) WITHOUT ROWID;

-- Texts that come with the data (the measurements' overall note, the diagnosis' meaning).
CREATE TABLE wording (
    key  TEXT PRIMARY KEY,
    text TEXT NOT NULL
);

-- Each holding file loaded, by its sha256: loading the same file again adds nothing.
CREATE TABLE seed_loads (
    id          INTEGER PRIMARY KEY,
    file_sha256 TEXT NOT NULL,
    source      TEXT NOT NULL,
    loaded_at   TEXT NOT NULL,
    cases_added INTEGER NOT NULL
);
