//! `POST /v1/admin/rules/backfill`: replay that fixes the data (`usecases::backfill`), with a
//! reason on record for every change it writes.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use store::ArchiveWindow;

use super::ApiJson;
use crate::app::AppState;
use crate::auth::SupportCaller;
use crate::error::ApiError;
use crate::json::backfill::BackfillAnswer;
use crate::usecases::backfill::{BackfillRequest, checked_rate, run};
use crate::usecases::designers::Draft;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BackfillBody {
    /// Why: kept in the audit entry of every change (required, 1 to 2,000 characters).
    #[serde(default)]
    reason: String,
    /// Only find the changes (default false: apply them).
    #[serde(default)]
    dry_run: bool,
    /// Replay events that happened at or after this time (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    from: Option<DateTime<Utc>>,
    /// Replay events that happened before this time (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    to: Option<DateTime<Utc>>,
    /// A dry run only: an edited file's text, replayed instead of the deployed one of
    /// `fileName` (the other deployed files stay).
    #[serde(default)]
    rules: Option<String>,
    #[serde(default)]
    file_name: Option<String>,
    /// Changes written per second (1 to 10,000; default 200), so live traffic keeps its latency.
    #[serde(default)]
    rate: Option<u32>,
}

/// Replays the event archive under the deployed rules (or an edit, dry run only) and raises
/// every player's goal whose stored progress is below what the replay gives, one audit entry
/// (action `backfill`) each. Never lowers progress, never touches a claimed goal; running it
/// again finds nothing.
#[utoipa::path(post, path = "/v1/admin/rules/backfill", tag = "support", request_body = BackfillBody,
    responses((status = 200, body = BackfillAnswer), (status = 400, body = crate::error::ErrorJson),
        (status = 403, body = crate::error::ErrorJson), (status = 429, body = crate::error::ErrorJson)))]
pub(super) async fn backfill(
    State(state): State<AppState>,
    caller: SupportCaller,
    ApiJson(body): ApiJson<BackfillBody>,
) -> Result<Json<BackfillAnswer>, ApiError> {
    let draft = match (body.rules, body.file_name) {
        (None, None) => None,
        (Some(text), Some(name)) => Some(Draft {
            text,
            file_name: Some(name),
            with_deployed: true,
        }),
        _ => {
            return Err(ApiError::new(
                crate::error::ErrorCode::ValidationFailed,
                "`rules` and `fileName` go together: the edited file's text and its name",
            ));
        }
    };
    let request = BackfillRequest {
        actor: &caller.actor,
        reason: &body.reason,
        dry_run: body.dry_run,
        window: ArchiveWindow {
            from: body.from,
            to: body.to,
        },
        rate: checked_rate(body.rate)?,
    };
    let done = run(&state.context, &request, draft).await?;
    Ok(Json(done.into()))
}
