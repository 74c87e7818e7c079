-- Batch assessment of cases chosen from the list: one job, its cases in the order chosen. Cases
-- are sent in chunks no larger than the API's documented cap (maxItems of POST /v1/predict);
-- `chunk` numbers the request a case went in, so a failed request's cases are shown together
-- and retried together. The assessment itself is the case's own row in `assessments`.
CREATE TABLE batch_jobs (
    id          INTEGER PRIMARY KEY,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE batch_items (
    job_id   INTEGER NOT NULL REFERENCES batch_jobs(id),
    case_id  INTEGER NOT NULL REFERENCES cases(id),
    position INTEGER NOT NULL,
    state    TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'sending', 'assessed', 'failed')),
    chunk    INTEGER,
    error    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, case_id)
);
CREATE INDEX batch_items_waiting ON batch_items(state, job_id, position);
