//! The handler's part of the run: the raw upsert's ceiling, the gRPC floor, events flat out
//! and at fixed rates.

use super::*;

impl Run {
    /// The raw ceiling of the event path's writes: the rows three goals per event touch, as
    /// plain `INSERT … ON CONFLICT DO UPDATE` batches of 500 events, 2 statements in flight.
    async fn upsert_ceiling(&mut self, pool: &sqlx::PgPool) -> Result<f64> {
        let events: u64 = 100_000;
        let pool_for_calls = pool.clone();
        let batch = 500u64;
        let next = Arc::new(AtomicU64::new(0));
        let cpu = Self::meter(&[]).start();
        let batches = events / batch;
        let outcome = closed_loop(2, Duration::from_secs(600), Some(batches), move |_| {
            let (pool, next) = (pool_for_calls.clone(), next.clone());
            async move {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                bench::raw_upsert_batch(&pool, b, batch, 10_000, &["total", "sum", "filtered"])
                    .await
                    .map_err(|err| err.to_string())
            }
        })
        .await;
        // Each call wrote (or failed to write) one batch; the table counts events. Failed
        // batches stay in the row's note.
        let outcome = Outcome {
            ok: outcome.ok * batch,
            failed: outcome.failed * batch,
            latencies: Vec::new(),
            ..outcome
        };
        let row = Row::new(
            "ceiling: raw batched upsert, 3 rows per event (sqlx, 500 events per statement)",
            &outcome,
            &cpu.stop(),
        );
        let rate = row.throughput;
        self.report.push(row);
        sqlx::query("TRUNCATE user_goal_progress")
            .execute(pool)
            .await?;
        Ok(rate)
    }

    /// Progress rows inserted or updated so far (PostgreSQL's statistics, which a backend
    /// reports within a second of its commits): what an event cost depends on how many rows it
    /// changes, and that depends on the players' history.
    pub(super) async fn rows_written(pool: &sqlx::PgPool) -> Result<i64> {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(sum(n_tup_ins + n_tup_upd), 0)::bigint FROM pg_stat_user_tables \
             WHERE relname = 'user_goal_progress'",
        )
        .fetch_one(pool)
        .await?)
    }

    /// Notes on `row` the progress rows its events wrote, per event, since `rows`, and moves
    /// `rows` on to the count now.
    pub(super) async fn rows_per_event(
        row: Row,
        outcome: &Outcome,
        pool: &sqlx::PgPool,
        rows: &mut i64,
    ) -> Result<Row> {
        let now = Self::rows_written(pool).await?;
        let written = now - std::mem::replace(rows, now);
        Ok(row.noted(format!(
            "{:.2} rows written per event",
            written as f64 / outcome.ok.max(1) as f64
        )))
    }

    pub(super) async fn handler(&mut self) -> Result<()> {
        let url = bench::fresh_database(&self.args.server.url, DATABASE_EVENTS).await?;
        let store = store::PgStore::connect(&url, 4).await?;
        store.migrate().await?;
        let ceiling = self.upsert_ceiling(store.pool()).await?;
        let (grpc, metrics) = (free_port()?, free_port()?);
        let env = self.env(&url, "challenges", grpc, 0, metrics);
        let handler = self.start_handler(&env, metrics).await?;
        let target = format!("http://127.0.0.1:{grpc}");
        let sender =
            EventSender::connect(&target, 4, EventMix::examples(20_000, &self.run)).await?;
        let send = {
            let sender = sender.clone();
            move |n| {
                let sender = sender.clone();
                async move { sender.send(n).await }
            }
        };
        // Every player of the mix has played before (their rows exist, as in a live game),
        // then a warm-up: connections, caches, the database's plans (neither measured).
        let users = sender.users();
        let seeded = closed_loop(256, Duration::from_secs(600), Some(users), {
            let sender = sender.clone();
            move |user| {
                let sender = sender.clone();
                async move { sender.returning(user).await }
            }
        })
        .await;
        ensure_all("seeding the returning players", &seeded)?;
        closed_loop(256, Duration::from_secs(3), None, {
            let send = send.clone();
            move |n| send(u64::MAX / 2 + n)
        })
        .await;
        // The transport's floor: a call that does nothing, through the same server stack.
        let cpu = Self::meter(&[&handler]).start();
        let outcome = closed_loop(256, self.seconds(), None, {
            let sender = sender.clone();
            move |n| {
                let sender = sender.clone();
                async move { sender.check(n).await }
            }
        })
        .await;
        let floor = Row::new(
            "ceiling: gRPC floor, a no-op unary call (health Check, 256 in flight)",
            &outcome,
            &cpu.stop(),
        );
        let floor_cpu = floor.cpu("handler").unwrap_or(f64::NAN);
        self.report.push(floor);
        let mut offset = 0;
        let mut rows = Self::rows_written(store.pool()).await?;
        let cpu = Self::meter(&[&handler]).start();
        let in_flight = self.args.in_flight.max(1);
        let outcome = closed_loop(in_flight, self.seconds(), None, {
            let send = send.clone();
            move |n| send(n)
        })
        .await;
        offset += outcome.ok + outcome.failed;
        let mut row = Row::new(
            &format!("handler: events flat out (gRPC, {in_flight} in flight)"),
            &outcome,
            &cpu.stop(),
        )
        .against("raw upsert", ceiling);
        if let Some(per_event) = row.cpu("handler") {
            row = row.noted(format!(
                "handler CPU {:.1}× a no-op call's ({floor_cpu:.0} µs)",
                per_event / floor_cpu
            ));
        }
        let row = Self::rows_per_event(row, &outcome, store.pool(), &mut rows).await?;
        self.report.push(row);
        // The same, from players the handler has never seen: each one's first events create
        // their `assign: auto` rows (docs/storage.md, "The event writer", step 4).
        let newcomers = EventSender::connect(
            &target,
            4,
            EventMix {
                user_prefix: "new-user-".into(),
                // Event ids of their own: the same ids as the run above would be redeliveries.
                ..EventMix::examples(20_000, &format!("{}-new", self.run))
            },
        )
        .await?;
        let cpu = Self::meter(&[&handler]).start();
        let outcome = closed_loop(in_flight, self.seconds(), None, {
            let newcomers = newcomers.clone();
            move |n| {
                let newcomers = newcomers.clone();
                async move { newcomers.send(n).await }
            }
        })
        .await;
        let row = Row::new(
            &format!("handler: new players' events flat out (gRPC, {in_flight} in flight)"),
            &outcome,
            &cpu.stop(),
        )
        .against("raw upsert", ceiling);
        let row = Self::rows_per_event(row, &outcome, store.pool(), &mut rows).await?;
        self.report.push(row);
        // `rows_per_event` leaves `rows` at the count after each row's events.
        for rate in [2_500.0, 5_000.0] {
            let cpu = Self::meter(&[&handler]).start();
            let base = offset;
            let outcome = open_loop(rate, self.seconds(), 2048, {
                let send = send.clone();
                move |n| send(base + n)
            })
            .await;
            offset += outcome.ok + outcome.failed;
            let mut row = Row::new(
                &format!("handler: events at {rate:.0}/s"),
                &outcome,
                &cpu.stop(),
            );
            if row.throughput < rate * 0.95 {
                row = row.noted(format!("target {rate:.0}/s not reached"));
            }
            let row = Self::rows_per_event(row, &outcome, store.pool(), &mut rows).await?;
            self.report.push(row);
        }
        handler.stop().await?;
        store.pool().close().await;
        Ok(())
    }
}
