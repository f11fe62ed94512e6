"""`python -m bot`: the same as the `crampcheck` command."""

import sys

from bot.cli import main

sys.exit(main())
