"""`python -m services.cli`: the same as the `ticketflow` command."""

import sys

from services.cli.main import main

main()
sys.exit(0)
