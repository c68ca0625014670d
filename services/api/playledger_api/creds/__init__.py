"""Stored credentials (issue 15): encrypted at rest, handed only to the executor running a job.

``envelope`` is the encryption (a random AES-256-GCM data key per secret, wrapped by a
key-encryption key with an id; pure), ``keyring`` reads the KEKs, ``store`` is the API-owned
PostgreSQL table (schema ``playledger_secrets``, never touched by a read-model rebuild),
``controller`` is ``/api/v1/credentials``, ``responder`` answers executors on NATS.

Threat model — who can read what:

- **The events and commands streams** hold credential *names* only (``spec.credentials``);
  auditors, dashboards and anyone replaying the streams learn which credential a job used,
  never its value. Jobs that need a secret must reference a stored one; there is no way to put
  one in a command (and ``extra_vars`` are for non-secrets: they are stored in clear, forever).
- **PostgreSQL** holds ciphertext: each secret under its own data key, each data key wrapped by
  a KEK that lives outside the database (``PLAYLEDGER_SECRETS_KEY`` or a 0600 key file). A
  database dump or backup alone yields nothing. The AES-GCM associated data binds a ciphertext
  to its credential name, so rows cannot be swapped. Deleting a credential deletes its row (and
  with it its wrapped data key); copies of that row that PostgreSQL may still hold (dead tuples
  until vacuumed, WAL, backups) are unreadable once the KEK that wrapped it is retired:
  ``rotate-key`` to a new KEK, then drop the old one from the key file.
- **The API** (its process, with the KEK and the database) can read every secret: it is the
  trust root, as a vault server is.
- **An executor** never holds database credentials or the KEK. It asks on
  ``playledger.secrets.<job_id>`` for the secrets of the job it has just started, with a
  one-time X25519 public key. The API answers only when the job's last event in the
  (executor-written, immutable) events stream is ``job.started`` by that executor at that
  attempt and that executor's lease is alive, and only with the credentials that job's spec
  names, sealed to that key (``playledger_common.sealing``). The executor keeps them in memory,
  hands them to ansible-runner over the worker's stdin (``ssh_key``, ``passwords``), and masks
  every value (and its base64 / JSON-escaped forms) in everything it publishes or writes.
- **Vault references** are read by the executor: the API seals it the ``hashicorp_vault``
  credential the job names (address, token or AppRole), the executor logs in and reads the
  value, and masks the token and secret id like the value. Give those credentials a policy
  that reads only the paths jobs need: whoever runs the job can read what the token can.
- **A ``git`` credential** is needed before ``job.started`` (the checkout it fetches is what that
  event records), and so are a ``galaxy`` credential of a job with a git or ``collection_role``
  source (what ``ansible-galaxy`` installs is part of the playbook that event records), a ``url``
  inventory's ``http_headers`` credential (the hosts it lists), and the ``cloud`` and ``env``
  credentials of a job with a ``dynamic`` inventory (its plugin runs in ``ansible-inventory`` to
  list the hosts that event records). A Galaxy token reaches ``ansible-galaxy`` only, in its
  environment (``ANSIBLE_GALAXY_SERVER_<NAME>_TOKEN``: no argv, no file, not the run's
  environment); the executor caches what it installed under the credential's name, so a job
  that does not name the credential cannot obtain a private collection through the cache.
  An executor may ask for those alone while the job is queued and not yet started at that
  attempt (``checkout`` requests, ``credentials.checkout_references``). An attacker with the
  executor's NATS credentials can therefore read them for queued jobs without a stream
  record (the API logs every answer); every other secret still needs ``job.started``. Give
  git credentials read-only deploy keys or tokens scoped to the repositories jobs use, and
  the cloud credentials of inventory plugins read-only listing rights, Galaxy tokens read-only
  (download) rights, inventory headers a read-only CMDB token.
- **Caller-provided secrets** (a request's ``secret_vars`` and inline credentials) are stored the
  same way, as credentials of that one job (``job.<id>.<role>``), and deleted once the job is
  complete; the command, like every other, carries their names only.
- **An attacker with the executor's NATS credentials** can obtain the secrets of jobs it
  starts: to do so it must append ``job.started`` for a queued job, which the immutable stream
  records forever (and the real executors then see as a lost race or a fenced writer). It
  cannot read a secret meant for another executor (sealed to that one's key), nor the secrets
  of a job that names none.
- **An attacker with the api NATS credentials** can read requests, which carry no secret; it
  cannot answer as the API without the KEK and database. **publisher**, **dashboard**,
  **projector** and **auditor** may not publish on ``playledger.secrets.*`` at all, and the
  server gives the API's replies (sealed) only to the requester's private inbox.
"""
