"""``python -m clipcore``: see ``clipcore.cli``."""

import sys

from clipcore.cli import main

if __name__ == "__main__":
    sys.exit(main())
