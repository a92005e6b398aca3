"""The trainer double with a slow start-up: a worker imports its trainer before it takes its
first task, and importing this module takes $HPTUI_FAULT_START_SLEEP seconds, as importing
TensorFlow and initialising a device does. Each new worker (one that replaces a killed one
too) pays it again."""

from __future__ import annotations

import os
import time

from tests.helpers.fake_trainer import train

START_ENV = "HPTUI_FAULT_START_SLEEP"

time.sleep(float(os.environ.get(START_ENV, "0")))

__all__ = ["train"]
