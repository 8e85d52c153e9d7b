"""The mail catcher's server: aiosmtpd on loopback, each message kept as `<epoch ms>-<n>.eml`.

Started by `scripts.stack.mail.Mail.up` as `python -m scripts.stack.mailserver`; a module of its
own so that running it does not import the stack package's components first.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


class _Inbox:
    """aiosmtpd handler: write each message to its own file, atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seq = itertools.count(1)

    # aiosmtpd looks the hook up by this name
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns() // 1_000_000}-{next(self._seq)}.eml"
        data: bytes = envelope.original_content or envelope.content
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.folder / name)  # a reader never sees half a message
        print(f"{name}: from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}",
              flush=True)
        return "250 Message accepted for delivery"


def serve(port: int, folder: Path) -> None:
    """Run the SMTP server until SIGTERM."""
    from aiosmtpd.smtp import SMTP  # a dev dependency: only the local stack runs this

    folder.mkdir(parents=True, exist_ok=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handler = _Inbox(folder)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="laneway-mail-catcher"), "127.0.0.1", port)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"mail catcher listening on 127.0.0.1:{port}", flush=True)
        await stop.wait()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack.mailserver",
                                     description="Local SMTP server keeping mail as files.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.port, args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
