"""``python -m pgbuild.migrate``: see :mod:`pgbuild.migrate.cli`."""

import sys

from pgbuild.migrate.cli import main

if __name__ == "__main__":
    sys.exit(main())
