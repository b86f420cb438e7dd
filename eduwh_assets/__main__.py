"""`python -m eduwh_assets`: the `eduwh` command, for environments without the console script."""

import sys

from eduwh_assets.cli import main

sys.exit(main())
