"""Browser-side widgets of the scoring app: the X-ray viewer and the keyboard catcher.

Both are small `anywidget <https://anywidget.dev>`_ widgets, so they work in JupyterLab and in
Voila alike; their JavaScript and CSS are package data in ``static/``, read at import.  The viewer draws the image in the browser and applies zoom, pan, brightness,
contrast and invert as CSS transforms and filters -- instant, no server round trip.  Images travel
as binary messages keyed by an opaque random token (never a case ID or file name) and are decoded
in advance, so showing the next case is a swap of an already decoded image.  The keyboard catcher
forwards bound keys to Python as ``{"kind": "key", "key": ...}`` messages; tests drive the same
path with :meth:`KeyCatcher.simulate`.
"""
from __future__ import annotations

import secrets
from importlib import resources

import anywidget
import traitlets

ZOOM_RANGE = (0.5, 12.0)
FILTER_RANGE = (0.2, 4.0)


#: Seconds between a case's page updates and the sending of the next case's image.
PRELOAD_DELAY = 0.4


def later(delay: float, action) -> None:
    """Run ``action()`` after ``delay`` seconds on the kernel's event loop; at once without one
    (a script or a test).

    When many raters save at the same moment, the images sent ahead would otherwise queue in
    front of the other raters' page updates on the shared server; a reader looks at a case for
    seconds, so the next image still arrives long before it is needed.

    Examples
    --------
    >>> later(0.4, lambda: print("sent"))  # no event loop here: at once
    sent
    """
    import asyncio

    try:
        asyncio.get_running_loop().call_later(delay, action)
    except RuntimeError:
        action()


def static_text(name: str) -> str:
    """A JavaScript or CSS file of ``covsev_tools/scoring/static/`` (package data), as text.

    Examples
    --------
    >>> "export default" in static_text("keys.js")
    True
    """
    return (resources.files("covsev_tools.scoring") / "static" / name).read_text(encoding="utf-8")


class XrayViewer(anywidget.AnyWidget):
    """An image fitted to its frame, with zoom, pan, brightness/contrast and invert.

    Mouse: wheel zooms, drag pans, right- or shift-drag sets brightness (vertical) and contrast
    (horizontal), double-click resets.  The view state is synced, so Python buttons and keyboard
    shortcuts change it too.

    Examples
    --------
    >>> viewer = XrayViewer()
    >>> viewer.show(open("case.png", "rb").read())          # doctest: +SKIP
    >>> viewer.zoom_by(2); viewer.zoom
    2.0
    """

    _esm = static_text("viewer.js")
    _css = static_text("viewer.css")
    uid = traitlets.Unicode().tag(sync=True)
    token = traitlets.Unicode("").tag(sync=True)
    next_token = traitlets.Unicode("").tag(sync=True)
    zoom = traitlets.Float(1.0).tag(sync=True)
    pan_x = traitlets.Float(0.0).tag(sync=True)
    pan_y = traitlets.Float(0.0).tag(sync=True)
    brightness = traitlets.Float(1.0).tag(sync=True)
    contrast = traitlets.Float(1.0).tag(sync=True)
    invert = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(uid=secrets.token_hex(8), **kwargs)
        self._images: dict[str, bytes] = {}
        self._sent: set[str] = set()
        self._sent_ahead: tuple = (None, "")  # (the caller's key, token) of the last preload
        self.on_msg(self._on_frontend_msg)

    def preload(self, png: bytes, key=None) -> str:
        """Send an image to the browser ahead of time; returns its opaque token.

        ``key`` (e.g. the case ID) stays in Python: :meth:`preloaded` finds the token by it.
        """
        token = secrets.token_hex(6)
        self._sent_ahead = (key, token)
        self._images[token] = png
        self._send_image(token)
        self.next_token = token
        self._forget_old()
        return token

    def preloaded(self, key) -> str | None:
        """The token of the image last preloaded under ``key``, if the viewer still keeps it."""
        sent_key, token = self._sent_ahead
        return token if key is not None and sent_key == key and token in self._images else None

    def show(self, png: bytes | None = None, token: str | None = None) -> str:
        """Display an image, given as PNG bytes or as the token of a preloaded one."""
        if token is None:
            token = self.preload(png) if png is not None else ""
        self.token = token
        return token

    def _send_image(self, token: str) -> None:
        if token in self._images and token not in self._sent:
            self.send({"kind": "image", "token": token}, buffers=[self._images[token]])
            self._sent.add(token)

    def _forget_old(self, keep: int = 4) -> None:
        """Drop the oldest images kept for re-sending, never the shown or the preloaded one."""
        protected = {self.token, self.next_token}
        surplus = max(0, len(self._images) - keep)
        for old in [t for t in self._images if t not in protected][:surplus]:
            self._images.pop(old)
            self._sent.discard(old)

    def _on_frontend_msg(self, _widget, content, _buffers) -> None:
        # A reloaded page (or a Voila page built from saved state) has an empty image cache.
        if content.get("kind") == "missing":
            self._sent.discard(content.get("token"))
            self._send_image(content.get("token"))

    def zoom_by(self, factor: float) -> None:
        """Multiply the zoom, within :data:`ZOOM_RANGE`."""
        self.zoom = min(max(self.zoom * factor, ZOOM_RANGE[0]), ZOOM_RANGE[1])

    def adjust(self, brightness: float = 1.0, contrast: float = 1.0) -> None:
        """Multiply brightness and contrast, within :data:`FILTER_RANGE`."""
        lo, hi = FILTER_RANGE
        self.brightness = min(max(self.brightness * brightness, lo), hi)
        self.contrast = min(max(self.contrast * contrast, lo), hi)

    def reset_view(self) -> None:
        """Fit the image again: zoom 1, no pan, neutral brightness/contrast, not inverted."""
        with self.hold_sync():
            self.zoom, self.pan_x, self.pan_y = 1.0, 0.0, 0.0
            self.brightness, self.contrast, self.invert = 1.0, 1.0, False


class KeyCatcher(anywidget.AnyWidget):
    """Invisible widget that forwards the page's bound key presses to Python.

    Keys are caught while the focus is inside the element with CSS class ``covsev-app`` (or on
    nothing, as after a page load in Voila); typing in a text box is left alone except Escape
    (leave the box), Enter in a one-line box and Ctrl+Enter. A focused list (the "Go to" and
    reason lists) does not keep bound keys: it loses the focus and the key acts as a shortcut.

    Parameters
    ----------
    bindings : list of str
        Key names to catch, as built by ``keyName`` in the browser: ``"1"``, ``"n"``, ``"Enter"``,
        ``"ArrowLeft"``, ``"Shift+ArrowUp"``, ``"Ctrl+Enter"``.

    Examples
    --------
    >>> keys = KeyCatcher(bindings=["n"])
    >>> keys.on_key(print)
    >>> keys.simulate("n")
    n
    """

    _esm = static_text("keys.js")
    bindings = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._handlers = []
        self.on_msg(self._on_frontend_msg)

    def on_key(self, handler) -> None:
        """Call ``handler(key)`` for every bound key pressed in the browser."""
        self._handlers.append(handler)

    def _on_frontend_msg(self, _widget, content, _buffers) -> None:
        if content.get("kind") == "key" and content.get("key") in self.bindings:
            for handler in self._handlers:
                handler(content["key"])

    def simulate(self, key: str) -> None:
        """Deliver a key press exactly as the browser's message would (for tests)."""
        self._handle_custom_msg({"kind": "key", "key": key}, [])
