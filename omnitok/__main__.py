"""``python -m omnitok``: the ``omnitok`` command line."""

import sys

from omnitok.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
