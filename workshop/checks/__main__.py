"""`python -m workshop.checks`: verify, budgets and trends from the command line."""

import sys

from workshop.checks.cli import main

sys.exit(main())
