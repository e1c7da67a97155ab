//! Watching the challenge files: a debounced file-system watch (inotify on Linux) reloads after
//! changes settle, and a check every second re-establishes that watch when what it watches was
//! replaced. A watch follows an inode, so without the check it would stop for good when a deploy
//! tool replaces the folder (`rm -rf challenges && mkdir challenges && cp …`), when a symlinked
//! folder is pointed elsewhere, or when a single watched file is a link that is moved.
//! Kubernetes ConfigMap mounts swap symlinks inside the folder, which the watch sees directly.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use notify_debouncer_full::notify::{self, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::reload::{RuleSetHandle, is_change};

/// How often the watched paths are checked for having been replaced.
const CHECK_EVERY: Duration = Duration::from_secs(1);

type Watch = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// Keeps the file watch alive; drop it to stop.
pub struct RuleWatcher {
    stop: Arc<AtomicBool>,
    _watch: Arc<Mutex<Option<Watch>>>,
}

impl std::fmt::Debug for RuleWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuleWatcher")
    }
}

impl Drop for RuleWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Starts watching `handle`'s paths.
pub fn watch(
    handle: &Arc<RuleSetHandle>,
    debounce: Duration,
) -> Result<RuleWatcher, notify::Error> {
    let current = Arc::new(Mutex::new(Some(start(handle, debounce)?)));
    let stop = Arc::new(AtomicBool::new(false));
    let mut seen = fingerprint(handle.paths());
    let (handle, watch, stopped) = (Arc::clone(handle), Arc::clone(&current), Arc::clone(&stop));
    std::thread::Builder::new()
        .name("challenge-watch".into())
        .spawn(move || {
            let mut failing = false;
            while !stopped.load(Ordering::SeqCst) {
                std::thread::sleep(CHECK_EVERY);
                let now = fingerprint(handle.paths());
                if now == seen {
                    continue;
                }
                // Replaced (or gone): watch what is there now, and read it.
                let restarted = start(&handle, debounce);
                let mut slot = watch.lock().unwrap_or_else(PoisonError::into_inner);
                match restarted {
                    Ok(new) => {
                        *slot = Some(new);
                        seen = now;
                        failing = false;
                        drop(slot);
                        tracing::info!("the challenge files were replaced; watching them again");
                        handle.reload();
                    }
                    Err(error) => {
                        // Not there yet (between a delete and its re-creation): try again.
                        *slot = None;
                        if !failing {
                            tracing::warn!(%error, "cannot watch the challenge files; retrying every second");
                            failing = true;
                        }
                    }
                }
            }
        })
        .map_err(notify::Error::io)?;
    Ok(RuleWatcher {
        stop,
        _watch: current,
    })
}

/// A debounced watch of every path, reloading on changes.
fn start(handle: &Arc<RuleSetHandle>, debounce: Duration) -> Result<Watch, notify::Error> {
    let reloading = Arc::clone(handle);
    let mut debouncer =
        new_debouncer(
            debounce,
            None,
            move |result: DebounceEventResult| match result {
                // Reading the files (ours included, on every reload) is not a change: reacting to
                // it would re-read a rejected edit forever.
                Ok(events) if !events.iter().any(|e| is_change(e)) => {}
                Ok(_) => {
                    reloading.reload();
                }
                Err(errors) => {
                    for error in errors {
                        tracing::warn!(%error, "watching the challenge files");
                    }
                }
            },
        )?;
    for path in handle.paths() {
        let (target, mode) = watch_target(path);
        debouncer.watch(&target, mode)?;
    }
    Ok(debouncer)
}

fn watch_target(path: &Path) -> (PathBuf, RecursiveMode) {
    if path.is_dir() {
        (path.to_path_buf(), RecursiveMode::Recursive)
    } else {
        (parent(path), RecursiveMode::NonRecursive)
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// What identifies the watched things: for a folder, the folder (followed through links, its
/// inode and change time: a folder re-created under the same inode number still differs) and
/// the link pointing at it; for a file, its folder likewise and the file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    folder: Option<(u64, u64, Option<SystemTime>)>,
    link: Option<PathBuf>,
    file: Option<(u64, u64, Option<SystemTime>, u64)>,
}

fn fingerprint(paths: &[PathBuf]) -> Vec<Identity> {
    paths
        .iter()
        .map(|path| {
            let folder = if path.is_dir() {
                path.clone()
            } else {
                parent(path)
            };
            let file = (!path.is_dir())
                .then(|| std::fs::metadata(path).ok())
                .flatten();
            Identity {
                folder: std::fs::metadata(&folder).ok().map(|m| node(&m)),
                link: std::fs::read_link(path)
                    .ok()
                    .or_else(|| std::fs::read_link(&folder).ok()),
                file: file.map(|m| {
                    let (dev, ino, changed) = node(&m);
                    (dev, ino, changed, m.len())
                }),
            }
        })
        .collect()
}

#[cfg(unix)]
fn node(meta: &std::fs::Metadata) -> (u64, u64, Option<SystemTime>) {
    use std::os::unix::fs::MetadataExt;
    let changed = SystemTime::UNIX_EPOCH.checked_add(Duration::new(
        u64::try_from(meta.ctime()).unwrap_or(0),
        u32::try_from(meta.ctime_nsec()).unwrap_or(0),
    ));
    (meta.dev(), meta.ino(), changed)
}

#[cfg(not(unix))]
fn node(meta: &std::fs::Metadata) -> (u64, u64, Option<SystemTime>) {
    (0, 0, meta.modified().ok())
}
