//! A procedure running on a channel: its job, when to step it next, and its progress.
//!
//! Progress is elapsed jig time over the request's nominal duration
//! (`Request::nominal_ms`), floored and capped at 99: a `Progress` event is sent each time it
//! passes another multiple of `PROGRESS_STEP_PCT`, never 100 (the reply says that), and only
//! for requests that `reports_progress`. The jig wakes up at each of those marks even when the
//! job has nothing to do then, and at each of the job's sample points (`battery.dcir`): a
//! `Progress` event also goes out, with the last percent, when a sample is due and no mark
//! passed.

use benchline_protocol::duration::PROGRESS_STEP_PCT;
use benchline_protocol::Request;

use crate::procedure::Job;

/// One running procedure.
pub struct Running {
    /// Sequence number of the request, for its reply.
    pub seq: u16,
    /// The state machine.
    pub job: Job,
    /// When the job wants its next step, jig us.
    pub wake_at: u64,
    started_at: u64,
    nominal_us: u64,
    /// Percent last reported (0 before the first report); `None` when the procedure does not
    /// report progress.
    reported: Option<u8>,
}

impl Running {
    /// A job started at `now_us` for `req`, first stepped at `wake_at`.
    pub fn new(seq: u16, job: Job, req: &Request, now_us: u64, wake_at: u64) -> Self {
        Running {
            seq,
            job,
            wake_at,
            started_at: now_us,
            nominal_us: u64::from(req.nominal_ms()).max(1) * 1000,
            reported: req.reports_progress().then_some(0),
        }
    }

    /// When the jig must look at this procedure next: its step, its next progress mark or its
    /// next sample.
    pub fn next_wake(&self) -> u64 {
        [self.progress_at(), self.job.next_sample_at(self.wake_at)]
            .into_iter()
            .flatten()
            .fold(self.wake_at, u64::min)
    }

    /// True when the job has a sample to send at `now_us` (a `Progress` event is then due even
    /// if no mark passed).
    pub fn sample_due(&self, now_us: u64) -> bool {
        self.job
            .next_sample_at(self.wake_at)
            .is_some_and(|t| t <= now_us)
    }

    /// The percent reported last: 0 before the first mark (and for a procedure that does not
    /// report progress).
    pub fn percent(&self) -> u8 {
        self.reported.unwrap_or(0)
    }

    /// Jig time still needed at most, ms (0 once the nominal duration has passed).
    pub fn remaining_ms(&self, now_us: u64) -> u32 {
        let elapsed = now_us.saturating_sub(self.started_at);
        let us = self.nominal_us.saturating_sub(elapsed);
        u32::try_from(us.div_ceil(1000)).unwrap_or(u32::MAX)
    }

    /// The percentage to report now, if a progress mark has passed since the last report.
    pub fn progress(&mut self, now_us: u64) -> Option<u8> {
        if now_us < self.progress_at()? {
            return None;
        }
        let elapsed = now_us.saturating_sub(self.started_at);
        let percent = (elapsed.saturating_mul(100) / self.nominal_us).min(99) as u8;
        self.reported = Some(percent);
        Some(percent)
    }

    /// Time of the next progress mark, if there is one left.
    fn progress_at(&self) -> Option<u64> {
        let last = self.reported?;
        let next = (last / PROGRESS_STEP_PCT + 1).saturating_mul(PROGRESS_STEP_PCT);
        if next >= 100 {
            return None;
        }
        Some(
            self.started_at
                .saturating_add((self.nominal_us * u64::from(next)).div_ceil(100)),
        )
    }
}
