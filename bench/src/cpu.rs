//! CPU time of processes, read from `/proc`, so a run can say how much CPU each process spent
//! per operation. Linux only: the drivers run on the project's Linux machines.

use std::collections::HashMap;
use std::time::Duration;

/// Linux reports `utime` and `stime` in clock ticks of `USER_HZ`, which the kernel's ABI fixes
/// at 100 per second on the architectures this runs on.
const TICKS_PER_SECOND: u64 = 100;

/// CPU time (user + system, all threads) of process `pid` and of its children it has waited
/// for; `None` once it has exited. Counting waited-for children keeps short-lived workers: a
/// PostgreSQL backend that exits is reaped by the postmaster, whose children's time then
/// holds it.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may itself hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace();
    // `rest` starts at field 3 (state); utime, stime, cutime and cstime are fields 14 to 17.
    let mut ticks = 0;
    for field in fields.by_ref().skip(11).take(4) {
        ticks += field.parse::<u64>().ok()?;
    }
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// Every process whose command name is `name` (for example each PostgreSQL backend).
pub fn pids_named(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect()
}

/// What one meter watches: one process, or every process of a name.
#[derive(Debug, Clone)]
pub enum Watched {
    Pid(u32),
    Named(String),
}

impl Watched {
    fn sample(&self) -> HashMap<u32, Duration> {
        let pids = match self {
            Watched::Pid(pid) => vec![*pid],
            Watched::Named(name) => pids_named(name),
        };
        pids.into_iter()
            .filter_map(|pid| Some((pid, process_cpu(pid)?)))
            .collect()
    }
}

/// CPU time of named groups of processes between [`CpuMeter::start`] and [`Running::stop`].
#[derive(Debug, Clone)]
pub struct CpuMeter {
    groups: Vec<(String, Watched)>,
}

/// A meter that has taken its first sample.
#[derive(Debug)]
pub struct Running {
    groups: Vec<(String, Watched, HashMap<u32, Duration>)>,
}

impl CpuMeter {
    pub fn new() -> Self {
        Self { groups: Vec::new() }
    }

    pub fn watch(mut self, label: &str, watched: Watched) -> Self {
        self.groups.push((label.to_string(), watched));
        self
    }

    pub fn start(&self) -> Running {
        Running {
            groups: self
                .groups
                .iter()
                .map(|(label, watched)| (label.clone(), watched.clone(), watched.sample()))
                .collect(),
        }
    }
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl Running {
    /// CPU spent by each group since the start, in the order they were added. A process that
    /// started in between counts whole; one that exited in between counts in its parent (see
    /// [`process_cpu`]) when the parent is watched and has waited for it.
    pub fn stop(self) -> Vec<(String, Duration)> {
        self.groups
            .into_iter()
            .map(|(label, watched, before)| {
                let spent = watched
                    .sample()
                    .into_iter()
                    .map(|(pid, now)| {
                        now.saturating_sub(before.get(&pid).copied().unwrap_or_default())
                    })
                    .sum();
                (label, spent)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_grows_with_work() {
        let me = std::process::id();
        let before = process_cpu(me).expect("own /proc entry");
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let after = process_cpu(me).expect("own /proc entry");
        assert!(after > before, "{before:?} -> {after:?}");
    }

    #[test]
    fn names_with_spaces_and_parentheses_parse() {
        // The command name is the only field that may hold spaces; everything after the last
        // parenthesis is numeric.
        assert!(pids_named("no such process name").is_empty());
        assert!(process_cpu(u32::MAX).is_none());
    }
}
