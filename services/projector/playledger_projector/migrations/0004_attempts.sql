-- playledger read models, version 4: retries, the dead letter, run_at, dependencies, templates (issue 18).
-- max_attempts: the job's retry policy (from job.queued); attempts: every ended attempt as
-- [{"attempt", "status", "cause", "reason", "rc", "ended_at"}]; run_at: when a job in status
-- `scheduled` starts (its submit's run_at, or its next attempt's retry_at); dead_letter: a dead job, or one the poison path ended.

ALTER TABLE jobs ADD COLUMN max_attempts integer NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN attempts jsonb;
ALTER TABLE jobs ADD COLUMN run_at timestamptz;
ALTER TABLE jobs ADD COLUMN dead_letter boolean NOT NULL DEFAULT false;
-- depends_on: the jobs a `waiting` job waits for (job.queued's depends_on), ["job-a", ...].
ALTER TABLE jobs ADD COLUMN depends_on jsonb;
CREATE INDEX jobs_dead_letter_created_idx ON jobs (created_at DESC, job_id DESC) WHERE dead_letter;
-- template, template_version: the template a job was launched from (job.queued's template).
ALTER TABLE jobs ADD COLUMN template text;
ALTER TABLE jobs ADD COLUMN template_version integer;
CREATE INDEX jobs_template_created_idx ON jobs (template, created_at DESC, job_id DESC) WHERE template IS NOT NULL;
