"""Doctest collection over the whole package: skip the entry points that run on import."""
collect_ignore = ["covsev_tools/cli/__main__.py", "setup.py"]
