"""The base of every admin-file model, so each file refuses the same things the same way."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are refused (a typo such as `nxt:` is caught, not ignored), values are frozen, and
    numbers must be finite: `.nan` compares false with everything and `.inf` true with every bound, so
    either would make a question refuse every answer, or a rule fire or stay quiet for ever, silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
