"""``python -m eventkit.cli``: the same as the ``eventkit`` console script."""

import sys

from eventkit.cli import main

sys.exit(main())
