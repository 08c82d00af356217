"""SIGTERM and SIGINT stop a run honestly: a resumable checkpoint, one line saying so, exit status 128+signum.

Lightning already stops gracefully on SIGTERM: its handler sets ``trainer.received_sigterm`` and the loops
raise ``SIGTERMException`` at the end of the current batch. That exception is a ``SystemExit`` with status 0,
so a scheduler's SIGTERM used to look like success. relx builds on Lightning's mechanism:

* ``SignalGuard`` handles SIGTERM and SIGINT for the whole run. During ``fit`` the first signal only asks
  for a stop (Ctrl-C too, instead of a ``KeyboardInterrupt`` in the middle of an optimiser step); outside
  ``fit`` (reading data, the final evaluation) there is nothing to save and the run stops at once. A
  second signal always stops at once.
* ``relx.stopping.StopOnSignal`` raises Lightning's stop flag at the next batch boundary and, when the
  loops stop with ``SIGTERMException``, saves ``checkpoints/last.ckpt`` from that point (every rank takes
  part, as ``Trainer.save_checkpoint`` requires under DDP).
* ``runs.train`` turns the stop into ``RunInterrupted``: like ``SIGTERMException`` a ``SystemExit`` (no
  ``except Exception`` swallows it, Hydra's sweep included), but with status 128+signum (143, 130) and a
  message that the command line prints as one line.

This module stays free of torch and Lightning: the command line imports it before composing the config.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import lightning as L

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(SystemExit):
    """A run stopped by a signal. ``code`` (the exit status when nothing catches it) is 128+signum;
    ``str()`` is the one-line message; ``report`` is False on the ranks other than 0, which stay quiet."""

    def __init__(self, signum: int, message: str, report: bool = True) -> None:
        super().__init__(message)
        self.code = 128 + signum
        self.signum = signum
        self.message = message
        self.report = report

    def __str__(self) -> str:
        return self.message


class SignalGuard:
    """Handles SIGTERM and SIGINT for a ``with`` block (main thread only: elsewhere Python cannot install
    handlers, and Lightning's own SIGTERM handling still stops ``fit``).

    The first signal is only recorded when it is not safe to raise where the program is: during ``fit``
    (``in_fit``: the callback stops at the next batch boundary) and, with ``defer``, anywhere (the command
    line's guard, active while the libraries are imported: an exception raised inside an import leaves
    half-initialised modules behind). The code then stops at its next safe point (``raise_if_signalled``);
    a guard entered inside another takes over the signal the outer one recorded. Otherwise, and on a
    second signal, the run stops at once: a ``RunInterrupted`` is raised, or, in a deferring guard, the
    process ends by the signal's default action.

    ``trainer``, ``checkpoint`` and ``saved`` say where the run stopped, for the message.
    """

    def __init__(self, checkpoint: Path, defer: bool = False) -> None:
        self.checkpoint = checkpoint
        self.defer = defer
        self.signum: int | None = None
        self.in_fit = False
        self.saved = False
        self.trainer: L.Trainer | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                previous = signal.signal(signum, self._handle)
                self._previous[signum] = previous
                outer = getattr(previous, "__self__", None)
                if isinstance(outer, SignalGuard) and outer.signum is not None:
                    self.signum = self.signum or outer.signum
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signum is None and (self.in_fit or self.defer):
            self.signum = signum
            then = "after the current batch, saving a checkpoint" if self.in_fit else "as soon as it can"
            log.warning("%s received: stopping %s (send it again to stop at once)", name, then)
            return
        self.signum = self.signum or signum
        if self.defer and not self.in_fit:
            print(f"relx: interrupted by {name} twice: stopped at once", file=sys.stderr, flush=True)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise self.interrupted()

    def raise_if_signalled(self) -> None:
        """A safe point: stop here when a signal was recorded."""
        if self.signum is not None:
            raise self.interrupted()

    def interrupted(self, signum: int | None = None) -> RunInterrupted:
        """The exception that ends the run, its message saying where it stopped and how to go on."""
        signum = self.signum or signum or signal.SIGTERM
        trainer = self.trainer
        where = f" at epoch {trainer.current_epoch} step {trainer.global_step}" if trainer else ""
        if self.saved:
            then = f"checkpoint saved to {self.checkpoint}; run the same command to resume"
        elif self.checkpoint.is_file():
            then = f"last checkpoint: {self.checkpoint}; run the same command to resume from it"
        else:
            then = "no checkpoint saved yet: the same command starts over"
        message = f"interrupted by {signal.Signals(signum).name}{where}; {then}"
        return RunInterrupted(signum, message, report=trainer is None or trainer.is_global_zero)
