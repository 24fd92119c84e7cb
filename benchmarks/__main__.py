"""``python -m benchmarks``: see :mod:`benchmarks` and ``--help``."""

from benchmarks.suite import main

raise SystemExit(main())
