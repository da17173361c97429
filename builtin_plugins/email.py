"""``email``: a notifier that mails each alert over SMTP, with the standard library's smtplib.

The mail is plain text: its subject the alert's title (``[firing] web deployment is DOWN: …``,
or the ``title`` template's), its body the message and the details (or the ``body``
template's). The connection is upgraded with STARTTLS by default, or is TLS from its first
byte (``tls``, port 465); with ``username`` and ``password`` the session logs in, which is
refused without TLS: the password would cross the network in the clear. The server taking the
mail for every recipient means delivered; anything else fails the attempt, and delivery tries
again later.

smtplib blocks, so the hook is a plain ``def``: it runs in a worker thread, and every step of
the conversation (connecting, each command and its answer) is given what is left of the
attempt's deadline as its socket's timeout. Errors name the server and what went wrong, in
the words of the server's answer; never the password, which no message, log line or repr of
this plugin holds.
"""

from __future__ import annotations

import math
import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any, Final

import attrs

from waypoint_hooks import Alert, Context, Duration, StructureError, hookimpl

from ._http import describe, tls_context
from ._messages import alert_details, check_template, compose, default_title

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

#: How much of a server's answer an error quotes.
_QUOTED: Final = 200
#: The port of each way to connect: TLS from the first byte, STARTTLS, neither.
_PORTS: Final = {"tls": 465, "starttls": 587, "plain": 25}


class EmailError(Exception):
    """The server did not take the alert."""


def _address(value: str) -> str | None:
    """Why ``value`` is not an address a header can hold, or ``None``."""
    if any(char in value for char in "\r\n\0"):
        return "must not hold line breaks"
    _, address = parseaddr(value)
    if "@" not in address.strip("@"):
        return f"{value!r} is not an email address (name@example.com, or Name <name@...>)"
    return None


def _check_sender(_: object, field: attrs.Attribute[str], value: str) -> None:
    problem = _address(value)
    if problem is not None:
        raise ValueError(problem)


def _check_recipients(_: object, field: attrs.Attribute[Any], value: str | list[str]) -> None:
    listed = [value] if isinstance(value, str) else value
    if not listed:
        raise ValueError("names no recipient")
    for index, address in enumerate(listed):
        problem = _address(address)
        if problem is not None:
            raise StructureError.at("to" if isinstance(value, str) else f"to[{index}]", problem)


def _check_host(_: object, field: attrs.Attribute[str], value: str) -> None:
    if not value or any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError(f"{value!r} is not a host name or address")


@attrs.define
class EmailConfig:
    """The ``use "email" { ... }`` block of a ``notify`` block."""

    #: The SMTP server: a host name or address.
    host: str = attrs.field(validator=_check_host)
    #: The sender, ``from`` in the config file: ``alerts@example.com`` or ``Ops <...>``.
    from_: str = attrs.field(validator=_check_sender)
    #: One recipient, or a list of them.
    to: str | list[str] = attrs.field(validator=_check_recipients)
    #: By default 465 with ``tls``, 587 with STARTTLS, 25 without either.
    port: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional([attrs.validators.ge(1), attrs.validators.le(65535)]),
    )
    #: Upgrade the connection with STARTTLS (the default, unless ``tls``).
    starttls: bool | None = None
    #: TLS from the first byte (SMTPS, port 465), instead of STARTTLS.
    tls: bool = False
    #: Log in as this user (with ``password``), over TLS only.
    username: str | None = None
    #: Never shown anywhere.
    password: str | None = attrs.field(default=None, repr=False)
    #: How long the whole conversation may take (within the attempt's deadline).
    timeout: Duration = attrs.field(
        default=Duration("30s"), validator=attrs.validators.gt(Duration(0))
    )
    #: Verify the server's certificate against the system's CA certificates.
    verify_tls: bool = True
    #: A template for the subject.
    title: str | None = attrs.field(default=None, validator=check_template)
    #: A template for the text of the mail.
    body: str | None = attrs.field(default=None, validator=check_template)

    def __attrs_post_init__(self) -> None:
        if self.tls and self.starttls:
            raise StructureError.at(
                "starttls",
                "tls is TLS from the first byte (port 465), starttls upgrades a plain "
                "connection (587): set one of them",
            )
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise StructureError.at(missing, "required with username and password: set both")
        if self.username is not None and self.way == "plain":
            raise StructureError.at(
                "username",
                "logging in without TLS would send the password in the clear; set "
                "starttls = true or tls = true",
            )

    @property
    def way(self) -> str:
        """How the connection is made: ``tls``, ``starttls`` or ``plain``."""
        if self.tls:
            return "tls"
        return "plain" if self.starttls is False else "starttls"

    @property
    def server(self) -> str:
        """``host:port``, as errors name the server."""
        return f"{self.host}:{self.port or _PORTS[self.way]}"

    @property
    def recipients(self) -> list[str]:
        return [self.to] if isinstance(self.to, str) else list(self.to)


@hookimpl
def notifier_send(ctx: Context, config: EmailConfig, alert: Alert) -> None:
    title, body = compose(alert, config.title, config.body, default_title=default_title(alert))
    message = _message(config, title, default_body(alert) if body is None else body)
    remaining = ctx.remaining()
    # Within the attempt's deadline: once that has passed, there is no time to wait at all.
    limit = max(0.0, min(float(config.timeout), math.inf if remaining is None else remaining))
    deadline = time.monotonic() + limit
    try:
        _send(config, message, deadline)
    except (OSError, smtplib.SMTPException) as exc:
        # smtplib turns a timeout while it waits for an answer into a lost connection.
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            # Tenths of a second: what is left of a deadline is no round number.
            waited = Duration(round(limit, 1))
            raise EmailError(f"{config.server}: no answer within {waited}") from None
        raise EmailError(f"{config.server}: {_what(exc, config.password)}") from None


def default_body(alert: Alert) -> str:
    """The text of a mail about ``alert`` when no ``body`` template is set."""
    details = alert_details(alert)
    if alert.previous_health is not None:
        details.append(("Before", alert.previous_health.name))
    width = max(len(title) for title, _ in details) + 1
    lines = [f"{f'{title}:':<{width}} {value}" for title, value in details]
    return "\n".join([alert.message, "", *lines, ""])


def _message(config: EmailConfig, title: str, body: str) -> EmailMessage:
    message = EmailMessage()
    # One line: a line break in a header would end it, and start another.
    message["Subject"] = " ".join(title.split())
    message["From"] = config.from_
    message["To"] = ", ".join(config.recipients)
    message["Date"] = formatdate(usegmt=True)
    # The sender's domain: make_msgid would otherwise ask DNS for this host's name.
    message["Message-ID"] = make_msgid(domain=parseaddr(config.from_)[1].rpartition("@")[2])
    # RFC 3834: no vacation responder answers an alert.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


class _Paced(smtplib.SMTP):
    """An SMTP session whose every step must be done by ``deadline`` (``time.monotonic()``):
    connecting is given what is left of it, and so is each command with its answer."""

    deadline = math.inf

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        self.timeout = _left(self.deadline)
        # smtplib keeps the host it was made with, for TLS to check the certificate against;
        # this session is made before it knows it.
        self._host = host
        return super().connect(host, port, source_address)

    def send(self, s: ReadableBuffer | str) -> None:
        if self.sock is not None:
            self.sock.settimeout(_left(self.deadline))
        super().send(s)


class _PacedTLS(_Paced, smtplib.SMTP_SSL):
    """The same, over TLS from the first byte."""


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def _send(config: EmailConfig, message: EmailMessage, deadline: float) -> None:
    context = tls_context(verify=config.verify_tls)
    port = config.port or _PORTS[config.way]
    session = _PacedTLS(context=context) if config.way == "tls" else _Paced()
    session.deadline = deadline
    try:
        session.connect(config.host, port)
        if config.way == "starttls":
            session.starttls(context=context)
        if config.username is not None and config.password is not None:
            session.login(config.username, config.password)
        refused = session.send_message(message, to_addrs=config.recipients)
        if refused:
            # The others have it; the attempt fails all the same, so that it is tried again:
            # a person may be told twice, but none is left untold.
            raise smtplib.SMTPRecipientsRefused(refused)
        session.quit()
    finally:
        # Not QUIT after a failure: the connection may be half made (a failed handshake
        # leaves no socket to speak on), and the failure is what the attempt says.
        session.close()


def _what(exc: OSError | smtplib.SMTPException, password: str | None) -> str:
    """What went wrong, in a few words and the server's own."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{address} ({_said(code, said, password)})"
            for address, (code, said) in exc.recipients.items()
        )
        return f"recipient refused: {refused}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender refused: {exc.sender} ({_said(exc.smtp_code, exc.smtp_error, password)})"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"authentication refused ({_said(exc.smtp_code, exc.smtp_error, password)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        # A refused greeting, EHLO, STARTTLS or message: the server says which.
        return f"refused: {_said(exc.smtp_code, exc.smtp_error, password)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"the server does not offer {_extension(exc)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, OSError):
        return describe(exc)
    return str(exc) or type(exc).__name__


def _extension(exc: smtplib.SMTPNotSupportedError) -> str:
    # smtplib says "STARTTLS extension not supported by server.", "SMTPUTF8 not supported by
    # server" and the like: the name is what comes first.
    name = str(exc).partition(" not supported")[0].removesuffix(" extension")
    return name or "what this session needs"


def _said(code: int, said: bytes | str, password: str | None) -> str:
    """The server's answer, on one line, cut to a length a message can carry, and never the
    password, should a server repeat it."""
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else said
    text = " ".join(f"{code} {text}".split())
    if password:
        text = text.replace(password, "REDACTED")
    return text if len(text) <= _QUOTED else f"{text[:_QUOTED]}..."
