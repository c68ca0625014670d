"""playledger's HTTP API (Litestar): submit, query and cancel jobs; live progress over SSE.

- ``app.create_app(settings)`` builds the app; ``cli.api`` (``playledger api``) serves it with
  uvicorn (``--host/--port/--workers`` over ``PLAYLEDGER_API_HOST/PORT/WORKERS``).
- Writes are commands on JetStream (``bus``); reads come only from the PostgreSQL read models
  (``store``); ``GET /api/v1/jobs/{id}/stream`` is served from JetStream: one shared consumer
  per watched job and process (``fanout``) feeds every client (``live``); a client replays what
  the shared ring no longer holds on its own consumer (``consumer``); the exactly-once rules are
  pure (``backlog``), the wire format too (``sse``).
- Errors are RFC 9457 problem details (``errors``); request bodies are decoded strictly
  (``submission``); the OpenAPI document is at ``/schema/openapi.json``.
"""
