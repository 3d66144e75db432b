"""What every config section shares: unknown keys, infinities and NaNs refused where they enter, and the bounds past
which a count or a step number is a mistake rather than an experiment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Step counts and sizes past these are mistakes (a run of 2**63 steps never ends), not experiments.
MAX_STEPS = 100_000_000
MAX_COUNT = 10_000_000
DEVICE = r"^(auto|cpu|mps|cuda(:\d+)?)$"


class Strict(BaseModel):
    # allow_inf_nan=False: an infinite or NaN learning rate (or any other float) is refused where it enters.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
