"""The watcher tests run the service's test harness (tests/service_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

SERVICE_TESTS = Path(__file__).resolve().parent.parent / "service"
if str(SERVICE_TESTS) not in sys.path:
    sys.path.insert(0, str(SERVICE_TESTS))
