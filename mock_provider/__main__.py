"""``python -m mock_provider``."""

from __future__ import annotations

import sys

from mock_provider.cli import main

sys.exit(main())
