//! The one table a benchmark run prints: per path, throughput, latency, CPU per operation of
//! each process, and the ratio to a ceiling measured in the same run. Also written as JSON.

use std::time::Duration;

use serde::Serialize;

use crate::load::Outcome;

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub path: String,
    /// Successful operations per second.
    pub throughput: f64,
    pub ok: u64,
    pub failed: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// CPU microseconds per successful operation, by process (handler, service, postgres, driver).
    pub cpu_us_per_op: Vec<(String, f64)>,
    /// `throughput / ceiling` and what the ceiling is.
    pub ceiling: Option<Ceiling>,
    /// Anything the reader must know (the first error, a target rate that was not reached).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    pub name: String,
    pub rate: f64,
    pub ratio: f64,
}

impl Row {
    pub fn new(path: &str, outcome: &Outcome, cpu: &[(String, Duration)]) -> Self {
        let ms = |q: f64| {
            let mut l = outcome.latencies.clone();
            if l.is_empty() {
                return None;
            }
            l.sort_unstable();
            Some(l[((l.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3)
        };
        let ops = outcome.ok.max(1) as f64;
        Self {
            path: path.into(),
            throughput: outcome.rate(),
            ok: outcome.ok,
            failed: outcome.failed,
            p50_ms: ms(0.50),
            p99_ms: ms(0.99),
            cpu_us_per_op: cpu
                .iter()
                .map(|(name, spent)| (name.clone(), spent.as_secs_f64() * 1e6 / ops))
                .collect(),
            ceiling: None,
            note: outcome
                .first_error
                .as_ref()
                .map(|e| format!("{} failed, first: {e}", outcome.failed)),
        }
    }

    pub fn against(mut self, name: &str, rate: f64) -> Self {
        self.ceiling = Some(Ceiling {
            name: name.into(),
            rate,
            ratio: self.throughput / rate.max(1e-9),
        });
        self
    }

    pub fn noted(mut self, note: impl Into<String>) -> Self {
        let note = note.into();
        self.note = Some(match self.note.take() {
            Some(before) => format!("{before}; {note}"),
            None => note,
        });
        self
    }

    pub fn cpu(&self, process: &str) -> Option<f64> {
        self.cpu_us_per_op
            .iter()
            .find(|(name, _)| name == process)
            .map(|(_, us)| *us)
    }
}

/// The whole run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub machine: String,
    pub cores: usize,
    pub started_at: String,
    pub rows: Vec<Row>,
    /// Findings that are not a row (the highest mixed rates that passed).
    pub notes: Vec<String>,
}

impl Report {
    pub fn new() -> Self {
        let machine = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        Self {
            machine,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row and prints it at once (a long run shows its progress).
    pub fn push(&mut self, row: Row) {
        eprintln!("  {}", Self::line(&row));
        self.rows.push(row);
    }

    const PROCESSES: [&'static str; 4] = ["handler", "service", "postgres", "driver"];

    fn line(row: &Row) -> String {
        let opt = |v: Option<f64>, digits: usize| {
            v.map_or_else(|| "".to_string(), |v| format!("{v:.digits$}"))
        };
        let cpu: Vec<String> = Self::PROCESSES.iter().map(|p| opt(row.cpu(p), 0)).collect();
        let ceiling = row.ceiling.as_ref().map_or_else(String::new, |c| {
            format!("{:.2} of {} ({:.0}/s)", c.ratio, c.name, c.rate)
        });
        format!(
            "| {} | {:.0} | {} | {} | {} | {} | {} |",
            row.path,
            row.throughput,
            opt(row.p50_ms, 1),
            opt(row.p99_ms, 1),
            cpu.join(" | "),
            ceiling,
            row.note.as_deref().unwrap_or_default()
        )
    }

    /// The table as Markdown, ready for docs/benchmarks.md.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Machine: {} ({} cores), run started {}.\n\n\
             | path | ops/s | p50 ms | p99 ms | handler µs/op | service µs/op | postgres µs/op | driver µs/op | against the ceiling | note |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
            self.machine, self.cores, self.started_at
        );
        for row in &self.rows {
            out.push_str(&Self::line(row));
            out.push('\n');
        }
        for note in &self.notes {
            out.push_str(&format!("\n{note}.\n"));
        }
        out
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}
