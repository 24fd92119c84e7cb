"""pgbuild studio: browse and edit a database in a local web page.

``python -m pgbuild.studio`` (see :mod:`pgbuild.studio.__main__`) prints a
URL with a one-time token; open it. From Python (tests, notebooks)::

    from pgbuild.studio import start_studio

    with start_studio("postgresql://localhost/app", write=False) as studio:
        print(studio.url)          # http://127.0.0.1:PORT/?token=...

The page is served from ``static/`` inside the package (nothing is fetched
from the network); the JSON API it calls is described in
:mod:`pgbuild.studio.api`, the security rules in :mod:`pgbuild.studio.server`.
Only the standard library and pgbuild's own dependencies are used.
"""

from pgbuild.studio.server import Studio, start_studio

__all__ = ["Studio", "start_studio"]
