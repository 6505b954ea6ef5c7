//! Where the CPU time goes: the load generator, the app under test and the stand-in share the
//! machine, so this tells how much of it each had (Linux `/proc`; elsewhere, nothing).

use super::*;

/// Cumulative CPU times, in clock ticks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuSample {
    /// This process: the servers under test, the delivery worker and the stand-in.
    pub(crate) process: u64,
    /// The stand-in's runtime threads.
    pub(crate) stand_in: u64,
    /// This process's waited-for children: the wrk runs.
    pub(crate) children: u64,
    /// Every CPU of the machine, busy.
    pub(crate) machine_busy: u64,
    /// Every CPU of the machine, busy or idle.
    pub(crate) machine_total: u64,
}

impl CpuSample {
    pub(crate) fn now() -> Option<Self> {
        let own = stat_fields(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let mut stand_in = 0;
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let path = task.path();
            let is_stand_in = std::fs::read_to_string(path.join("comm"))
                .is_ok_and(|comm| comm.trim_end() == "stand-in");
            if is_stand_in
                && let Some(fields) = std::fs::read_to_string(path.join("stat"))
                    .ok()
                    .and_then(|stat| stat_fields(&stat))
            {
                stand_in += fields.utime + fields.stime;
            }
        }
        let machine = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = machine
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // user nice system idle iowait irq softirq steal (guest time is within user).
        let tick = |index: usize| ticks.get(index).copied().unwrap_or(0);
        let idle = tick(3) + tick(4);
        let busy = tick(0) + tick(1) + tick(2) + tick(5) + tick(6) + tick(7);
        Some(Self {
            process: own.utime + own.stime,
            stand_in,
            children: own.cutime + own.cstime,
            machine_busy: busy,
            machine_total: busy + idle,
        })
    }
}

/// The CPU time fields of a `/proc/.../stat` line.
pub(crate) struct StatFields {
    pub(crate) utime: u64,
    pub(crate) stime: u64,
    pub(crate) cutime: u64,
    pub(crate) cstime: u64,
}

pub(crate) fn stat_fields(stat: &str) -> Option<StatFields> {
    // The command name, in parentheses, may hold spaces: count the fields after it, from the
    // state (field 3).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse().ok();
    Some(StatFields {
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds used during a measured run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuUse {
    /// The server under test and the Affitor client's delivery worker (this process minus the
    /// stand-in).
    pub(crate) app: f64,
    /// The stand-in API.
    pub(crate) stand_in: f64,
    /// wrk.
    pub(crate) wrk: f64,
    /// Everything else on the machine (other people's builds, the kernel's own threads).
    pub(crate) others: f64,
    /// What the machine had: CPUs times the wall time.
    pub(crate) capacity: f64,
}

impl CpuUse {
    pub(crate) fn between(before: &CpuSample, after: &CpuSample, ticks_per_second: f64) -> Self {
        let seconds = |ticks: u64| ticks as f64 / ticks_per_second;
        let process = after.process.saturating_sub(before.process);
        let stand_in = after.stand_in.saturating_sub(before.stand_in);
        let wrk = after.children.saturating_sub(before.children);
        let busy = after.machine_busy.saturating_sub(before.machine_busy);
        Self {
            app: seconds(process.saturating_sub(stand_in)),
            stand_in: seconds(stand_in),
            wrk: seconds(wrk),
            others: seconds(busy.saturating_sub(process + wrk)),
            capacity: seconds(after.machine_total.saturating_sub(before.machine_total)),
        }
    }

    pub(crate) fn share(&self, seconds: f64) -> f64 {
        100.0 * seconds / self.capacity
    }
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
