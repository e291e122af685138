"""``python -m assetmap`` runs the command line."""

import sys

from assetmap.cli import main

sys.exit(main())
