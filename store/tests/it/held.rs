//! Which goals players hold rows for (`Maintenance::goals_in_use`): asked at every start-up and
//! before a hot reload removes a goal. The answer must come from an index, never from reading
//! the whole progress table: at 1,000,000 players that is gigabytes read, and on PostgreSQL a
//! scan also prunes and rewrites every page it passes, each logged whole after a checkpoint
//! (docs/benchmarks.md, "The archive at 100 %, measured again").

use engine::GoalId;

use crate::support::TestDb;

conformance!(held_goals_are_answered_from_an_index);

/// Players seeded per goal: enough that the planner would read the table for a DISTINCT.
const PLAYERS: usize = 5_000;

async fn held_goals_are_answered_from_an_index(db: &TestDb) {
    let store = db.store().await;
    assert!(
        store.goals_in_use(&[]).await.expect("asked").is_empty(),
        "no rows, no goals"
    );
    db.execute(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PLAYERS}) \
         INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, status, created_at, updated_at) \
         SELECT 'player-' || i, g.goal, 'c', 'demo', 'not_started', '2026-06-10T12:00:00Z', '2026-06-10T12:00:00Z' FROM n \
         CROSS JOIN (SELECT 'wins' AS goal UNION ALL SELECT 'kills' UNION ALL SELECT 'logins') g; \
         ANALYZE"
    ))
    .await;

    let mut held: Vec<String> = store
        .goals_in_use(&[])
        .await
        .expect("asked")
        .iter()
        .map(ToString::to_string)
        .collect();
    held.sort();
    assert_eq!(held, ["kills", "logins", "wins"]);
    let asked = [GoalId::new("wins"), GoalId::new("gone")];
    let held = store.goals_in_use(&asked).await.expect("asked");
    assert_eq!(held, [GoalId::new("wins")], "only the goal with rows");

    let plan = db.plan(store::HELD_GOALS).await;
    let scans: Vec<&String> = plan
        .iter()
        .filter(|line| {
            line.contains("Seq Scan on user_goal_progress")
                || line.trim_start().starts_with("SCAN user_goal_progress")
        })
        .collect();
    assert!(
        scans.is_empty(),
        "the held goals are read from an index, not the table: {scans:?} in\n{}",
        plan.join("\n")
    );
}
