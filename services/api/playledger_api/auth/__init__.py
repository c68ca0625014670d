"""Who may do what over HTTP: API keys with scopes (issue 16).

``keys`` is the pure core (format, hash, scope and playbook rules), ``keystore`` the
API-owned PostgreSQL table, ``guard`` the Litestar guard every route passes through,
``controller`` ``/api/v1/keys``, ``bootstrap`` the first admin key of ``playledger dev``.
"""
