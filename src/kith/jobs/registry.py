"""The registry of scheduled jobs, as data (seed 004 §10, DESIGN §5.5)."""

from __future__ import annotations

from datetime import time

from kith.jobs import builtin
from kith.jobs.base import Job
from kith.jobs.model import NIGHTLY, Daily, Every, Weekly

# The follow-up job wakes every REMINDER_TICK minutes and reminds each assignee whose local 08:00
# has passed: a reminder arrives at most this late.
REMINDER_TICK = 15

JOBS: tuple[Job, ...] = (
    Job("deal-rotting", Daily(time(0, 0)), builtin.deal_rotting,
        "Flag open deals with no progress for longer than their stage's rot period (deal.rotting + owner "
        "notification, once per rot episode)."),
    Job("follow-up-reminders", Every(REMINDER_TICK), builtin.follow_up_reminders,
        "Notify each assignee of their open tasks due today or overdue (one task.due notification per "
        "assignee per day).",
        label=f"daily at 08:00 in each assignee's timezone (checked every {REMINDER_TICK} minutes)"),
    Job("lead-score-decay", Weekly(0, time(0, 0)), builtin.lead_score_decay,
        f"Open leads with no activity in {builtin.INACTIVE_DAYS} days lose {builtin.DECAY_POINTS} points "
        "(floor 0; lead.score-decayed)."),
    Job("campaign-stats-sync", Every(30), builtin.campaign_stats_sync,
        "Pull campaign delivery stats from the email provider (a no-op until campaigns exist)."),
    Job("analytics-snapshot", NIGHTLY, builtin.analytics_snapshot,
        "Store the pipeline value, conversion and win/loss figures of the UTC day that just ended.",
        label="nightly at 00:30 UTC"),
)

BY_NAME: dict[str, Job] = {job.name: job for job in JOBS}
