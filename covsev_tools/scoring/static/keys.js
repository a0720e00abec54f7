// Keyboard catcher (anywidget ESM): forwards the app's bound key presses to Python.
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
