"""``python -m convnet ...`` runs the command line (see :mod:`convnet.cli`)."""

import sys

from convnet.cli import main

sys.exit(main())
