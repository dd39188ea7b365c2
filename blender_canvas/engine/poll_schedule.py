"""When to poll a remote job next: tight when the vendor's own status says the job is nearly done, relaxed while
it waits in a queue, never faster than the vendor allows nor slower than :data:`MAX_POLL_INTERVAL_S`.

A pure function of what the vendor last said (state, queue position, progress, its own poll hint) and of what the
runner saw (how long the job has been running, how many polls it has been queued), so it is unit-tested with
injected statuses and no clock. Each backend's bounds are in :data:`LIMITS`, with the source of each floor:

* the floor is the fastest cadence the vendor itself documents or its own SDK uses; a vendor that documents none
  keeps its adapter's ``poll_interval_s`` as the floor (this schedule never tightens it, only relaxes it);
* a poll hint from the vendor (OpenAI's ``openai-poll-after-ms``) is a minimum: never poll sooner than asked.

The shape, for a job that is not done:

* queued: the adapter's interval, 1.5x longer per queued poll (a job that stays queued is asked less often), but
  never longer than the queue position suggests (interval x (position + 1/2)): next in line is asked every half
  interval, as it may start and finish any moment. A position is not a time (the vendor may run many jobs at once:
  twelve submitted together all start together on a scaled app), so the first queued poll never waits past the
  interval however long the queue looks;
* running with a progress fraction: half the remaining time that progress projects from the running time so far
  (so the poll lands near the end, then close on it), bounded by floor and interval;
* running with no progress (fal says only IN_PROGRESS): a tenth of the running time seen so far, so a job that
  finishes soon after it starts is seen within ~10 % of its running time, and a long one is not polled to death.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..providers.backend import JobState, JobStatus

MAX_POLL_INTERVAL_S = 30.0
QUEUED_GROWTH = 1.5  # a queued job without a position: each poll waits this much longer, up to the ceiling
RUNNING_FRACTION = 0.1  # running without progress: wait this share of the running time seen so far
NEAR_DONE = 0.9  # a progress fraction from which a job is polled at the floor
NEXT_IN_LINE = 0.5  # a queued job at position 0 waits half the interval


@dataclass(frozen=True)
class PollLimits:
    interval_s: float  # the adapter's cadence: queued jobs start here, running ones never wait longer
    floor_s: float  # the fastest the vendor allows (its docs or its own SDK)
    ceiling_s: float = MAX_POLL_INTERVAL_S

    def clamp(self, seconds: float) -> float:
        return min(self.ceiling_s, max(self.floor_s, seconds))


# backend id -> fastest documented cadence (s); a backend missing here keeps its interval as its floor
FLOORS: dict[str, float] = {
    "fal": 0.1,  # fal-client 1.0.3 polls status every 0.1 s (client.py, iter_events interval)
    "replicate": 0.5,  # replicate 1.0.7 client.py: poll_interval 0.5 s (REPLICATE_POLL_INTERVAL)
    "bfl": 0.5,  # BFL's API docs poll get_result every 0.5 s
    "runway": 5.0,  # runwayml lib/polling.py: tasks are not updated more often than every 5 s
    "preview": 0.02,  # this machine: no vendor to spare
}


def limits_for(backend_id: str, interval_s: float) -> PollLimits:
    floor = min(interval_s, FLOORS.get(backend_id, interval_s))
    return PollLimits(interval_s=interval_s, floor_s=floor, ceiling_s=max(MAX_POLL_INTERVAL_S, interval_s))


def next_poll_s(status: JobStatus, limits: PollLimits, *, running_for_s: float = 0.0, queued_polls: int = 0) -> float:
    """Seconds to wait before polling a job whose last status is ``status`` (not terminal)."""
    hint = status.poll_after_s
    wait = _by_state(status, limits, running_for_s=running_for_s, queued_polls=queued_polls)
    if hint is not None and hint > 0:
        wait = max(wait, min(hint, limits.ceiling_s))  # the vendor's own "not before"
    return wait


def _by_state(status: JobStatus, limits: PollLimits, *, running_for_s: float, queued_polls: int) -> float:
    if status.state == JobState.QUEUED:
        grown = QUEUED_GROWTH ** max(0, queued_polls)
        if status.queue_position is not None and status.queue_position >= 0:
            grown = min(grown, NEXT_IN_LINE + status.queue_position)
        return limits.clamp(limits.interval_s * grown)
    progress = status.progress
    running_for_s = max(0.0, running_for_s)
    if progress is not None and 0.0 < progress < 1.0:
        if progress >= NEAR_DONE:
            return limits.floor_s
        remaining = running_for_s * (1.0 - progress) / progress
        return min(limits.interval_s, limits.clamp(remaining / 2.0))
    if progress is not None and progress >= 1.0:
        return limits.floor_s  # done computing, the result is being written
    return min(limits.interval_s, limits.clamp(running_for_s * RUNNING_FRACTION))
