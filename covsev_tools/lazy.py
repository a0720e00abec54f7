"""A package's public names, imported from their submodules when first used (PEP 562).

A rater's Jupyter server imports only :mod:`covsev_tools.hub.singleuser` and
:mod:`covsev_tools.scoring.offline`, but Python first runs the ``__init__`` of every package on the
way. Importing everything those two ``__init__`` files name (numpy, ipywidgets, anywidget, the
hub's configuration) took about 0.4 s of CPU in every rater's server, on top of the 1.5 s of
Jupyter Server, Voila and JupyterHub; covsev's own part is now under 0.1 s
(``benchmarks/server_imports.py``). Twenty raters logging in together pay it twenty times. With :func:`attach`, ``from covsev_tools.scoring import launch``
still works and imports the scoring page's modules then, and only them.

Examples
--------
>>> import covsev_tools.scoring as scoring
>>> "launch" in dir(scoring), scoring.launch.__module__
(True, 'covsev_tools.scoring.app')
"""
from __future__ import annotations

import importlib
import sys

__all__ = ["attach"]


def attach(package: str, names: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for ``package``: each public name -> the submodule that defines it.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        Public name -> submodule name relative to the package (``"app"`` for ``package.app``).

    Returns
    -------
    (__getattr__, __dir__)
        To assign at the package's top level. A name is imported once, then kept in the package.

    Examples
    --------
    In ``covsev_tools/scoring/__init__.py``::

        __getattr__, __dir__ = attach(__name__, {"launch": "app", "ScoringSession": "session"})
    """

    def __getattr__(name: str):
        try:
            submodule = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        setattr(sys.modules[package], name, value)  # later uses find it without this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
