"""Where the service keeps its jobs: the ``JobStore`` contract (``protocol``), SQLite
(``coprocessor.service.jobs.JobDB``, default) and PostgreSQL (``postgres``), chosen by
the config's ``database_url`` (``database``); the PostgreSQL schema's versioned
migrations (``migrations``, applied by ``coproc db migrate``)."""
