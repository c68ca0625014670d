"""playledger projector: folds ``PLAYLEDGER_EVENTS`` into the PostgreSQL read models.

Functional core (no IO): ``views`` (row state), ``fold`` (``evolve``: one event into a job),
``batch`` (decode messages, fold a batch into row changes). Imperative shell: ``consumer``
(ordered push consumer), ``store`` (asyncpg: set-based writes + checkpoint check),
``applier`` (exactly-once batches), ``service`` (leader lock, run loop, lag log),
``rebuild`` (replay into a fresh schema, swap), ``migrations``, ``lag``, ``cli``.

Guarantees: each batch's rows and the checkpoint commit in one transaction, so a crash at
any point applies every event once; a job is terminal only once its terminal event is
projected (with all its earlier events, which precede it in the stream); unknown or
unstorable events are recorded in ``skipped_events``, never retried forever; one active
replica per database (``service``), any number of standbys.
"""
