"""``python -m covsev_tools.cli`` runs the ``covsev`` command."""
import sys

from covsev_tools.cli.main import main

sys.exit(main())
