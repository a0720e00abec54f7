"""Command groups of the ``covsev`` CLI, one module each (see ``covsev_tools.cli``)."""
