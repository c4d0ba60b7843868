"""`python -m carpha`: the same as the `carpha` command."""

import sys

from .cli import main

sys.exit(main())
