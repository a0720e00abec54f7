"""A rater's single-user server: the scoring page and nothing else.

The server is JupyterHub's ``jupyterhub-singleuser`` (Jupyter Server with the hub's login) with the
Voila extension only: no JupyterLab, no file tree, no terminals. :class:`ScoringOnlyAuthorizer`
refuses every REST call a scoring page does not need -- contents, files, kernels and sessions
listing or starting, kernel specs, nbconvert, config, events, shutdown -- and lets through only the
websocket of a kernel Voila started. These are conveniences on top of the real barrier: the server
and its kernel run as the rater's own Unix account (see :mod:`covsev_tools.hub.permissions`).

Examples
--------
>>> from traitlets.config import Config
>>> c = Config()
>>> configure_rater_server(c)
>>> c.ServerApp.jpserver_extensions["jupyterlab"], c.ServerApp.terminals_enabled
(False, False)
>>> c.KernelManager.transport
'ipc'
>>> c.ServerApp.kernel_manager_class is OnePageKernelManager
True
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyterhub.singleuser.extension import JupyterHubAuthorizer

from covsev_tools.scoring.offline import TEMPLATE, no_mathjax_from_cdn

__all__ = ["OnePageKernelManager", "ScoringOnlyAuthorizer", "configure_rater_server", "RATER_SERVER_CONFIG"]

#: What ``app/config/jupyter_server_config.py`` of a study holds (``JUPYTER_CONFIG_DIR`` of raters).
RATER_SERVER_CONFIG = (
    "# Written by covsev hub init: a rater's server serves the scoring page only.\n"
    "from covsev_tools.hub.singleuser import configure_rater_server\n\n"
    "configure_rater_server(c)  # noqa: F821 (c is the config object Jupyter passes in)\n"
)

#: Seconds after which a kernel no page is connected to is shut down (e.g. the old kernel of a reloaded page).
KERNEL_IDLE_TIMEOUT = 120

#: Server extensions switched off on a rater's server (Voila stays on).
DISABLED_EXTENSIONS = ("jupyterlab", "notebook", "notebook_shim", "jupyter_server_terminals",
                       "jupyter_lsp", "nbclassic", "jupyter_collaboration", "jupyter_server_ydoc")


class ScoringOnlyAuthorizer(JupyterHubAuthorizer):
    """The hub's access check, then: only the kernel websocket and the page's own resources.

    Jupyter Server asks the authorizer before every API call, naming a resource ("contents",
    "kernels", ...). Voila renders the page and talks to its kernel over
    ``/api/kernels/<id>/channels``; nothing else is needed, so every other API resource is refused
    (403) and a kernel is reachable only through its websocket and a read of its own model.
    """

    def is_authorized(self, handler, user, action, resource):
        """True for the page, its static files and its kernel's websocket; False for the REST APIs."""
        if not super().is_authorized(handler, user, action, resource):
            return False
        if resource == "kernels":
            from jupyter_server.services.kernels.handlers import KernelHandler
            from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

            # Voila's page reads its own kernel's model once (GET /api/kernels/<id>), then uses the
            # websocket; listing, starting, interrupting, restarting and deleting kernels stay refused.
            reads_one = isinstance(handler, KernelHandler) and action == "read"
            return isinstance(handler, KernelWebsocketHandler) or reads_one
        return resource not in {"contents", "sessions", "kernelspecs", "nbconvert", "config", "events",
                                "server", "terminals", "csp"}


class OnePageKernelManager(AsyncMappingKernelManager):
    """Jupyter Server's kernel manager, keeping one live kernel per rater: a new page replaces the old.

    Voila starts a kernel for every request of the page, so each reload of the scoring page used to
    leave one more kernel behind (10 reloads: 10 kernels, RSS 480 -> 1,249 MiB) until the idle
    culler took it. A rater's server serves one page only, so when a new kernel has started, every
    other kernel of the server is shut down (in the background, so the new page does not wait).
    A page left open in a second tab loses its kernel: the tab opened last is the rater's page.
    Saves are unaffected: each one is on disk before the page says "Saved", and the new page
    starts at the first case not saved.

    Examples
    --------
    >>> import asyncio
    >>> from jupyter_client.kernelspec import NATIVE_KERNEL_NAME
    >>> manager = OnePageKernelManager()
    >>> async def reload_three_times():
    ...     for _ in range(3):
    ...         await manager.start_kernel(kernel_name=NATIVE_KERNEL_NAME)
    ...     await manager.wait_for_replaced()
    ...     alive = manager.list_kernel_ids()
    ...     await manager.shutdown_all()
    ...     return len(alive)
    >>> asyncio.run(reload_three_times())       # three pages opened: one kernel left
    1
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._replacing: set = set()

    async def start_kernel(self, *, kernel_id=None, path=None, **kwargs):
        """Start the page's kernel, then shut down the kernels of earlier pages."""
        earlier = [k for k in self.list_kernel_ids() if k != kernel_id]
        started = await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        earlier = [k for k in earlier if k != started]
        if earlier:
            task = asyncio.ensure_future(self._shut_down(earlier))
            self._replacing.add(task)
            task.add_done_callback(self._replacing.discard)
        return started

    async def _shut_down(self, kernel_ids) -> None:
        for kernel_id in kernel_ids:
            if kernel_id in self:
                self.log.info("covsev: a new scoring page replaced kernel %s: shutting it down", kernel_id)
                try:
                    await self.shutdown_kernel(kernel_id)
                except Exception as exc:  # already going (culled, the page's own beacon): nothing to do
                    self.log.info("covsev: kernel %s was already gone (%s)", kernel_id, exc)

    async def wait_for_replaced(self) -> None:
        """Until the kernels of earlier pages are shut down (for tests)."""
        while self._replacing:
            await asyncio.gather(*list(self._replacing), return_exceptions=True)


def configure_rater_server(c) -> None:
    """Fill a Jupyter Server config ``c`` for a rater's server (Voila only, no Lab, no terminals).

    Nothing on the page is fetched from outside the hub: no MathJax from a CDN, and covsev's offline
    Voila template when the spawner has put it on ``JUPYTER_PATH`` (else Voila's default, which links
    Font Awesome from a CDN, with a warning in the hub log).

    Examples
    --------
    >>> from unittest import mock
    >>> from traitlets.config import Config
    >>> from covsev_tools.scoring.offline import offline_env
    >>> c = Config()
    >>> with mock.patch.dict("os.environ", offline_env()):   # as the spawner's environment has it
    ...     configure_rater_server(c)
    >>> c.ServerApp.jpserver_extensions["voila"], c.VoilaConfiguration.template
    (True, 'covsev')
    >>> c.ServerApp.tornado_settings["mathjax_url"] is None   # no MathJax from a CDN either
    True
    """
    extensions = {name: False for name in DISABLED_EXTENSIONS}
    extensions["voila"] = True
    c.ServerApp.jpserver_extensions = extensions
    c.ServerApp.terminals_enabled = False
    c.ServerApp.authorizer_class = ScoringOnlyAuthorizer
    c.ContentsManager.allow_hidden = False
    # Voila's notebook list shows the scoring page only, not the folder's runtime and config.
    c.ContentsManager.hide_globs = ["config", "jupyter", "runtime", "migrated", "__pycache__", "*.pyc"]
    # A reloaded page starts a new kernel, which replaces the old one at once (OnePageKernelManager);
    # a kernel no page is connected to goes after 2 idle minutes anyway. A connected page's kernel is
    # never culled, however long the rater looks at a case.
    c.ServerApp.kernel_manager_class = OnePageKernelManager
    c.MappingKernelManager.cull_idle_timeout = KERNEL_IDLE_TIMEOUT
    c.MappingKernelManager.cull_interval = 30
    c.MappingKernelManager.cull_connected = False
    # Kernels on Unix sockets in the account's 0700 runtime folder, never on TCP where any account of
    # the machine could subscribe to their output (the spawner passes this on the command line too).
    c.KernelManager.transport = "ipc"
    c.VoilaConfiguration.show_tracebacks = False
    _use_offline_template(c)
    no_mathjax_from_cdn(c)


def _use_offline_template(c) -> None:
    """Voila's default page links Font Awesome from a CDN, which a hospital network may not reach.

    Only when the template is on the data path: Voila, asked for a template it cannot find, streams
    a page that never finishes. The path cannot be changed here (see ``spawner._common_environment``).
    """
    from jupyter_core.paths import jupyter_path

    if any((Path(root) / "voila" / "templates" / TEMPLATE / "conf.json").is_file() for root in jupyter_path()):
        c.VoilaConfiguration.template = TEMPLATE
    else:
        print(f"covsev: Voila template {TEMPLATE!r} not on JUPYTER_PATH; the scoring page uses Voila's "
              "default, which links Font Awesome from the internet", file=sys.stderr)
