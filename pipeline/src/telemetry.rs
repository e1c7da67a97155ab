//! Telemetry and process plumbing shared by both binaries: JSON logs and the shutdown signal
//! (the Prometheus metrics are in `metrics`).

/// JSON log lines filtered by `level` (`LOG_LEVEL`: a level or a tracing directive), one
/// object per line in the deployment specification's format:
/// `{"timestamp":"2026-11-28T10:30:00.123Z","level":"info","message":"event processed",
/// "event_id":"…","user_id":"…","duration_ms":15,"target":"handler::grpc"}`.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .event_format(SpecJson)
        .with_env_filter(filter)
        .init();
}

/// Formats an event as one flat JSON object: timestamp, lowercase level, message, the event's
/// fields, target.
pub struct SpecJson;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for SpecJson
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let metadata = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.message.take().unwrap_or_else(|| "".into());
        let mut line = String::with_capacity(256);
        let mut put = |key: &str, value: &serde_json::Value| {
            line.push(if line.is_empty() { '{' } else { ',' });
            line.push_str(&serde_json::Value::String(key.into()).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        };
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        put("timestamp", &timestamp.into());
        put(
            "level",
            &metadata.level().as_str().to_ascii_lowercase().into(),
        );
        put("message", &message);
        for (key, value) in &fields.values {
            put(key, value);
        }
        put("target", &metadata.target().into());
        writeln!(writer, "{line}}}")
    }
}

/// Collects an event's fields in order as JSON values (numbers and booleans stay typed).
#[derive(Default)]
struct Fields {
    message: Option<serde_json::Value>,
    values: Vec<(&'static str, serde_json::Value)>,
}

impl Fields {
    fn put(&mut self, field: &tracing::field::Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.values.push((field.name(), value));
        }
    }
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        self.put(field, chain(value).into());
    }
}

/// Resolves on SIGTERM (Kubernetes, Extend) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// An error with its causes, `outer: inner: root` (how `error = &err as &dyn Error` is logged).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their cause in their own message; say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::SpecJson;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_are_flat_json_in_the_specified_format() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(SpecJson)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                event_id = "550e8400",
                user_id = "abc123",
                namespace = "mygame",
                duration_ms = 15_u64,
                ok = true,
                "Event processed"
            );
        });
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with(r#"{"timestamp":""#)
                && text.contains(
                    r#"Z","level":"info","message":"Event processed","event_id":"550e8400""#
                ),
            "the specification's key order: {text}"
        );
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("JSON");
        assert_eq!(line["level"], "info");
        assert_eq!(line["message"], "Event processed");
        assert_eq!(line["event_id"], "550e8400");
        assert_eq!(line["user_id"], "abc123");
        assert_eq!(line["namespace"], "mygame");
        assert_eq!(line["duration_ms"], 15);
        assert_eq!(line["ok"], true);
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'),
            "{timestamp}"
        );
    }

    #[test]
    fn an_error_is_logged_with_its_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("the event was not committed")]
        struct Outer(#[source] std::io::Error);
        let err = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            super::chain(&err),
            "the event was not committed: connection refused"
        );
    }
}
