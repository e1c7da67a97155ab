//! REST routes under `BASE_PATH`. Handlers only extract, authorize and call a use-case.

mod challenges;
mod selection;
mod system;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts};

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(challenges::router())
        .merge(selection::router())
        .merge(system::router())
        .route("/apidocs/api.json", axum::routing::get(openapi))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
}

/// The OpenAPI document of every route above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Challenge Engine API",
        description = "Player challenges, goals and rewards (compatible with the Extend Challenge reference clients)."
    ),
    paths(
        challenges::list,
        challenges::one,
        challenges::initialize,
        challenges::rotation,
        challenges::explain,
        challenges::claim_goal,
        selection::set_active,
        selection::batch_select,
        selection::random_select,
        system::delete_my_data,
        system::events,
        system::rules,
        system::healthz,
    ),
    components(schemas(crate::error::ErrorJson))
)]
pub struct ApiDoc;

async fn openapi(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<utoipa::openapi::OpenApi> {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    // Paths are relative to BASE_PATH; say so, so generated clients call the right URLs.
    doc.servers = Some(vec![utoipa::openapi::Server::new(
        if state.base_path.is_empty() {
            "/"
        } else {
            state.base_path.as_str()
        },
    )]);
    axum::Json(doc)
}

/// Checks a request body's declared rules (`validator`), answering VALIDATION_FAILED with the
/// fields that broke them.
pub(crate) fn validated<T: validator::Validate>(body: T) -> Result<T, ApiError> {
    body.validate()
        .map_err(|errors| ApiError::new(ErrorCode::ValidationFailed, errors.to_string()))?;
    Ok(body)
}

/// `Json` whose rejections answer in the API's error shape (VALIDATION_FAILED).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::new(ErrorCode::ValidationFailed, rejection.body_text())
    }
}

/// `Query` whose rejections answer in the API's error shape (VALIDATION_FAILED).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::new(ErrorCode::ValidationFailed, rejection.body_text())
    }
}

/// Unknown routes answer in the API's error shape.
pub(crate) async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route {}", uri.path()))
}

/// A known route called with a method it does not serve.
async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not serve {method}", uri.path()),
    )
}
