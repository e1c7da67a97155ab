//! The real `handler` and `service` binaries as child processes of a benchmark, so each one's
//! CPU can be read on its own.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

/// A port the OS had free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running binary, killed when dropped.
#[derive(Debug)]
pub struct Process {
    pub name: &'static str,
    pub pid: u32,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `bin_dir/name` with `env` (on top of the driver's environment), its output in
    /// `log_dir/name.log`, and waits until `health` answers 200.
    pub async fn start(
        name: &'static str,
        bin_dir: &Path,
        env: &[(&str, String)],
        health: &str,
        log_dir: &Path,
    ) -> Result<Self> {
        Self::start_in(name, bin_dir, env, health, log_dir, None).await
    }

    /// [`Process::start`] with `dir` as the working directory (where the embedded database's
    /// default file lands).
    pub async fn start_in(
        name: &'static str,
        bin_dir: &Path,
        env: &[(&str, String)],
        health: &str,
        log_dir: &Path,
        dir: Option<&Path>,
    ) -> Result<Self> {
        let binary = bin_dir.join(name);
        anyhow::ensure!(
            binary.exists(),
            "{} is missing: build it first (`cargo build --release -p {name}`, or run bench/run)",
            binary.display()
        );
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(binary.canonicalize()?);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(file.try_clone()?)
            .stderr(file)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("no pid")?;
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited with {status} while starting; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if client
                .get(health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "{name} did not become healthy at {health} within 60 s; see {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            name,
            pid,
            child,
            log,
        })
    }

    /// Stops it with SIGTERM semantics where possible (kill otherwise) and waits for the exit.
    pub async fn stop(mut self) -> Result<()> {
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
                bail!(
                    "{} ignored SIGTERM for 15 s; see {}",
                    self.name,
                    self.log.display()
                );
            }
        }
        Ok(())
    }
}
