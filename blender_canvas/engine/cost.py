"""Cost estimates and budget caps, checked before anything is submitted."""

from __future__ import annotations

from pydantic import BaseModel

from ..providers.catalog import Price

WORDS_PER_SECOND = 2.6  # a measured speaking pace; voice clips and avatar shots are priced from it before they exist


def spoken_seconds(text: str) -> float:
    return max(1.0, len(text.split()) / WORDS_PER_SECOND + 0.8)


def estimate_usd(price: Price | None, *, seconds: float | None = None, text: str = "", resolution: str | None = None,
                 audio: bool = False) -> float:
    """One take's list price: per second x duration, per image, or per character / byte of the text."""
    if price is None:
        return 0.0
    rate = price.rate(resolution, audio)
    if price.per == "second":
        return rate * (seconds or 0.0)
    if price.per == "1k_characters":
        return rate * len(text) / 1000
    if price.per == "1m_bytes":
        return rate * len(text.encode("utf-8")) / 1_000_000
    return rate  # per image, per run


class BudgetExceeded(Exception):
    """Refuses a run before the first submit; the message names the estimate and the cap."""


class Budget(BaseModel):
    run_usd: float | None = None  # a cap on this run's estimate
    project_usd: float | None = None  # a cap on everything this project has spent plus this run

    def check(self, estimate: float, spent: float) -> None:
        if self.run_usd is not None and estimate > self.run_usd + 1e-9:
            raise BudgetExceeded(f"this run is estimated at ${estimate:.2f}, over the run budget of "
                                 f"${self.run_usd:.2f}; nothing was submitted")
        if self.project_usd is not None and spent + estimate > self.project_usd + 1e-9:
            raise BudgetExceeded(f"this run is estimated at ${estimate:.2f}; with ${spent:.2f} already spent on this "
                                 f"project that passes the project budget of ${self.project_usd:.2f}; nothing was "
                                 "submitted")
