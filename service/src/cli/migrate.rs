//! `service migrate [--down N]`: applies (or reverts) the schema migrations of the configured
//! database. The server never migrates silently; this command, or `--migrate` at start-up, does.

use anyhow::{Context, Result};
use clap::Args;
use pipeline::database::DatabaseArgs;

use store::redacted;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Revert the last N migrations instead of applying pending ones.
    #[arg(long, value_name = "N")]
    pub down: Option<usize>,
}

pub async fn run(args: &MigrateArgs, database: &DatabaseArgs) -> Result<()> {
    let url = database.url()?;
    let store = store::open(&url, 2)
        .await
        .with_context(|| format!("cannot open the database {}", redacted(&url)))?;
    match args.down {
        Some(steps) => {
            let reverted = store
                .migrate_down(steps)
                .await
                .context("reverting migrations")?;
            if reverted == 0 {
                println!(
                    "nothing to revert: {} has no migrations applied",
                    redacted(&url)
                );
            } else {
                println!(
                    "reverted the last {reverted} migration(s) of {}",
                    redacted(&url)
                );
            }
        }
        None => {
            store.migrate().await.context("applying migrations")?;
            println!("{} is up to date", redacted(&url));
        }
    }
    Ok(())
}
