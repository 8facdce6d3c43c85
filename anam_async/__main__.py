"""``python -m anam_async``: the ``anam-async`` command line (needs the ``cli`` extra)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
