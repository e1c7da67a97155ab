//! Hot reload: a good edit swaps in, a broken edit keeps the rules in use, and a ConfigMap-style
//! symlink swap is picked up by the watcher.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::RuleSetHandle;
use engine::reload::ReloadOutcome;

fn goal_file(target: i64) -> String {
    format!(
        "version: 1\nchallenges:\n  - id: c\n    name: C\n    goals:\n      - {{ id: g, name: G, on: stat, stat: kills, target: {target} }}\n"
    )
}

fn target_of(handle: &RuleSetHandle) -> i64 {
    handle.current().goal("g").expect("goal g").target
}

/// Waits (bounded) for the watcher to act; the deadline only guards against a hang.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_good_edit_swaps_and_a_broken_edit_keeps_the_old_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, goal_file(5)).expect("write");
    let handle = RuleSetHandle::load(vec![dir.path().to_path_buf()]).expect("loads");
    let first_hash = handle.status().content_hash;
    assert_eq!(target_of(&handle), 5);

    assert!(matches!(handle.reload(), ReloadOutcome::Unchanged));

    std::fs::write(&file, goal_file(7)).expect("write");
    assert!(matches!(handle.reload(), ReloadOutcome::Swapped));
    assert_eq!(target_of(&handle), 7);
    let status = handle.status();
    assert_ne!(status.content_hash, first_hash);
    assert_eq!(status.reloads, 1);

    std::fs::write(&file, goal_file(0)).expect("write");
    let outcome = handle.reload();
    let ReloadOutcome::Failed(failure) = outcome else {
        panic!("a target of 0 must be rejected, got {outcome:?}");
    };
    assert!(
        failure
            .diagnostics
            .iter()
            .any(|d| d.code == engine::Code::InvalidTarget)
    );
    assert_eq!(target_of(&handle), 7, "the working rules stay in use");
    let status = handle.status();
    assert_eq!(status.failures, 1);
    assert!(status.last_error.is_some());

    std::fs::write(&file, goal_file(9)).expect("write");
    assert!(matches!(handle.reload(), ReloadOutcome::Swapped));
    assert!(
        handle.status().last_error.is_none(),
        "a good load clears the last error"
    );
}

#[test]
fn a_rule_set_in_use_is_not_changed_by_a_swap() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), goal_file(5)).expect("write");
    let handle = RuleSetHandle::load(vec![dir.path().to_path_buf()]).expect("loads");
    let in_flight = handle.current();
    std::fs::write(dir.path().join("rules.yaml"), goal_file(6)).expect("write");
    handle.reload();
    assert_eq!(
        in_flight.goal("g").map(|g| g.target),
        Some(5),
        "an event in flight keeps the rules it started with"
    );
    assert_eq!(target_of(&handle), 6);
}

#[test]
fn the_watcher_reloads_edits_and_configmap_symlink_swaps() {
    // Lay the folder out as Kubernetes mounts a ConfigMap:
    //   rules.yaml -> ..data/rules.yaml, ..data -> ..v1/
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let write_version = |name: &str, target: i64| {
        let version = root.join(name);
        std::fs::create_dir(&version).expect("mkdir");
        std::fs::write(version.join("rules.yaml"), goal_file(target)).expect("write");
    };
    write_version("..v1", 5);
    symlink(Path::new("..v1"), &root.join("..data"));
    symlink(Path::new("..data/rules.yaml"), &root.join("rules.yaml"));

    let handle = Arc::new(RuleSetHandle::load(vec![root.to_path_buf()]).expect("loads"));
    assert_eq!(target_of(&handle), 5);
    assert_eq!(
        handle.status().files.len(),
        1,
        "hidden ..data entries are not read twice"
    );
    let _watcher = handle.watch(Duration::from_millis(100)).expect("watch");

    // The kubelet's atomic update: new version folder, new `..data_tmp` link, renamed over `..data`.
    write_version("..v2", 8);
    symlink(Path::new("..v2"), &root.join("..data_tmp"));
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("rename");
    assert!(
        wait_until(|| target_of(&handle) == 8),
        "the symlink swap was not picked up"
    );

    // A broken version is rejected; the rules in use stay.
    write_version("..v3", -1);
    symlink(Path::new("..v3"), &root.join("..data_tmp"));
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("rename");
    assert!(
        wait_until(|| handle.status().failures >= 1),
        "the broken version was not seen"
    );
    assert_eq!(target_of(&handle), 8);
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// Reading the files on a reload must not count as a change: a rejected edit is reported once,
/// not re-read (and re-logged, and re-counted) every debounce interval until it is fixed.
#[test]
fn a_rejected_edit_is_reported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, goal_file(5)).expect("write");
    let handle = Arc::new(RuleSetHandle::load(vec![dir.path().to_path_buf()]).expect("loads"));
    let _watcher = handle.watch(Duration::from_millis(100)).expect("watch");
    std::fs::write(&file, goal_file(-1)).expect("write");
    assert!(
        wait_until(|| handle.status().failures >= 1),
        "the broken edit was not seen"
    );
    // Ten debounce intervals: a read-triggered loop would have failed again by now.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(handle.status().failures, 1, "the failed edit was re-read");
    std::fs::write(&file, goal_file(7)).expect("write");
    assert!(
        wait_until(|| target_of(&handle) == 7),
        "the fix was not seen"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(handle.status().reloads, 1);
    assert_eq!(handle.status().failures, 1);
}
