"""playledger projector: folds ``PLAYLEDGER_EVENTS`` into the PostgreSQL read models.

Functional core (no IO): ``views`` (a job's fold state), ``fold`` (``evolve``: one event into a
job), ``batch`` (decode messages, fold a batch into row changes). Imperative shell: ``consumer``
(ordered push consumer), ``store`` (asyncpg: set-based writes + checkpoint check),
``applier`` (exactly-once batches), ``service`` (leader lock, run loop, lag log),
``rebuild`` (replay into a fresh schema, swap), ``migrations``, ``lag``, ``cli``.

Guarantees: each batch's rows and the checkpoint commit in one transaction, so a crash at
any point applies every event once; a job is terminal only once its terminal event is
projected (with all its earlier events, which precede it in the stream); unknown or
unstorable events are recorded in ``skipped_events``, never retried forever; one active
replica per database (``service``), any number of standbys.

Changing the read model:

- **A column** (say ``jobs.playbook``): a migration ``000N_*.sql`` (``ALTER TABLE jobs ADD
  COLUMN playbook text``, with ``READ_MODEL_VERSION`` = N), then (1) the field on
  ``playledger_common.readmodel.JobRow`` (``playbook: str | None = None``) and (2) the fold
  rule that sets it (``fold.step``). The store's upsert, its reads, the API's reads and the
  test helpers derive their column lists and types from ``JobRow``; ``tests/projector/
  test_rows.py`` fails if the row and the migrated table disagree. Showing it over HTTP is
  one more, deliberate, edit: a field of ``JobStatusResponse`` set in ``store.job_status``.
- **A status**: (1) the word in ``playledger_schemas.status`` and (2) its terminal event in
  ``events.OUTCOME_EVENTS`` (or ``TERMINAL_EVENTS``). The fold, the API's models and
  ``?status=`` filter, the SSE end event and the CLI all derive from those two; the README's
  status table is checked against them by a test.
"""
