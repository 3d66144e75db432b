"""``[control] kind = "none"``: every round samples with the configured count and temperature."""

from __future__ import annotations

from selftaught.run.control.base import ControlStrategy


class Fixed(ControlStrategy):
    name = "none"
