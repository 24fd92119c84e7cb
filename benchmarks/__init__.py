"""pgbuild's benchmark suite: pgbuild against the same SQL written by hand
for psycopg, and against SQLAlchemy Core and PyPika when they are installed.

::

    python -m benchmarks            # the full run (a few minutes)
    python -m benchmarks --quick    # a smoke run, as CI does; numbers are not meaningful
    python -m benchmarks --only sync.point --only async.point   # some cases
    python -m benchmarks --only relational --latency 0.2   # as if over a network

It runs on an embedded PostgreSQL started in a temporary directory (the
``dev`` extra), or on ``DATABASE_URL`` when set, in a schema of its own that
it drops afterwards. Contenders are interleaved round by round in one
process; the table gives each one's median time per operation and its ratio
to raw psycopg. See :mod:`benchmarks.harness` for the method,
:mod:`benchmarks.catalog` for what each case compares, and
``python -m benchmarks.profiling`` for where pgbuild's time goes.

The core never imports this package; it is a client of pgbuild's public API.
"""
