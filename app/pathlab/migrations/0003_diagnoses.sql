-- Final diagnoses, recorded by lab staff. A case's diagnosis is its latest row; a change is a new
-- row with the reason for it, so every diagnosis ever recorded stays readable.
CREATE TABLE diagnosis_classes (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

CREATE TABLE diagnoses (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    diagnosis   TEXT NOT NULL REFERENCES diagnosis_classes(name),
    comment     TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX diagnoses_case ON diagnoses(case_id, id);

CREATE TRIGGER diagnoses_no_update BEFORE UPDATE ON diagnoses
BEGIN SELECT RAISE(ABORT, 'diagnoses are append-only: record a new one'); END;
CREATE TRIGGER diagnoses_no_delete BEFORE DELETE ON diagnoses
BEGIN SELECT RAISE(ABORT, 'diagnoses are append-only: record a new one'); END;
