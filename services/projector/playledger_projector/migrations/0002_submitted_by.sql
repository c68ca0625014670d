-- playledger read models, version 2: who submitted each job (issue 16).
-- {"key_id": "...", "name": "..."} from job.queued's data.submitted_by; null for jobs
-- submitted without one. The API counts a key's unfinished jobs through the index.

ALTER TABLE jobs ADD COLUMN submitted_by jsonb;
CREATE INDEX jobs_submitted_key_idx ON jobs ((submitted_by ->> 'key_id'), status);
