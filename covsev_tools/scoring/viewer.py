"""Browser-side widgets of the scoring app: the X-ray viewer and the keyboard catcher.

Both are small `anywidget <https://anywidget.dev>`_ widgets, so they work in JupyterLab and in
Voila alike.  The viewer draws the image in the browser and applies zoom, pan, brightness,
contrast and invert as CSS transforms and filters -- instant, no server round trip.  Images travel
as binary messages keyed by an opaque random token (never a case ID or file name) and are decoded
in advance, so showing the next case is a swap of an already decoded image.  The keyboard catcher
forwards bound keys to Python as ``{"kind": "key", "key": ...}`` messages; tests drive the same
path with :meth:`KeyCatcher.simulate`.
"""
from __future__ import annotations

import secrets

import anywidget
import traitlets

ZOOM_RANGE = (0.5, 12.0)
FILTER_RANGE = (0.2, 4.0)

_VIEWER_ESM = r"""
const caches = new Map();   // widget uid -> Map(token -> {url, img})
const pending = new Map();  // widget uid -> Set(tokens asked from Python, not arrived yet)
const listeners = new Map(); // widget uid -> Set(callback) to redraw views when an image arrives
const KEEP = 6;

function cacheOf(model) {
  const uid = model.get("uid");
  if (!caches.has(uid)) {
    caches.set(uid, new Map()); listeners.set(uid, new Set()); pending.set(uid, new Set());
  }
  return caches.get(uid);
}

// Ask Python for an image this page does not have (reloaded page, or sent before it connected).
function ensure(model, token) {
  const cache = cacheOf(model), asked = pending.get(model.get("uid"));
  if (!token || cache.has(token) || asked.has(token)) return;
  asked.add(token);
  model.send({ kind: "missing", token });
}

function store(model, token, buffer) {
  const cache = cacheOf(model);
  pending.get(model.get("uid")).delete(token);
  if (cache.has(token)) return;
  const url = URL.createObjectURL(new Blob([buffer], { type: "image/png" }));
  const img = new Image();
  img.src = url;
  img.decode().catch(() => {});   // decode now, so display is instant later
  cache.set(token, { url, img });
  while (cache.size > KEEP) {
    const [oldest, entry] = cache.entries().next().value;
    if (oldest === model.get("token")) { cache.delete(oldest); cache.set(oldest, entry); continue; }
    URL.revokeObjectURL(entry.url);
    cache.delete(oldest);
  }
  listeners.get(model.get("uid")).forEach((cb) => cb(token));
}

function initialize({ model }) {
  model.on("msg:custom", (msg, buffers) => {
    if (msg.kind === "image") store(model, msg.token, buffers[0]);
  });
}

function clamp(x, lo, hi) { return Math.min(hi, Math.max(lo, x)); }

function render({ model, el }) {
  el.classList.add("covsev-viewer");
  const frame = document.createElement("div");
  frame.className = "covsev-viewer-frame";
  const img = document.createElement("img");
  img.className = "covsev-viewer-img";
  img.alt = "chest X-ray";
  img.draggable = false;
  frame.appendChild(img);
  el.appendChild(frame);
  const cache = cacheOf(model);

  function draw() {
    const token = model.get("token");
    const entry = cache.get(token);
    if (!token) { img.removeAttribute("src"); img.dataset.token = ""; }
    else if (entry) { if (img.src !== entry.url) img.src = entry.url; img.dataset.token = token; }
    else { ensure(model, token); }
    ensure(model, model.get("next_token"));
    const z = model.get("zoom");
    img.style.transform = `translate(${model.get("pan_x")}px, ${model.get("pan_y")}px) scale(${z})`;
    img.style.filter = `brightness(${model.get("brightness")}) contrast(${model.get("contrast")})` +
      (model.get("invert") ? " invert(1)" : "");
  }
  const onArrive = (token) => { if (token === model.get("token")) draw(); };
  listeners.get(model.get("uid")).add(onArrive);
  model.on("change", draw);

  let timer = null;
  function commit() { clearTimeout(timer); timer = setTimeout(() => model.save_changes(), 120); }

  frame.addEventListener("wheel", (e) => {
    e.preventDefault();
    model.set("zoom", clamp(model.get("zoom") * Math.exp(-e.deltaY * 0.0015), 0.5, 12));
    draw(); commit();
  }, { passive: false });

  let drag = null;
  frame.addEventListener("contextmenu", (e) => e.preventDefault());
  frame.addEventListener("pointerdown", (e) => {
    frame.setPointerCapture(e.pointerId);
    const level = e.button === 2 || e.shiftKey;   // right or shift drag: brightness/contrast
    drag = { x: e.clientX, y: e.clientY, level, px: model.get("pan_x"), py: model.get("pan_y"),
             b: model.get("brightness"), c: model.get("contrast") };
  });
  frame.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (drag.level) {
      model.set("contrast", clamp(drag.c * Math.exp(dx * 0.004), 0.2, 4));
      model.set("brightness", clamp(drag.b * Math.exp(-dy * 0.004), 0.2, 4));
    } else {
      model.set("pan_x", drag.px + dx);
      model.set("pan_y", drag.py + dy);
    }
    draw();
  });
  const end = () => { if (drag) { drag = null; commit(); } };
  frame.addEventListener("pointerup", end);
  frame.addEventListener("pointercancel", end);
  frame.addEventListener("dblclick", () => {
    model.set({ zoom: 1, pan_x: 0, pan_y: 0, brightness: 1, contrast: 1, invert: false });
    draw(); commit();
  });
  draw();
  return () => { listeners.get(model.get("uid")).delete(onArrive); model.off("change", draw); };
}

export default { initialize, render };
"""

_VIEWER_CSS = r"""
.covsev-viewer-frame { width: 100%; height: var(--covsev-viewer-height, 74vh); overflow: hidden;
  background: #000; position: relative; cursor: grab; touch-action: none; user-select: none; }
.covsev-viewer-frame:active { cursor: grabbing; }
.covsev-viewer-img { width: 100%; height: 100%; object-fit: contain; transform-origin: center center;
  display: block; }
"""

_KEYS_ESM = r"""
function keyName(e) {
  let key = e.key;
  if (key.length === 1) key = key.toLowerCase();
  else if (key === " ") key = "Space";
  const mods = [];
  if (e.ctrlKey || e.metaKey) mods.push("Ctrl");
  if (e.altKey) mods.push("Alt");
  if (e.shiftKey && key.length > 1) mods.push("Shift");  // "+" needs Shift to type; ignore it there
  return [...mods, key].join("+");
}

function render({ model, el }) {
  el.classList.add("covsev-keys");
  el.style.display = "none";
  // JupyterLab: keys pressed inside the app are ours, not notebook shortcuts (Lumino honours this).
  let tries = 0;
  const mark = () => {
    const app = el.closest(".covsev-app");
    if (app) app.setAttribute("data-lm-suppress-shortcuts", "true");
    else if (tries++ < 200) requestAnimationFrame(mark);
  };
  mark();
  const onKey = (e) => {
    const app = el.closest(".covsev-app");
    if (!app) return;
    const t = e.target;
    const free = !t || t === document.body || t === document.documentElement;
    if (!free && !app.contains(t)) return;
    const tag = (t && t.tagName || "").toLowerCase();
    // a list (<select>) is not typing: after a pick with the mouse the shortcuts must still work,
    // and arrows must not silently open the neighbouring entry
    const typing = tag === "input" || tag === "textarea" || (t && t.isContentEditable);
    const name = keyName(e);
    if (typing) {
      if (e.key === "Escape") { t.blur(); e.preventDefault(); return; }
      const submit = name === "Ctrl+Enter" || (name === "Enter" && tag === "input");
      if (!submit) return;
    }
    if (!model.get("bindings").includes(name)) return;
    e.preventDefault();
    e.stopPropagation();
    if (tag === "select") t.blur();
    model.send({ kind: "key", key: name, typing: !!typing });
  };
  document.addEventListener("keydown", onKey, true);
  return () => document.removeEventListener("keydown", onKey, true);
}

export default { render };
"""


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

    _esm = _VIEWER_ESM
    _css = _VIEWER_CSS
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
        self.on_msg(self._on_frontend_msg)

    def preload(self, png: bytes) -> str:
        """Send an image to the browser ahead of time; returns its opaque token."""
        token = secrets.token_hex(6)
        self._images[token] = png
        self._send_image(token)
        self.next_token = token
        self._forget_old()
        return token

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

    _esm = _KEYS_ESM
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
