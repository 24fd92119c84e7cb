"""pgbuild: a small, typed PostgreSQL query builder on psycopg 3."""
