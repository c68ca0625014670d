-- playledger read models, version 5: template chains (issue 18).
-- parent: the job whose end launched this one through its template's chain (job.queued's
-- parent): {"job_id", "link": "on_success" | "on_failure", "index", "depth"}. A job's children
-- are the rows whose parent names it (the index below serves that lookup).

ALTER TABLE jobs ADD COLUMN parent jsonb;
CREATE INDEX jobs_parent_idx ON jobs ((parent->>'job_id'), created_at, job_id) WHERE parent IS NOT NULL;
