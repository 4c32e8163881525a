//! The documented shape of every error response, [`ErrorBody`]: the OpenAPI schemas
//! (`ErrorBody`, `ErrorInfo`, `FieldErrorBody`) that route modules name in their
//! `responses(...)` and that [`crate::openapi`] lists among the document's components.
//! The body itself is written by [`crate::error::ApiError`].
//!
//! A module of its own, so that route modules need not import [`crate::openapi`], which
//! lists every route module.
use serde::Serialize;
use utoipa::ToSchema;

/// Every error response: `{"error": {code, message, details, request_id}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorInfo,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorInfo {
    /// Machine-readable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `validation_error`, `payload_too_large`, `rate_limited`, ...
    #[schema(example = "validation_error")]
    pub code: String,
    /// What went wrong, for a person to read.
    pub message: String,
    /// The offending fields (may be empty).
    pub details: Vec<FieldErrorBody>,
    /// The `X-Request-ID` of the request.
    pub request_id: Option<String>,
}

/// One offending field of an [`ErrorInfo`].
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// The field as the client sent it (`email`, `permissions[2]`).
    pub field: String,
    /// What is wrong, for a program (a UI translating it): `required`, `length`,
    /// `characters`, `control_characters`, `format`, `email`, `range`, `too_many`,
    /// `unknown`, `taken`, `unknown_field`, `type` or `invalid`.
    #[schema(example = "length")]
    pub code: String,
    /// What is wrong with it, in English.
    pub message: String,
    /// The values the message names, by code: `length` and `range` `min`/`max`,
    /// `characters` `allowed` (a character class), `format` `expected` (a pattern),
    /// `too_many` `max`, `unknown` `value` (and `allowed`, a list, when short).
    #[schema(value_type = std::collections::BTreeMap<String, serde_json::Value>, example = json!({"min": 2, "max": 100}))]
    pub params: serde_json::Map<String, serde_json::Value>,
}
