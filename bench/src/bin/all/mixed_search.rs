//! The mixed load at the base rates, and the search for the highest rates that pass.

use super::*;

impl Run {
    /// The mixed load at the base rates, then scaled up until a class's p99 reaches 50 ms.
    pub(super) async fn mixed(
        &mut self,
        targets: &Targets,
        service: &Process,
        handler: &Process,
    ) -> Result<()> {
        let base_passes = self.mixed_step(targets, service, handler, 1.0).await;
        if self.args.no_search {
            return Ok(());
        }
        // Up while every class keeps its p99 under 50 ms; down from the base if it did not.
        let (steps, passing): (&[f64], bool) = if base_passes {
            (&[1.5, 2.0, 2.5, 3.0, 4.0], true)
        } else {
            (&[0.75, 0.5, 0.35, 0.25], false)
        };
        let mut best = base_passes.then_some(1.0);
        for &factor in steps {
            let passes = self.mixed_step(targets, service, handler, factor).await;
            if passes {
                best = Some(factor);
            }
            if passes != passing {
                break;
            }
        }
        let summary = match best {
            Some(factor) => {
                let rates = Rates::BASE.scaled(factor);
                format!(
                    "highest mixed rates with every class's p99 under 50 ms: ×{factor} = {:.0} requests/s + {:.0} events/s",
                    rates.requests(),
                    rates.events
                )
            }
            None => "no mixed rate tried kept every class's p99 under 50 ms".into(),
        };
        eprintln!("  {summary}");
        self.report.notes.push(summary);
        Ok(())
    }

    /// One mixed run at the base rates × `factor`; whether every class kept p99 < 50 ms.
    async fn mixed_step(
        &mut self,
        targets: &Targets,
        service: &Process,
        handler: &Process,
        factor: f64,
    ) -> bool {
        let rates = Rates::BASE.scaled(factor);
        let cpu = Self::meter(&[service, handler]).start();
        let classes = mixed::run(targets, rates, self.seconds()).await;
        let spent = cpu.stop();
        let label = format!(
            "mixed at {:.0} requests/s + {:.0} events/s",
            rates.requests(),
            rates.events
        );
        let mut worst = 0.0f64;
        let mut total = Outcome::default();
        for (class, outcome) in &classes {
            let row = Row::new(&format!("{label}: {class}"), outcome, &[]);
            worst = worst.max(row.p99_ms.unwrap_or(f64::INFINITY));
            total.ok += outcome.ok;
            total.failed += outcome.failed;
            total.elapsed = total.elapsed.max(outcome.elapsed);
            self.report.push(row);
        }
        let failed = total.failed;
        let total = Row::new(
            &format!("{label}: all classes, CPU per call"),
            &total,
            &spent,
        );
        self.report.push(total);
        eprintln!("  worst p99 {worst:.1} ms, {failed} failed");
        worst < 50.0 && failed == 0
    }
}
