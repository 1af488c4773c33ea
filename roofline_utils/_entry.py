"""The ``roofline`` console script, kept apart from cli.py so that it can catch Ctrl-C and SIGTERM
before anything heavy is imported: an interrupt while the interpreter loads numpy and the CLI
(the first tenth of a second) ends with one line, not an import traceback. From cli.main() on,
interrupts unwind and clean up instead."""
import os
import signal
import sys


def _quiet_exit(signum, frame):
    os.write(2, b"roofline: interrupted; nothing was written\n")
    os._exit(128 + signum)  # nothing has started yet that needs cleaning up


_quiet_exit.quiet_exit = True  # cli.main() recognises it and takes over


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # ignored stays ignored (`nohup`, `&`)
            signal.signal(signum, _quiet_exit)
    from .cli import main as cli_main

    sys.exit(cli_main())
