"""playledger executor: job commands from JetStream become ansible-runner runs, every event appended.

Functional core (pure, no IO): ``decide`` (job state from its last event; what to do with a
submit or a cancel; how a run ended), ``truncate``, ``inventory``, ``runspec``, ``paths``,
``sources``.

Imperative shell: ``intake`` (durable ``intake`` consumer: ``job.queued`` / ``job.rejected``,
cancels of queued jobs, via ``accept``), ``dispatch`` (``run-<priority>`` consumers, one
submit per free slot, critical first), ``job`` (``job.started``, the worker, the terminal
event) with ``worker`` / ``proctree`` (the ``ansible-runner worker`` subprocess and its whole
process tree), ``writer`` (the attempt's fenced, in-order appends, retried until they land),
``journal`` (reads and OCC appends), ``lease`` (this executor's liveness, others' evidence),
``workspace`` (private dirs under a locked per-process directory; sweeping dead ones),
``cancel`` (watcher of cancel commands), ``running`` (the handle on a running job),
``privatedir`` (a fresh runner data dir per job), ``secrets`` (the job's credentials, asked of
the API and opened with a one-time key), ``vaultrefs`` (values read from HashiCorp Vault),
``redact`` (every secret form masked in each worker line), ``service`` (the process, graceful
shutdown), ``cli`` (``playledger executor``, declared as an entry point).
"""
