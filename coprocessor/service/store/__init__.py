"""Where the service keeps its jobs and everything else it stores: the ``JobStore`` and
``ServiceDB`` contracts (``protocol``), SQLite (``coprocessor.service.jobs.JobDB``,
default) and PostgreSQL (``postgres``: the job queue; ``service_pg``: the rest;
``posts``: posting records and nonces; ``keys``: API keys and rate buckets), chosen by
the config's ``database_url`` (``database``); the PostgreSQL schema's versioned
migrations (``migrations``, applied by ``coproc db migrate``)."""
