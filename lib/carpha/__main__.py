"""`python -m carpha`: the same as the `carpha` command."""

import sys

from .cli.main import main

sys.exit(main())
