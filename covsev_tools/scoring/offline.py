"""Serve the scoring pages with nothing fetched from outside the server (hospital networks).

Voila's default page links Font Awesome from a CDN.  covsev ships a Voila template, ``covsev``
(package data under ``static/voila/templates/``), that is Voila's ``lab`` page without those
links; the pages use no icon font.  Voila finds templates on the Jupyter data path, so a server
needs that folder on ``JUPYTER_PATH`` and ``--template=covsev``:

* a command line: ``voila --template=covsev ...`` with :func:`offline_env` as its environment;
* a Jupyter Server config file: ``configure_offline_voila(c)``;
* a study hub's rater servers: the spawner puts :func:`voila_template_root` on ``JUPYTER_PATH``
  before the server starts (``jupyterhub-singleuser`` fixes the data path before it reads config
  files, so ``configure_offline_voila`` comes too late there), and the config sets the template.

Examples
--------
>>> (voila_template_root() / "voila" / "templates" / TEMPLATE / "index.html.j2").is_file()
True
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

TEMPLATE = "covsev"


def voila_template_root() -> Path:
    """The folder to put on ``JUPYTER_PATH`` so that Voila finds the ``covsev`` template.

    Examples
    --------
    >>> voila_template_root().name
    'static'
    """
    return Path(str(resources.files("covsev_tools.scoring") / "static"))


def offline_env(env: dict | None = None) -> dict:
    """A copy of ``env`` (default: this process's) with the template folder first on ``JUPYTER_PATH``.

    Examples
    --------
    >>> offline_env({"JUPYTER_PATH": "/x"})["JUPYTER_PATH"].endswith(os.pathsep + "/x")
    True
    """
    env = dict(os.environ if env is None else env)
    paths = [str(voila_template_root())] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def configure_offline_voila(c) -> None:
    """In a Jupyter Server (or Voila) config file: serve pages with the offline ``covsev`` template.

    Sets ``JUPYTER_PATH`` for this server process (config files run before Voila looks for
    templates), ``VoilaConfiguration.template`` and :func:`no_mathjax_from_cdn`.

    Examples
    --------
    >>> from traitlets.config import Config
    >>> before = os.environ.get("JUPYTER_PATH")
    >>> c = Config(); configure_offline_voila(c); c.VoilaConfiguration.template
    'covsev'
    >>> _ = os.environ.pop("JUPYTER_PATH") if before is None else os.environ.update(JUPYTER_PATH=before)
    """
    os.environ["JUPYTER_PATH"] = offline_env()["JUPYTER_PATH"]
    c.VoilaConfiguration.template = TEMPLATE
    no_mathjax_from_cdn(c)


def no_mathjax_from_cdn(c) -> None:
    """In a Jupyter Server config file: Voila's pages do not load MathJax from a CDN.

    As a server extension, Voila's page loads MathJax from cdnjs unless the server's MathJax URL and
    configuration are both null; the covsev pages show no formulas, so both are (as ``voila`` alone has).

    Examples
    --------
    >>> from traitlets.config import Config
    >>> c = Config(); c.ServerApp.tornado_settings = {"headers": {}}; no_mathjax_from_cdn(c)
    >>> c.ServerApp.tornado_settings
    {'headers': {}, 'mathjax_url': None, 'mathjax_config': None}
    """
    settings = dict(c.ServerApp.tornado_settings) if "tornado_settings" in c.ServerApp else {}
    c.ServerApp.tornado_settings = {**settings, "mathjax_url": None, "mathjax_config": None}


_PAGE_CELL = ("# covsev page (written by `covsev page`): parameters come from the environment.\n"
              "from covsev_tools.scoring import launch\n\nlaunch()")


def page_command(folder, *, port: int = 8866, ip: str = "127.0.0.1") -> list[str]:
    """The Voila command line of the offline scoring page, its notebook written into ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> cmd = page_command(tempfile.mkdtemp(), port=9000)
    >>> cmd[-3:]
    ['--port=9000', '--Voila.ip=127.0.0.1', '--template=covsev']
    """
    import json
    import sys

    notebook = Path(folder) / "covsev_page.ipynb"
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": _PAGE_CELL}
    notebook.write_text(json.dumps({"cells": [cell], "metadata": {"kernelspec": {
        "display_name": "Python 3", "language": "python", "name": "python3"}}, "nbformat": 4,
        "nbformat_minor": 5}), encoding="utf-8")
    return [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
            f"--Voila.ip={ip}", f"--template={TEMPLATE}"]


def serve_page(cohort_dir, *, labels_dir=None, rater: str | None = None, adjudicator: str | None = None,
               port: int = 8866, ip: str = "127.0.0.1") -> int:
    """Run the scoring (or training, or adjudication) page offline with Voila until interrupted.

    Returns Voila's exit status.

    Examples
    --------
    >>> serve_page("cohorts/pilot", labels_dir="labels", rater="rad1")   # doctest: +SKIP
    """
    import subprocess
    import tempfile

    settings = {"COVSEV_COHORT": Path(cohort_dir).resolve(), "COVSEV_RATER": rater,
                "COVSEV_ADJUDICATOR": adjudicator,
                "COVSEV_LABELS_DIR": Path(labels_dir).resolve() if labels_dir else None}
    env = offline_env({**os.environ, **{k: str(v) for k, v in settings.items() if v}})
    with tempfile.TemporaryDirectory(prefix="covsev-page-") as folder:
        proc = subprocess.Popen(page_command(folder, port=port, ip=ip), env=env, cwd=folder)
        try:
            return proc.wait()
        except KeyboardInterrupt:  # Ctrl+C: stop Voila (SIGTERM shuts its kernels down) before cleaning up
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return 130
