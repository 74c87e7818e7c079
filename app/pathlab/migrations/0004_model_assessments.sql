-- The model's assessments and the feedback sent back to it (the model's API, docs/api.qmd).
-- One assessment per case: the page shows it again instead of asking the model again.
CREATE TABLE assessments (
    case_id        INTEGER PRIMARY KEY REFERENCES cases(id),
    prediction_id  TEXT NOT NULL UNIQUE CHECK (length(prediction_id) = 32),
    probability    REAL NOT NULL CHECK (probability BETWEEN 0 AND 1),
    label          TEXT NOT NULL,
    threshold      REAL NOT NULL,
    model_version  TEXT NOT NULL,
    positive_label TEXT NOT NULL,
    notice         TEXT NOT NULL,
    assessed_by    TEXT NOT NULL,
    assessed_at    TEXT NOT NULL
);
CREATE TRIGGER assessments_no_update BEFORE UPDATE ON assessments
BEGIN SELECT RAISE(ABORT, 'assessments are kept as the model gave them'); END;
CREATE TRIGGER assessments_no_delete BEFORE DELETE ON assessments
BEGIN SELECT RAISE(ABORT, 'assessments are kept as the model gave them'); END;

-- Feedback waiting to be sent, or sent: one row per prediction, so it is sent once at most.
-- `claimed_until` keeps two senders (two processes) off the same row at the same time.
CREATE TABLE feedback_outbox (
    prediction_id TEXT PRIMARY KEY REFERENCES assessments(prediction_id),
    case_id       INTEGER NOT NULL REFERENCES cases(id),
    label         TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'refused')),
    queued_at     TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    next_try_at   REAL NOT NULL DEFAULT 0,
    claimed_until REAL NOT NULL DEFAULT 0,
    sent_at       TEXT
);
CREATE INDEX feedback_outbox_pending ON feedback_outbox(state, next_try_at);
