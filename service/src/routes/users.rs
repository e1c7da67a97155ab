//! A player's own data: GDPR self-deletion.

use axum::extract::State;
use axum::routing::delete;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/users/me/data", delete(delete_my_data))
}

#[utoipa::path(delete, path = "/v1/users/me/data", tag = "users",
    responses((status = 200, description = "`{userId, rowsDeleted}`"), (status = 429, body = crate::error::ErrorJson)))]
pub(super) async fn delete_my_data(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Value>, ApiError> {
    // At most once a minute per user: the entry is fresh only for the first call in the window.
    let entry = state.gdpr_limiter.entry(user.to_string()).or_insert(());
    if !entry.is_fresh() {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "data deletion is allowed once a minute; try again later",
        ));
    }
    let rows = state
        .events
        .maintenance
        .delete_user(&user, state.context.clock.now())
        .await?;
    tracing::info!(user_id = %user, rows, "GDPR self-deletion");
    Ok(Json(
        json!({ "userId": user.as_str(), "rowsDeleted": rows }),
    ))
}
