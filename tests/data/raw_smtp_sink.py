"""A real SMTP server (aiosmtpd) that stores each message byte for byte, as the client sent it, in a Maildir
(`DIR/new`), with the envelope prepended as X-Envelope-From / X-Envelope-To headers (outside any DKIM signature).
Announces PIPELINING. A recipient starting with "refuse" gets a 550, one starting with "later" a 451 (try again). Usage: raw_smtp_sink.py PORT DIR"""
import asyncio
import itertools
import os
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

PORT, DIR = int(sys.argv[1]), sys.argv[2]
for sub in ("new", "tmp", "cur"):
    os.makedirs(os.path.join(DIR, sub), exist_ok=True)
counter = itertools.count()


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # The sender then writes each final dot together with the next message's envelope (RFC 2920).
        session.host_name = hostname
        return responses[:1] + ["250-PIPELINING"] + responses[1:]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refuse"):
            return "550 5.1.1 no such user"
        if address.lower().startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{os.getpid()}-{next(counter):08d}"
        head = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n"
        tmp = os.path.join(DIR, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(head.encode() + envelope.original_content)
        os.rename(tmp, os.path.join(DIR, "new", name))
        return "250 2.0.0 OK"


class DrainingSMTP(SMTP):
    """Processes what a client sent before it closed the connection, as a real MTA does: a DATA whose final dot
    arrived together with the close is stored (RFC 5321 4.1.1.4). aiosmtpd itself cancels the session at the close
    and drops such a message, which a sender killed right after writing the dot would count as delivered."""

    def eof_received(self):
        # Let the session read what is buffered, then meet the end of the stream; the transport closes (False).
        asyncio.StreamReaderProtocol.eof_received(self)
        return False

    def connection_lost(self, error):
        self._timeout_handle.cancel()
        asyncio.StreamReaderProtocol.connection_lost(self, error)
        self.transport = None


class DrainingController(Controller):
    def factory(self):
        return DrainingSMTP(self.handler, **self.SMTP_kwargs)


controller = DrainingController(Handler(), hostname="127.0.0.1", port=PORT, decode_data=False)
controller.start()
while True:
    time.sleep(3600)
