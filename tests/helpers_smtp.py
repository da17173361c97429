"""A real SMTP server on 127.0.0.1 for the email notifier's tests: aiosmtpd, in a thread of its
own, plain, with STARTTLS or over TLS from the first byte, with or without AUTH.

Its certificate is for ``127.0.0.1`` and ``localhost``, made by a CA of the tests' own
(trustme): the client trusts it only where a test points ``SSL_CERT_FILE`` at ``ca_file``.
Every mail it takes is kept in ``mails``; a recipient at ``refused.example`` is refused with
550; the one login it takes is ``USER`` with ``PASSWORD``.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from helpers_http import free_port

USER: Final = "alerts"
PASSWORD: Final = "s3cr3t-smtp-pa55word"
#: Recipients at this domain are refused.
REFUSED: Final = "refused.example"

Security = Literal["plain", "starttls", "tls"]


@attrs.define
class Mail:
    """One mail the server took: its envelope and message."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        """The message's text, its lines ended as Python ends them (SMTP sends CRLF)."""
        return str(self.message.get_content()).replace("\r\n", "\n")


class Inbox:
    """aiosmtpd's handler: what the server was sent."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith(f"@{REFUSED}"):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 2.0.0 taken"


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    taken = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # Not handled: aiosmtpd answers a failure with 535 itself (handled, it would say nothing).
    return AuthResult(success=taken, handled=False)


@attrs.define
class SMTPServer:
    """A running server: where it listens, what it took, and the CA a client must trust."""

    port: int
    inbox: Inbox
    ca_file: Path

    @property
    def mails(self) -> list[Mail]:
        return self.inbox.mails


@contextlib.contextmanager
def smtp_server(
    tmp_path: Path, security: Security = "plain", *, auth: bool = False
) -> Iterator[SMTPServer]:
    """A server speaking ``security``, taking AUTH with ``auth``, stopped on exit."""
    ca = trustme.CA()
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    inbox = Inbox()
    port = free_port()
    options: dict[str, Any] = {}
    if security == "tls":
        # aiosmtpd sees TLS only where it made it (STARTTLS): this connection is TLS whole.
        options.update(ssl_context=context, auth_require_tls=False)
    elif security == "starttls":
        options["tls_context"] = context
    if auth:
        options["authenticator"] = _login
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SMTPServer(port, inbox, ca_file)
    finally:
        controller.stop()
