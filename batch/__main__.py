"""``python -m batch``: see :mod:`batch.cli`."""

import sys

from batch.cli import main

if __name__ == "__main__":
    sys.exit(main())
