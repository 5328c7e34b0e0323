//! The OpenAPI description of the REST API, kept by hand beside the routes (tests/rest.rs checks that
//! it names exactly the routes of [`super::ROUTES`] and that each of those answers).

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
