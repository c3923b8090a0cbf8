"""`python -m archon.cli`: the `archon` command."""

import sys

from . import main

sys.exit(main())
