//! What a run measured, the bars it must meet, and the printout.

use std::fmt;
use std::time::Duration;

use affitor::client::DeliveryStats;
use affitor_outbox::OutboxStats;

use crate::ENQUEUE_TIMEOUT;
use crate::clients::Signup;
use crate::options::{FaultKind, Options};

/// The longest a signup may wait beyond the enqueue timeout.
const WAIT_MARGIN: Duration = Duration::from_millis(500);
/// The longest the outbox may keep new events in memory only after the store's return.
const BACK_WITHIN: Duration = Duration::from_secs(5);

/// The leads of the acknowledged signups.
#[derive(Debug)]
pub(crate) struct Leads {
    /// Signups answered with a 2xx and a user id.
    pub(crate) acknowledged: usize,
    /// Those whose lead the stand-in received.
    pub(crate) received: usize,
    /// Customers whose lead the stand-in received more than once.
    pub(crate) sent_twice: usize,
}

/// One run's figures, from the run's start.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) options: Options,
    pub(crate) fault_at: Duration,
    pub(crate) returned_at: Duration,
    pub(crate) ended_at: Duration,
    pub(crate) signups: Vec<Signup>,
    pub(crate) samples: Vec<(Duration, OutboxStats)>,
    pub(crate) leads: Leads,
    /// The outbox's counters at its shutdown.
    pub(crate) last: OutboxStats,
    /// The client's memory queue (what fell back) at the drain's end.
    pub(crate) memory: DeliveryStats,
}

/// The signups sent in one phase of the run.
struct Phase {
    answered: usize,
    failed: usize,
    longest: Duration,
    p99: Duration,
}

impl Phase {
    fn of<'a>(signups: impl Iterator<Item = &'a Signup>) -> Self {
        let mut waits = Vec::new();
        let mut failed = 0;
        for signup in signups {
            waits.push(signup.wait);
            failed += usize::from(signup.user_id.is_none());
        }
        waits.sort_unstable();
        let p99 = match waits.len() {
            0 => Duration::ZERO,
            count => waits[(count * 99).div_ceil(100) - 1],
        };
        Self {
            answered: waits.len() - failed,
            failed,
            longest: waits.last().copied().unwrap_or_default(),
            p99,
        }
    }
}

impl Report {
    fn phases(&self) -> [(&'static str, Phase); 3] {
        let sent = |from: Duration, to: Duration| {
            Phase::of(
                self.signups
                    .iter()
                    .filter(move |signup| (from..to).contains(&signup.sent)),
            )
        };
        [
            ("before", sent(Duration::ZERO, self.fault_at)),
            ("during", sent(self.fault_at, self.returned_at)),
            ("after", sent(self.returned_at, Duration::MAX)),
        ]
    }

    /// From the store's return until the outbox last held an event in memory only, or added
    /// one (spilled or fell back); `None` when it still did in the run's last sample.
    pub(crate) fn back_to_store(&self) -> Option<Duration> {
        let mut last_in_memory = None;
        for pair in self.samples.windows(2) {
            let [(_, before), (at, now)] = pair else {
                continue;
            };
            let in_memory = now.spilled > 0
                || now.spilled_total > before.spilled_total
                || now.fell_back > before.fell_back;
            if in_memory && *at >= self.returned_at {
                last_in_memory = Some(*at);
            }
        }
        match (last_in_memory, self.samples.last()) {
            (Some(at), Some((last, _))) if at == *last => None,
            (Some(at), _) => Some(at - self.returned_at),
            (None, _) => Some(Duration::ZERO),
        }
    }

    /// `OutboxStats::spilled` once a second from the fault on, `|` marking the store's return.
    fn spilled_each_second(&self) -> String {
        let mut line = String::new();
        let mut next = self.fault_at;
        let mut returned = false;
        for (at, stats) in &self.samples {
            if *at < next {
                continue;
            }
            if !returned && *at >= self.returned_at {
                line.push_str("| ");
                returned = true;
            }
            line.push_str(&format!("{} ", stats.spilled));
            next += Duration::from_secs(1);
        }
        line.trim_end().to_owned()
    }

    /// The bars this run missed, each said in a line.
    pub(crate) fn missed(&self) -> Vec<String> {
        let mut missed = Vec::new();
        let all = Phase::of(self.signups.iter());
        if all.failed > 0 {
            missed.push(format!("{} signups failed", all.failed));
        }
        if all.longest > ENQUEUE_TIMEOUT + WAIT_MARGIN {
            missed.push(format!(
                "a signup waited {} ms, over the enqueue timeout plus 0.5 s",
                all.longest.as_millis()
            ));
        }
        if self.leads.received < self.leads.acknowledged {
            missed.push(format!(
                "{} acknowledged leads never reached the stand-in",
                self.leads.acknowledged - self.leads.received
            ));
        }
        match self.back_to_store() {
            None => missed.push("new events were still kept in memory only at the end".to_owned()),
            Some(back) if back > BACK_WITHIN => missed.push(format!(
                "new events were kept in memory only {} ms after the store's return",
                back.as_millis()
            )),
            Some(_) => {}
        }
        missed
    }
}

impl Report {
    /// When the fault came and went, and the signups of each phase.
    fn write_signups(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |at: Duration| at.as_secs_f64();
        writeln!(
            f,
            "fault at {:.1} s, store back at {:.1} s, clients stopped at {:.1} s",
            secs(self.fault_at),
            secs(self.returned_at),
            secs(self.ended_at)
        )?;
        writeln!(
            f,
            "{:<8} {:>9} {:>7} {:>12} {:>9}",
            "signups", "answered", "failed", "longest ms", "p99 ms"
        )?;
        for (name, phase) in self.phases() {
            writeln!(
                f,
                "{name:<8} {:>9} {:>7} {:>12} {:>9}",
                phase.answered,
                phase.failed,
                phase.longest.as_millis(),
                phase.p99.as_millis()
            )?;
        }
        Ok(())
    }

    /// The leads, the outbox's counters and the memory queue's, and the way back to the store.
    fn write_store(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Leads {
            acknowledged,
            received,
            sent_twice,
        } = self.leads;
        writeln!(
            f,
            "leads: {acknowledged} acknowledged, {received} received by the stand-in ({sent_twice} received twice or more)"
        )?;
        let held = self
            .samples
            .iter()
            .map(|(_, stats)| stats.spilled)
            .max()
            .unwrap_or(0);
        let last = &self.last;
        writeln!(
            f,
            "outbox: {} written, {} spilled (at most {held} at once), {} written back, {} fell back to memory, {} delivered",
            last.enqueued, last.spilled_total, last.written_back, last.fell_back, last.delivered
        )?;
        let memory = &self.memory;
        writeln!(
            f,
            "memory queue at the drain's end: {} queued, {} delivered, {} dropped ({} for a full queue), {} pending",
            memory.queued, memory.delivered, memory.dropped, memory.queue_full, memory.pending
        )?;
        writeln!(
            f,
            "held in memory (spilled), each second from the fault: {}",
            self.spilled_each_second()
        )?;
        match self.back_to_store() {
            Some(back) => writeln!(
                f,
                "nothing new kept in memory only {} ms after the store's return",
                back.as_millis()
            )?,
            None => writeln!(
                f,
                "new events still kept in memory only when the clients stopped"
            )?,
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Options {
            fault,
            framework,
            pool_mode,
            clients,
        } = self.options;
        let fault = match fault {
            FaultKind::FullDisk => "a full disk (SQLite), 8 s".to_owned(),
            FaultKind::SilentPostgres => "a silent Postgres, 15 s".to_owned(),
            FaultKind::Pooler => format!("PgBouncer ({} mode) restarted", pool_mode.name()),
        };
        writeln!(
            f,
            "{framework}, {clients} clients, the stand-in answering in 20 ms: {fault}"
        )?;
        self.write_signups(f)?;
        self.write_store(f)?;
        let missed = self.missed();
        if missed.is_empty() {
            writeln!(f, "every bar met")
        } else {
            missed
                .iter()
                .try_for_each(|line| writeln!(f, "MISSED: {line}"))
        }
    }
}
