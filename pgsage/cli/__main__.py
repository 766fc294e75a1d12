"""`python -m pgsage.cli`, the same as the `pgsage` command."""

import sys

from pgsage.cli import main

sys.exit(main())
