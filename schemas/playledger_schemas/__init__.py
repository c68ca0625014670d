"""playledger's wire contract: every command and event, as frozen msgspec Structs.

Pure data and pure functions only; no IO. Tags are stable, versioned strings
(``job.submit.v1``), never Python paths. See ``schemas/README.md``.
"""
