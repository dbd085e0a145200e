"""``python -m patrolmarl`` runs the command line."""

import sys

from patrolmarl.cli import main

sys.exit(main())
