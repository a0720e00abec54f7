// X-ray viewer (anywidget ESM): zoom, pan, brightness/contrast, invert; images cached by opaque token.
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
