#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Wait for process PID to exit, at most SECONDS, on the exit event itself
# (a pidfd becomes readable when the process ends), not by polling. For
# shell tests, whose `wait` has no bound and works on children only.
#   wait-exit.py PID SECONDS     exit 0: it ended (or was gone); 1: still running
import os, select, sys

pid, seconds = int(sys.argv[1]), float(sys.argv[2])
try:
    fd = os.pidfd_open(pid)
except ProcessLookupError:
    sys.exit(0)
ready, _, _ = select.select([fd], [], [], seconds)
sys.exit(0 if ready else 1)
