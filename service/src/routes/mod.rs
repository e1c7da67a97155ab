//! REST routes under `BASE_PATH`. Handlers only extract, authorize and call a use-case.

mod admin;
mod backfill;
mod challenges;
mod console;
mod events;
mod selection;
mod status;
mod support;
mod users;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts};

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(challenges::router())
        .merge(selection::router())
        .merge(users::router())
        .merge(events::router())
        .merge(status::router())
        .merge(admin::router())
        .merge(console::router())
        .merge(support::router())
        .route(
            "/v1/admin/rules/backfill",
            axum::routing::post(backfill::backfill),
        )
        .route("/apidocs/api.json", axum::routing::get(openapi))
        .route("/apidocs", axum::routing::get(to_swagger_ui))
        .route("/apidocs/", axum::routing::get(swagger_ui_index))
        .route("/apidocs/{*file}", axum::routing::get(swagger_ui_file))
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
        users::delete_my_data,
        events::events,
        status::rules,
        status::healthz,
        admin::lint,
        admin::simulate,
        admin::explain_player,
        admin::player_challenges,
        admin::player_timeline,
        console::overview,
        console::replay,
        support::progress,
        support::grant,
        support::bulk_progress,
        support::bulk_grant,
        support::audit,
        backfill::backfill,
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

/// The Swagger UI's settings: the document relative to the page, so it works under any
/// `BASE_PATH` and behind any proxy prefix.
static SWAGGER_UI: std::sync::LazyLock<std::sync::Arc<utoipa_swagger_ui::Config<'static>>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(utoipa_swagger_ui::Config::new(["api.json"])));

/// `{BASE_PATH}/apidocs` → `apidocs/` (relative: the page's assets are relative to the folder).
async fn to_swagger_ui() -> axum::response::Redirect {
    axum::response::Redirect::permanent("apidocs/")
}

async fn swagger_ui_index() -> Result<axum::response::Response, ApiError> {
    swagger_ui("index.html")
}

async fn swagger_ui_file(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Result<axum::response::Response, ApiError> {
    swagger_ui(&file)
}

/// One file of the Swagger UI, compiled into the binary (no CDN, no network).
fn swagger_ui(file: &str) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    match utoipa_swagger_ui::serve(file, SWAGGER_UI.clone()) {
        Ok(Some(found)) => Ok((
            [(axum::http::header::CONTENT_TYPE, found.content_type)],
            found.bytes.into_owned(),
        )
            .into_response()),
        Ok(None) => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no file apidocs/{file}"),
        )),
        Err(err) => {
            tracing::error!(error = %err, file, "serving the Swagger UI");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
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
