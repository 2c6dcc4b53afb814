"""`python -m handlers.pii`: the same as `chonai pii scan`."""

import sys

from handlers.pii.cli import scan_stream

scan_stream(sys.stdin, sys.stdout)
