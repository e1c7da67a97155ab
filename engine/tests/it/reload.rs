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

/// A rejected edit is reported once: reading the same broken files again (any event in the
/// folder, or the reload's own read) neither fails again nor logs again. Putting the files back
/// as they were clears the error without a reload.
#[test]
fn a_rejected_edit_is_reported_once_and_undoing_it_clears_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, goal_file(5)).expect("write");
    let handle = RuleSetHandle::load(vec![dir.path().to_path_buf()]).expect("loads");

    std::fs::write(&file, goal_file(-1)).expect("write");
    assert!(matches!(handle.reload(), ReloadOutcome::Failed(_)));
    let outcome = handle.reload();
    assert!(
        matches!(outcome, ReloadOutcome::Unchanged),
        "the same broken files were reported again: {outcome:?}"
    );
    assert_eq!(handle.status().failures, 1);

    // Another broken version is a new failure.
    std::fs::write(&file, goal_file(-2)).expect("write");
    assert!(matches!(handle.reload(), ReloadOutcome::Failed(_)));
    assert_eq!(handle.status().failures, 2);

    // The designer undoes the edit: the files are the rules in use again.
    std::fs::write(&file, goal_file(5)).expect("write");
    let outcome = handle.reload();
    assert!(
        matches!(outcome, ReloadOutcome::Restored),
        "undoing the edit must be reported: {outcome:?}"
    );
    let status = handle.status();
    assert!(status.last_error.is_none(), "the error is cleared");
    assert_eq!((status.reloads, status.failures), (0, 2));
    assert_eq!(target_of(&handle), 5);
    assert!(matches!(handle.reload(), ReloadOutcome::Unchanged));

    // The same broken edit made again is reported again: it is news once more.
    std::fs::write(&file, goal_file(-2)).expect("write");
    assert!(matches!(handle.reload(), ReloadOutcome::Failed(_)));
    assert_eq!(handle.status().failures, 3);
}

/// The watcher reacts to writes, not to reads: each reload reads every file, so reacting to
/// reads would re-read the folder forever. Real inotify events, in the order the kernel
/// delivers them: everything our reads caused comes before the write that follows them.
#[test]
fn reading_the_files_is_not_a_change_but_writing_is() {
    use notify::Watcher as _;
    use notify_debouncer_full::notify;

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, goal_file(5)).expect("write");
    let (sender, events) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(sender).expect("watcher");
    watcher
        .watch(dir.path(), notify::RecursiveMode::Recursive)
        .expect("watch");

    // What a reload does to the folder: list it and read every file.
    engine::source::read_sources(&[dir.path().to_path_buf()]).expect("read");
    std::fs::read(&file).expect("read");
    // The barrier: a write, which must count.
    let barrier = dir.path().join("barrier.yaml");
    std::fs::write(&barrier, goal_file(6)).expect("write");

    let mut before_barrier = Vec::new();
    loop {
        let event = events
            .recv_timeout(Duration::from_secs(20))
            .expect("the barrier's event arrives")
            .expect("watch event");
        if event.paths.iter().any(|p| p.ends_with("barrier.yaml")) {
            assert!(
                engine::reload::is_change(&event),
                "writing a file is a change: {event:?}"
            );
            break;
        }
        before_barrier.push(event);
    }
    assert!(
        !before_barrier.is_empty(),
        "reading produced events (else this test checks nothing)"
    );
    for event in &before_barrier {
        assert!(
            !engine::reload::is_change(event),
            "reading the files counted as a change: {event:?}"
        );
    }
}

/// A deploy tool replaces the whole folder (`rm -rf challenges && mkdir challenges && cp …`):
/// the watch follows the new folder, and later edits keep reloading.
#[test]
fn a_replaced_folder_keeps_reloading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("challenges");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(folder.join("rules.yaml"), goal_file(5)).expect("write");
    let handle = Arc::new(RuleSetHandle::load(vec![folder.clone()]).expect("loads"));
    let _watcher = handle.watch(Duration::from_millis(100)).expect("watch");

    std::fs::remove_dir_all(&folder).expect("rm -rf");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(folder.join("rules.yaml"), goal_file(7)).expect("cp");
    assert!(
        wait_until(|| target_of(&handle) == 7),
        "the replaced folder was not read"
    );
    // And the edit after it.
    std::fs::write(folder.join("rules.yaml"), goal_file(9)).expect("edit");
    assert!(
        wait_until(|| target_of(&handle) == 9),
        "an edit after the replacement was not picked up"
    );
}

/// One file, edited in place and then replaced by an editor's atomic save (write a temporary
/// file, rename it over the old one).
#[test]
fn a_single_file_keeps_reloading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, goal_file(5)).expect("write");
    let handle = Arc::new(RuleSetHandle::load(vec![file.clone()]).expect("loads"));
    let _watcher = handle.watch(Duration::from_millis(100)).expect("watch");
    std::fs::write(&file, goal_file(6)).expect("edit");
    assert!(wait_until(|| target_of(&handle) == 6), "an edit in place");
    let saved = dir.path().join(".rules.yaml.swp");
    std::fs::write(&saved, goal_file(8)).expect("write");
    std::fs::rename(&saved, &file).expect("rename over");
    assert!(wait_until(|| target_of(&handle) == 8), "an atomic save");
}

/// `challenges` is a link to a release folder, and a deploy points it at the next release.
#[test]
fn a_symlinked_folder_follows_its_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let release = |name: &str, target: i64| {
        let folder = dir.path().join(name);
        std::fs::create_dir(&folder).expect("mkdir");
        std::fs::write(folder.join("rules.yaml"), goal_file(target)).expect("write");
        folder
    };
    release("release-1", 5);
    let link = dir.path().join("challenges");
    symlink(Path::new("release-1"), &link);
    let handle = Arc::new(RuleSetHandle::load(vec![link.clone()]).expect("loads"));
    let _watcher = handle.watch(Duration::from_millis(100)).expect("watch");

    release("release-2", 6);
    let next = dir.path().join("challenges.next");
    symlink(Path::new("release-2"), &next);
    std::fs::rename(&next, &link).expect("swap the link");
    assert!(
        wait_until(|| target_of(&handle) == 6),
        "the new release was not read"
    );
    std::fs::write(dir.path().join("release-2/rules.yaml"), goal_file(7)).expect("edit");
    assert!(
        wait_until(|| target_of(&handle) == 7),
        "an edit in the new release was not picked up"
    );
}

/// A link to nothing (or an entry that cannot be looked at) is an error, not a file that
/// silently takes its goals away.
#[test]
fn a_dangling_link_is_a_reload_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), goal_file(5)).expect("write");
    let handle = RuleSetHandle::load(vec![dir.path().to_path_buf()]).expect("loads");
    symlink(Path::new("gone.yaml"), &dir.path().join("more.yaml"));
    match handle.reload() {
        ReloadOutcome::Failed(failure) => assert!(
            failure
                .diagnostics
                .iter()
                .any(|d| d.message.contains("dangling")),
            "{failure:?}"
        ),
        other => panic!("a dangling link must fail the reload: {other:?}"),
    }
    assert_eq!(target_of(&handle), 5);
}

/// Removing a goal players hold progress on would drop their progress and unclaimed rewards,
/// and events for it would count for nothing: the reload is refused with a diagnostic that
/// says how to retire it. Retired (kept in the file), the reload goes through; a goal nobody
/// holds can simply go.
#[test]
fn removing_a_goal_in_use_is_refused_and_retiring_it_is_not() {
    let two_goals = |retired: &str| {
        format!(
            "version: 1\nchallenges:\n  - id: c\n    name: C\n    goals:\n      - {{ id: g, name: G, on: stat, stat: kills, target: 5 }}\n      - {{ id: held, name: H, on: stat, stat: kills, target: 5{retired} }}\n      - {{ id: unused, name: U, on: stat, stat: kills, target: 5 }}\n"
        )
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, two_goals("")).expect("write");
    let handle = RuleSetHandle::load(vec![dir.path().to_path_buf()]).expect("loads");
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    handle.check_removed_goals(Arc::new(move |goals: &[engine::GoalId]| {
        log.lock()
            .unwrap()
            .extend(goals.iter().map(|g| g.to_string()));
        Ok(goals
            .iter()
            .filter(|g| g.as_str() == "held")
            .cloned()
            .collect())
    }));

    // Both `held` and `unused` removed: refused, for `held`.
    std::fs::write(&file, goal_file(5)).expect("write");
    match handle.reload() {
        ReloadOutcome::Failed(failure) => {
            let text = format!("{:?}", failure.diagnostics);
            assert!(
                text.contains("E050") || text.contains("RemovedGoalInUse"),
                "{text}"
            );
            let hint = failure.diagnostics[0].hint.clone().unwrap_or_default();
            assert!(hint.contains("retired:"), "{hint}");
            assert_eq!(failure.diagnostics.len(), 1, "only the goal in use");
        }
        other => panic!("removing a goal in use must be refused: {other:?}"),
    }
    assert!(
        handle.current().goal("held").is_some(),
        "the rules in use stay"
    );
    assert_eq!(asked.lock().unwrap().len(), 2);

    // Retired instead, and `unused` (nobody holds it) removed: goes through.
    let retired = "version: 1\nchallenges:\n  - id: c\n    name: C\n    goals:\n      - { id: g, name: G, on: stat, stat: kills, target: 5 }\n      - { id: held, name: H, on: stat, stat: kills, target: 5, retired: 2026-01-01T00:00:00Z }\n";
    std::fs::write(&file, retired).expect("write");
    assert!(matches!(handle.reload(), ReloadOutcome::Swapped));
    assert!(handle.current().goal("unused").is_none());
}
