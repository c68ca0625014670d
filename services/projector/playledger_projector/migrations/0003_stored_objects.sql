-- playledger read models, version 3: the objects each job's last attempt put in log storage (issue 17).
-- From the terminal event's data: log {name, key, size, sha256} (null when not stored),
-- artifacts [{name, key, size, sha256}, ...] and missing [{name, reason}, ...].

ALTER TABLE jobs ADD COLUMN log_object jsonb;
ALTER TABLE jobs ADD COLUMN artifacts jsonb;
ALTER TABLE jobs ADD COLUMN missing_objects jsonb;
