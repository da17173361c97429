"""What the builtin notifiers (``webhook``, ``command``, ``email``) say about an alert: its
default title and details, and the ``title`` and ``body`` templates a notify block may give.

Templates are Jinja2's, rendered in its sandbox, which keeps a template from the interpreter's
insides (``__class__``, ``mro``, …) even though the config file is trusted. Undefined names are
errors (``StrictUndefined``): a mistyped ``alert.helth`` fails the attempt, never sends an empty
line. Text is not escaped: nothing here is HTML. Jinja2 is imported only when a notify block
sets a template, so that no command starts slower for the feature (docs/reliability.md: B4).

A template that does not parse is refused with the settings (the validator below), so the
config check names its line before anything runs; one that fails while rendering fails that
attempt, which delivery tries again like any other.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Final

import attrs

from waypoint_hooks import Alert

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "TemplateError",
    "alert_details",
    "check_template",
    "compose",
    "default_title",
    "render",
]

#: How many templates stay compiled: each distinct text of every notify block's settings.
_COMPILED: Final = 64


class TemplateError(Exception):
    """A template failed while it was rendered for an alert."""


def default_title(alert: Alert) -> str:
    """One line for a subject or a chat: ``[firing] web deployment is DOWN: connection refused``."""
    return f"[{alert.state}] {alert.message}"


def alert_details(alert: Alert) -> list[tuple[str, str]]:
    """The facts of ``alert`` a person reads beside its message, titled, in order."""
    return [
        ("App", alert.app),
        ("Workspace", alert.workspace),
        (alert.kind.title(), alert.target_id),
        ("Health", alert.health.name),
        ("Since", alert.since.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Notify", alert.notify),
    ]


def compose(
    alert: Alert, title: str | None, body: str | None, *, default_title: str
) -> tuple[str, str | None]:
    """The title of ``alert`` (its ``title`` template rendered, or ``default_title``) and its
    body (its ``body`` template rendered, given the title as ``title``), or ``None`` for the
    notifier's own."""
    shown = default_title if title is None else render("title", title, alert)
    return shown, None if body is None else render("body", body, alert, title=shown)


def check_template(_: object, field: attrs.Attribute[Any], value: str | None) -> None:
    """An attrs validator: ``value`` (when set) is a template Jinja2 compiles."""
    if value is None:
        return
    import jinja2

    try:
        _compiled(value)
    except jinja2.TemplateSyntaxError as exc:
        # Jinja2's own text, not the line it quotes: a body may hold a token.
        # (An unknown filter or test is one too: Jinja2 finds it when it compiles.)
        raise ValueError(f"line {exc.lineno} of the template: {_sentence(exc)}") from None


def render(name: str, template: str, alert: Alert, **variables: str) -> str:
    """``template`` rendered for ``alert``, given as ``alert`` in its JSON form (healths by
    name, ``since`` in RFC 3339, ``report`` in the wire format), beside ``variables``. Any
    failure is a :class:`TemplateError` that names the setting, ``name``, and the line."""
    try:
        return _compiled(template).render(alert=alert.to_wire(), **variables)
    except Exception as exc:  # a template can raise anything its expressions can
        line = _template_line(exc)
        where = f"the {name} template" + ("" if line is None else f", line {line}")
        raise TemplateError(f"{where}: {_words(exc)}") from None


@functools.lru_cache(maxsize=_COMPILED)
def _compiled(source: str) -> jinja2.Template:
    return _environment().from_string(source)


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    # trim_blocks and lstrip_blocks: a line that holds only a {% tag %} leaves no blank line
    # in the text, which matters for a plain-text mail body.
    return SandboxedEnvironment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _template_line(exc: BaseException) -> int | None:
    """The template's line the failure happened on: Jinja2 rewrites the traceback so that the
    template's own frames carry it."""
    trace = exc.__traceback__
    line = None
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _words(exc: BaseException) -> str:
    import jinja2

    if isinstance(exc, jinja2.TemplateError):
        return _sentence(exc)
    # Another error raised by an expression: ZeroDivisionError says more by its name.
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _sentence(exc: jinja2.TemplateError) -> str:
    # Jinja2 ends some messages with a period, others not: the caller's words follow.
    return (exc.message or type(exc).__name__).rstrip(".")
