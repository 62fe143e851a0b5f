"""`python -m damer_lite` = the `damer-lite` command."""

import sys

from damer_lite.cli import main

sys.exit(main())
