"""Widget pieces of the scoring and adjudication pages: score rows, viewer toolbar, login box, keys.

Each piece is a class that builds and owns its widgets (tests click them through it) and draws
from plain state handed to it, such as an :class:`~covsev_tools.scoring.entry.Entry`; clicks go
to a callback the page gives it.
"""
from __future__ import annotations

import ipywidgets as W

from covsev_tools.scoring.entry import fields_of
from covsev_tools.scoring.render import esc, legend_html
from covsev_tools.scoring.viewer import KeyCatcher, static_text

#: Keyboard shortcuts (key name as the browser reports it -> what it does), shown on screen.
SHORTCUTS = (
    ("0-9", "score the highlighted lung/zone, then move to the next one"),
    ("↑ / ↓", "highlight the previous / next lung or zone"),
    ("Enter", "save and go on (training: first the reference, then the next case)"),
    ("← / →", "previous case / next case (already scored); Go to: any scored case"),
    ("N", "not assessable: press again to change the reason, once more to clear"),
    ("C", "write a comment (Esc leaves the box, Ctrl+Enter saves)"),
    ("+ / −", "zoom in / out (mouse: wheel; drag to pan)"),
    ("Shift+↑ / ↓", "brightness up / down (mouse: right- or shift-drag)"),
    ("Shift+→ / ←", "contrast up / down"),
    ("I / R", "invert / reset the image (mouse: double-click resets)"),
)


def style_widget() -> W.HTML:
    """The pages' stylesheet (``static/app.css``) as an HTML widget.

    Examples
    --------
    >>> ".covsev-app .covsev-active" in style_widget().value
    True
    """
    return W.HTML(f"<style>{static_text('app.css')}</style>")


def key_catcher(scales, handler) -> KeyCatcher:
    """A :class:`KeyCatcher` bound to the page's keys (digits up to the top level of the scales).

    Examples
    --------
    >>> from covsev_tools.scales import builtin_scales
    >>> keys = key_catcher([builtin_scales()["opacity"]], print)
    >>> keys.bindings[:5]
    ['0', '1', '2', '3', 'ArrowUp']
    >>> keys.simulate("2")
    2
    """
    top = max(max(s.values) for s in scales)
    digits = [str(v) for v in range(min(top, 9) + 1)]
    arrows = ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "PageUp", "PageDown"]
    shifted = ["Shift+ArrowUp", "Shift+ArrowDown", "Shift+ArrowLeft", "Shift+ArrowRight"]
    keys = KeyCatcher(bindings=digits + arrows + shifted + ["Enter", "Ctrl+Enter", "n", "c", "+", "=", "-", "i", "r"])
    keys.on_key(handler)
    return keys


def viewer_keys(viewer) -> dict:
    """Image shortcuts: zoom, brightness, contrast, invert, reset.

    Examples
    --------
    >>> from covsev_tools.scoring.viewer import XrayViewer
    >>> viewer = XrayViewer(); viewer_keys(viewer)["+"](); viewer.zoom
    1.25
    """
    v = viewer
    return {"+": lambda: v.zoom_by(1.25), "=": lambda: v.zoom_by(1.25), "-": lambda: v.zoom_by(0.8),
            "i": lambda: setattr(v, "invert", not v.invert), "r": v.reset_view,
            "Shift+ArrowUp": lambda: v.adjust(brightness=1.1), "Shift+ArrowDown": lambda: v.adjust(brightness=1 / 1.1),
            "Shift+ArrowRight": lambda: v.adjust(contrast=1.1), "Shift+ArrowLeft": lambda: v.adjust(contrast=1 / 1.1)}


class ScoreRows:
    """Per scale: its levels, one row of score buttons per component and the live total.

    Parameters
    ----------
    scales : list of covsev_tools.scales.Scale
        The scales, in page order.
    on_score : callable
        Called with ``((scale, component), level)`` when a score button is clicked.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The rows, to place on a page.
    buttons : dict
        ``(scale, component) -> {level: Button}``.
    field_labels, level_texts : dict
        ``(scale, component) -> HTML``: the component's name (marked when highlighted) and the
        chosen level's description.
    total_labels : dict
        ``scale -> HTML``: the live total.

    Examples
    --------
    >>> from covsev_tools.scales import builtin_scales
    >>> from covsev_tools.scoring.entry import Entry
    >>> opacity = builtin_scales()["opacity"]
    >>> rows = ScoreRows([opacity], on_score=lambda key, level: print(key, level))
    >>> rows.buttons[("opacity", "left")][3].click()
    ('opacity', 'left') 3
    >>> entry = Entry([opacity]); entry.set_score(("opacity", "right"), 2)
    >>> rows.refresh(entry); rows.total_labels["opacity"].value
    '<b>Total opacity: — / 6 (1 to score)</b>'
    >>> rows.buttons[("opacity", "right")][2].button_style
    'info'
    """

    def __init__(self, scales, on_score):
        self.scales, self.fields = list(scales), fields_of(scales)
        self._on_score = on_score
        self.buttons, self.field_labels, self.level_texts, self.total_labels = {}, {}, {}, {}
        self.widget = W.VBox([self._scale_panel(s) for s in self.scales])

    def _scale_panel(self, scale) -> W.VBox:
        self.total_labels[scale.name] = W.HTML()
        rows = [self._component_row(scale, c) for c in scale.components]
        return W.VBox([W.HTML(legend_html(scale)), *rows, self.total_labels[scale.name]])

    def _component_row(self, scale, component) -> W.HBox:
        key = (scale.name, component.key)
        buttons = {}
        for level in scale.levels:
            button = W.Button(description=str(level.value), tooltip=level.text, layout=W.Layout(width="3em"))
            button.on_click(lambda _b, k=key, v=level.value: self._on_score(k, v))
            buttons[level.value] = button
        self.buttons[key] = buttons
        self.field_labels[key] = W.HTML(layout=W.Layout(width="11em"))
        self.level_texts[key] = W.HTML(layout=W.Layout(width="auto"))
        row = W.HBox([self.field_labels[key], *buttons.values(), self.level_texts[key]])
        row.add_class(f"covsev-row-{scale.name}-{component.key}")  # scale/component keys only
        return row

    def refresh(self, entry) -> None:
        """Draw an :class:`~covsev_tools.scoring.entry.Entry`: chosen levels, highlighted component, totals."""
        blind = entry.not_assessable
        for position, field in enumerate(self.fields):
            value = entry.scores.get(field.key)
            for level, button in self.buttons[field.key].items():
                button.button_style = "info" if level == value else ""
                button.disabled = blind
            active = position == entry.active and not blind
            marker = "▶ " if active else ""
            self.field_labels[field.key].value = (
                f"<span class='{'covsev-active' if active else ''}'>{marker}{esc(field.component.label)}</span>")
            text = field.scale.level_text(value) if value is not None else "—"
            self.level_texts[field.key].value = f"<i>{esc(text)}</i>"
        totals = entry.totals()
        for scale in self.scales:
            values = [entry.scores.get((scale.name, c.key)) for c in scale.components]
            if blind:
                shown = "not assessable"
            elif totals[scale.name] is None:
                shown = f"— / {scale.max_total} ({values.count(None)} to score)"
            else:
                shown = f"{totals[scale.name]} / {scale.max_total}"
            self.total_labels[scale.name].value = f"<b>Total {esc(scale.title.lower())}: {shown}</b>"


class ViewerToolbar:
    """Zoom, invert and reset buttons and brightness/contrast sliders linked to an X-ray viewer.

    Attributes
    ----------
    widget : ipywidgets.HBox
        The toolbar, to place under the viewer.
    buttons : dict
        ``description -> Button``: ``"−"``, ``"+"``, ``"Invert"``, ``"Reset"``.

    Examples
    --------
    >>> from covsev_tools.scoring.viewer import XrayViewer
    >>> viewer = XrayViewer()
    >>> toolbar = ViewerToolbar(viewer); toolbar.buttons["Invert"].click(); viewer.invert
    True
    """

    def __init__(self, viewer):
        actions = [("−", "Zoom out (−)", lambda: viewer.zoom_by(1 / 1.25)),
                   ("+", "Zoom in (+)", lambda: viewer.zoom_by(1.25)),
                   ("Invert", "Invert (I)", lambda: setattr(viewer, "invert", not viewer.invert)),
                   ("Reset", "Reset view (R)", viewer.reset_view)]
        self.buttons = {}
        for text, tip, action in actions:
            button = W.Button(description=text, tooltip=tip, layout=W.Layout(width="auto"))
            button.on_click(lambda _b, a=action: a())
            self.buttons[text] = button
        sliders = []
        for text, trait in (("Brightness", "brightness"), ("Contrast", "contrast")):
            slider = W.FloatSlider(value=1.0, min=0.2, max=4.0, step=0.05, description=text,
                                   readout_format=".2f", layout=W.Layout(width="20em"))
            W.link((viewer, trait), (slider, "value"))
            sliders.append(slider)
        self.widget = W.HBox([*self.buttons.values(), *sliders], layout=W.Layout(flex_flow="row wrap"))


class LoginBox:
    """The rater-ID box shown off JupyterHub (on the hub the login is the rater).

    Parameters
    ----------
    on_start : callable
        Called with the typed rater ID (stripped) on Start or Enter.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The box, to place on a page.
    rater_input, start_button, status :
        The ID field, the Start button, and the line saying why an ID was refused.

    Examples
    --------
    >>> box = LoginBox(on_start=print)
    >>> box.rater_input.value = " rad1 "; box.start_button.click()
    rad1
    """

    def __init__(self, on_start):
        self._on_start = on_start
        self.rater_input = W.Text(placeholder="your rater ID", description="Rater ID")
        self.start_button = W.Button(description="Start (Enter)", button_style="primary")
        self.start_button.on_click(lambda _b: self.submit())
        self.status = W.HTML()
        intro = W.HTML("<h3>Blinded scoring</h3><p>Enter the rater ID you were given.</p>")
        self.widget = W.VBox([intro, W.HBox([self.rater_input, self.start_button]), self.status])

    def submit(self):
        """Start with the rater ID typed in the box."""
        return self._on_start(self.rater_input.value.strip())
