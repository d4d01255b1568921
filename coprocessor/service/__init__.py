"""The service (``coproc serve``): HTTP API v1, durable jobs, signed outputs, proof of
sampling, SSE feed and Prometheus metrics. See docs/api.md and docs/operations.md.

Layout: ``app`` (HTTP routes), ``openapi`` (the one definition of the API and the
validator that reads it), ``jobs`` (the SQLite queue), ``worker`` (the stages),
``signer``, ``proving``, ``posting``, ``sampling``, ``auth``, ``feed``, ``metrics``,
``catalog`` (models served), ``journal`` (journal v1 codec), ``config``.
"""
