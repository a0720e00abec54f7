"""Widget pieces shared by the scoring and adjudication pages: score rows, viewer toolbar, keys.

Each function builds or redraws one part of a page from a scale or a session; the pages own
the widgets (``page.score_buttons`` and friends) so tests can click them.
"""
from __future__ import annotations

import ipywidgets as W

from covsev_tools.scoring.render import esc, help_html, legend_html
from covsev_tools.scoring.session import Field
from covsev_tools.scoring.viewer import KeyCatcher, static_text


def fields_of(scales) -> list[Field]:
    """Every component of every scale, in page order.

    Examples
    --------
    >>> from covsev_tools.scales import builtin_scales
    >>> [f.key for f in fields_of([builtin_scales()["extent"]])]
    [('extent', 'right'), ('extent', 'left')]
    """
    return [Field(s, c) for s in scales for c in s.components]


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


def scale_panel(page, scale) -> W.VBox:
    """Title, levels and one row of score buttons per component; registers them on ``page``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from covsev_tools.scales import builtin_scales
    >>> page = SimpleNamespace(total_labels={}, score_buttons={}, field_labels={}, level_texts={},
    ...                        click_score=lambda key, value: print(key, value))
    >>> _ = scale_panel(page, builtin_scales()["extent"])
    >>> page.score_buttons[("extent", "left")][3].click()
    ('extent', 'left') 3
    """
    page.total_labels[scale.name] = W.HTML()
    rows = [_component_row(page, scale, c) for c in scale.components]
    return W.VBox([W.HTML(legend_html(scale)), *rows, page.total_labels[scale.name]])


def _component_row(page, scale, component) -> W.HBox:
    key = (scale.name, component.key)
    buttons = {}
    for level in scale.levels:
        button = W.Button(description=str(level.value), tooltip=level.text, layout=W.Layout(width="3em"))
        button.on_click(lambda _b, k=key, v=level.value: page.click_score(k, v))
        buttons[level.value] = button
    page.score_buttons[key] = buttons
    page.field_labels[key] = W.HTML(layout=W.Layout(width="11em"))
    page.level_texts[key] = W.HTML(layout=W.Layout(width="auto"))
    row = W.HBox([page.field_labels[key], *buttons.values(), page.level_texts[key]])
    row.add_class(f"covsev-row-{scale.name}-{component.key}")  # scale/component keys only
    return row


def view_toolbar(page) -> W.HBox:
    """Zoom, invert and reset buttons and brightness/contrast sliders linked to ``page.viewer``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from covsev_tools.scoring.viewer import XrayViewer
    >>> page = SimpleNamespace(viewer=XrayViewer())
    >>> _ = view_toolbar(page); page.view_buttons["Invert"].click(); page.viewer.invert
    True
    """
    viewer = page.viewer
    actions = [("−", "Zoom out (−)", lambda: viewer.zoom_by(1 / 1.25)),
               ("+", "Zoom in (+)", lambda: viewer.zoom_by(1.25)),
               ("Invert", "Invert (I)", lambda: setattr(viewer, "invert", not viewer.invert)),
               ("Reset", "Reset view (R)", viewer.reset_view)]
    buttons = []
    for text, tip, action in actions:
        button = W.Button(description=text, tooltip=tip, layout=W.Layout(width="auto"))
        button.on_click(lambda _b, a=action: a())
        buttons.append(button)
    page.view_buttons = {b.description: b for b in buttons}
    sliders = []
    for text, trait in (("Brightness", "brightness"), ("Contrast", "contrast")):
        slider = W.FloatSlider(value=1.0, min=0.2, max=4.0, step=0.05, description=text,
                               readout_format=".2f", layout=W.Layout(width="20em"))
        W.link((viewer, trait), (slider, "value"))
        sliders.append(slider)
    return W.HBox(buttons + sliders, layout=W.Layout(flex_flow="row wrap"))


def help_text(shortcuts) -> str:
    """The shortcut table's HTML (see :func:`covsev_tools.scoring.render.help_html`).

    Examples
    --------
    >>> "<kbd>Enter</kbd>" in help_text([("Enter", "save")])
    True
    """
    return help_html(shortcuts)


def refresh_fields(page, session) -> None:
    """Redraw score buttons, level texts, the highlighted field and the live totals.

    ``session`` is anything with ``scores``, ``active``, ``not_assessable`` and ``totals()``: a
    :class:`~covsev_tools.scoring.session.ScoringSession` or an adjudication's consensus entry.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from covsev_tools.scales import builtin_scales
    >>> opacity = builtin_scales()["opacity"]
    >>> page = SimpleNamespace(total_labels={}, score_buttons={}, field_labels={}, level_texts={},
    ...                        click_score=None, scales=[opacity])
    >>> _ = scale_panel(page, opacity)
    >>> entry = SimpleNamespace(scores={("opacity", "right"): 2, ("opacity", "left"): None}, active=1,
    ...                         not_assessable=False, totals=lambda: {"opacity": None})
    >>> refresh_fields(page, entry); page.total_labels["opacity"].value
    '<b>Total opacity: — / 6 (1 to score)</b>'
    """
    blind = session.not_assessable
    for position, field in enumerate(fields_of(page.scales)):
        value = session.scores.get(field.key)
        for level, button in page.score_buttons[field.key].items():
            button.button_style = "info" if level == value else ""
            button.disabled = blind
        active = position == session.active and not blind
        marker = "▶ " if active else ""
        page.field_labels[field.key].value = (
            f"<span class='{'covsev-active' if active else ''}'>{marker}{esc(field.component.label)}</span>")
        text = field.scale.level_text(value) if value is not None else "—"
        page.level_texts[field.key].value = f"<i>{esc(text)}</i>"
    totals = session.totals()
    for scale in page.scales:
        values = [session.scores.get((scale.name, c.key)) for c in scale.components]
        if blind:
            shown = "not assessable"
        elif totals[scale.name] is None:
            shown = f"— / {scale.max_total} ({values.count(None)} to score)"
        else:
            shown = f"{totals[scale.name]} / {scale.max_total}"
        page.total_labels[scale.name].value = f"<b>Total {esc(scale.title.lower())}: {shown}</b>"
