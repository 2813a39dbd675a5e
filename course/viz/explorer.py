"""The common frame of the interactive explorers: sliders, a text line, a figure.

An :class:`Explorer` is an ``ipywidgets.VBox``::

    [ slider  slider  slider ... ]     explorer.controls   {name: widget}
    text: "output size = 3"            explorer.label      (an HTML widget; .value is plain text)
    figure                             explorer.output     (an Output widget holding one PNG)

Whenever a control changes, the explorer calls its ``update`` function with
the values of all controls, ``{name: value}``. ``update`` returns a
:class:`View`: the text, the figure (or ``None``) and a dict of the numbers
behind the figure. The figure is shown as a PNG in ``explorer.output`` and
kept as ``explorer.figure``; ``explorer.state()`` returns the numbers. If
``update`` raises ``ValueError`` (a setting that has no answer, such as a
kernel larger than its input), the message is shown instead of a figure and
nothing is raised: students can drag sliders anywhere.

Because the controls are ordinary widgets, code can move them too, which is
how the tests drive an explorer:

>>> from course.viz import conv_arithmetic_explorer
>>> w = conv_arithmetic_explorer()              # input 5, kernel 3
>>> w.controls["stride"].value = 2              # redraws
>>> w.label.value
'output size = 2'
>>> w.set_values(padding=1, dilation=1)         # several at once, one redraw
>>> w.state()["output_size"]
3
"""
from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import ipywidgets as widgets

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["View", "Explorer", "Controls", "Values", "figure_png", "slider", "float_slider", "dropdown"]

Controls = dict[str, Any]   # {name: widget} (ipywidgets has no type information: Any)
Values = dict[str, Any]     # {name: the widget's value}, what ``update`` is called with


class View(NamedTuple):
    """What an explorer shows for one setting of its controls."""

    text: str
    figure: Figure | None = None             # what the explorer shows under the text
    state: dict[str, Any] | None = None      # the numbers behind the figure, for code and tests


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes.

    The figures set their own margins, so this skips ``bbox_inches="tight"``
    (which would draw everything twice: a slider should respond quickly).
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def slider(description: str, value: int, minimum: int, maximum: int) -> widgets.IntSlider:
    """An integer slider that reports only when released (redrawing on every pixel of a drag is slow)."""
    return widgets.IntSlider(value=value, min=minimum, max=maximum, step=1, description=description,
                             continuous_update=False, style={"description_width": "initial"},
                             layout=widgets.Layout(width="230px"))


def float_slider(description: str, value: float, minimum: float, maximum: float,
                 step: float = 0.05) -> widgets.FloatSlider:
    """A float slider (a threshold, a fraction) that reports only when released."""
    return widgets.FloatSlider(value=value, min=minimum, max=maximum, step=step, description=description,
                               continuous_update=False, readout_format=".2f",
                               style={"description_width": "initial"}, layout=widgets.Layout(width="260px"))


def dropdown(description: str, options: Iterable[Any], value: Any = None) -> widgets.Dropdown:
    """A choice among ``options`` (a list of values, or of ``(label, value)`` pairs), e.g. a layer or a method."""
    options = list(options)
    first = options[0][1] if isinstance(options[0], tuple) else options[0]
    return widgets.Dropdown(options=options, value=first if value is None else value, description=description,
                            style={"description_width": "initial"}, layout=widgets.Layout(width="260px"))


class Explorer(widgets.VBox):
    """Controls + a text line + a figure, redrawn whenever a control changes.

    Args:
        controls: ``{name: widget}``; each widget has a ``value``.
        update: ``update(values) -> View``, called with ``{name: value}``.
        adjust: optional ``adjust(controls)``, called first on every change to
            fix controls that depend on others (the range of a position slider).
        name: used in the CSS class ``course-explorer-{name}``.

    In the browser the box has the CSS classes ``course-explorer`` and
    ``course-explorer-{name}``; control ``c`` has ``course-control-{c}``
    (an ``IntSlider``: ``.widget-slider``, its handle ``.noUi-handle[role=slider]``,
    its editable number ``.widget-readout``); the text line has
    ``course-explorer-label`` and the figure ``course-explorer-output``.
    """

    def __init__(self, controls: Controls, update: Callable[[Values], View],
                 adjust: Callable[[Controls], None] | None = None, *, name: str = "explorer") -> None:
        label = widgets.HTML()
        output = widgets.Output()
        row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([row, label, output])
        # CSS classes, for browser tests and styling: .course-explorer.course-explorer-{name},
        # .course-control-{control name}, .course-explorer-label, .course-explorer-output.
        self.add_class("course-explorer").add_class(f"course-explorer-{name}")
        for control_name, control in controls.items():
            control.add_class(f"course-control-{control_name}")
        label.add_class("course-explorer-label")
        output.add_class("course-explorer-output")
        self.explorer_name = name
        self.controls = dict(controls)
        self.label = label
        self.output = output
        self.figure: Figure | None = None
        self._update = update
        self._adjust = adjust
        self._state: dict[str, Any] = {}
        self._busy = False
        for control in self.controls.values():
            control.observe(self.refresh, names="value")
        self.refresh()

    def __repr__(self) -> str:
        """The text shown where widgets cannot be drawn (an untrusted notebook, a static viewer)."""
        return f"{self.explorer_name} explorer (run the notebook to use its sliders): {html.unescape(self.label.value)}"

    def values(self) -> Values:
        """The current value of every control, ``{name: value}``."""
        return {name: control.value for name, control in self.controls.items()}

    def set_values(self, **values: Any) -> None:
        """Move several controls at once and redraw once: ``explorer.set_values(stride=2, padding=1)``.

        (Setting ``controls[name].value`` one by one redraws after each.) A
        control whose range depends on the others (a position slider) gets its
        value after the others have moved.
        """
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"set_values takes the names of the controls {sorted(self.controls)}, got {unknown}")
        self._busy = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
            if self._adjust is not None:
                self._adjust(self.controls)  # new ranges: set what was clamped again
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._busy = False
        self.refresh()

    def state(self) -> dict[str, Any]:
        """The numbers behind the current figure (see each explorer), plus ``"error"`` (or None)."""
        return dict(self._state)

    def refresh(self, change: Any = None) -> None:
        """Recompute and redraw; called whenever a control changes."""
        if self._busy:  # `adjust` moved a control: the outer call redraws once at the end
            return
        self._busy = True
        try:
            if self._adjust is not None:
                self._adjust(self.controls)
            try:
                view = self._update(self.values())
            except ValueError as error:
                view = View(f"⚠ {error}", None, {"error": str(error)})
        finally:
            self._busy = False
        self._show(view)

    def _show(self, view: View) -> None:
        self._state = {"error": None, **self.values(), **(view.state or {})}
        self.label.value = html.escape(view.text)
        self.figure = view.figure
        if view.figure is None:
            self.output.outputs = ()
            return
        png = figure_png(view.figure)
        # Set the Output's content directly (rather than `with output: display(...)`),
        # which works with or without a running kernel, so tests see it too.
        self.output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(png).decode("ascii"),
                     "text/plain": repr(view.figure)},
            "metadata": {},
        },)
