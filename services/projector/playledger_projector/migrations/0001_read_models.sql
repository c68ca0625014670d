-- playledger read models, version 1.
-- Only the projector writes these tables; the API reads them. They live in schema
-- "playledger" (rebuild builds a fresh schema and swaps it in). Every row can be rebuilt
-- from PLAYLEDGER_EVENTS alone.

CREATE TABLE jobs (
    job_id            text PRIMARY KEY,
    status            text NOT NULL,              -- queued|running|successful|failed|error|canceled|timeout|rejected
    priority          text NOT NULL DEFAULT 'normal',
    source            jsonb,                      -- e.g. {"type": "local", "path": "site.yml"}
    inventory_summary jsonb,                      -- {"type": "inline", "hosts": 3, "groups": ["web"]}
    options           jsonb,                      -- JobOptions as resolved (started) or as submitted (queued)
    extra_vars        jsonb,
    created_at        timestamptz NOT NULL,       -- time of seq 1 (queued / rejected)
    started_at        timestamptz,
    finished_at       timestamptz,
    attempt           integer NOT NULL DEFAULT 0,
    executor_id       text,
    rc                integer,
    runner_status     text,
    failure_reason    text,                       -- rejection reason, error reason, failed/unreachable summary
    rejection_errors  jsonb,                      -- [{"path": "$.spec…", "message": "…"}] for rejected jobs
    cancel_requested  boolean NOT NULL DEFAULT false,
    current_play      text,
    current_task      text,
    hosts_total       integer NOT NULL DEFAULT 0, -- hosts seen in runner events
    hosts_ok          integer NOT NULL DEFAULT 0, -- hosts with no failure and no unreachable so far
    hosts_changed     integer NOT NULL DEFAULT 0, -- hosts with at least one change
    hosts_failed      integer NOT NULL DEFAULT 0, -- hosts with at least one (not ignored) failure
    hosts_unreachable integer NOT NULL DEFAULT 0,
    hosts_skipped     integer NOT NULL DEFAULT 0, -- hosts whose every result so far was skipped
    event_count       integer NOT NULL DEFAULT 0, -- events of this job projected so far
    runner_event_count integer NOT NULL DEFAULT 0,
    last_seq          integer NOT NULL DEFAULT 0, -- last per-job seq projected
    last_stream_seq   bigint  NOT NULL DEFAULT 0, -- stream sequence of that event
    terminal_seq      integer                     -- seq of the terminal event, once projected
);
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, job_id DESC);
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC, job_id DESC);
CREATE INDEX jobs_priority_created_idx ON jobs (priority, created_at DESC, job_id DESC);

CREATE TABLE job_hosts (
    job_id      text NOT NULL,
    host        text NOT NULL,
    ok          integer NOT NULL DEFAULT 0,
    changed     integer NOT NULL DEFAULT 0,
    failures    integer NOT NULL DEFAULT 0,
    unreachable integer NOT NULL DEFAULT 0,
    skipped     integer NOT NULL DEFAULT 0,
    rescued     integer NOT NULL DEFAULT 0,
    ignored     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, host)
);

CREATE TABLE job_events (
    job_id     text    NOT NULL,
    seq        integer NOT NULL,                  -- per-job sequence (1, 2, 3, …)
    stream_seq bigint  NOT NULL UNIQUE,           -- sequence in PLAYLEDGER_EVENTS
    type       text    NOT NULL,                  -- tag, e.g. runner.event.v1
    event      text    NOT NULL,                  -- kind: job.started, runner_on_ok, …
    attempt    integer NOT NULL,
    counter    integer,                           -- ansible-runner counter (runner events)
    host       text,
    play       text,
    task       text,
    time       timestamptz NOT NULL,
    stdout     text NOT NULL DEFAULT '',          -- as in the event (possibly truncated)
    truncated  boolean NOT NULL DEFAULT false,
    data       jsonb NOT NULL,                    -- the event's data, as published
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX job_events_event_idx ON job_events (job_id, event, seq);
CREATE INDEX job_events_host_idx ON job_events (job_id, host, seq);

-- One row per projection: the last stream sequence applied, written in the same
-- transaction as the read-model rows it covers.
CREATE TABLE projection_checkpoint (
    projection      text PRIMARY KEY,
    last_stream_seq bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Events the projector could not understand (a newer writer): kept, skipped, visible.
CREATE TABLE skipped_events (
    stream_seq  bigint PRIMARY KEY,
    subject     text NOT NULL,
    reason      text NOT NULL,
    payload     bytea NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
