//! Reading request input into typed values, with API.md's error statuses.
//!
//! - [`json_body`]: 413 over [`MAX_BODY_BYTES`]; 400 `bad_request` for a non-JSON
//!   content type, an empty body or malformed JSON; 422 `validation_error` for a wrong
//!   type, a missing field or an unknown field (write DTOs are
//!   `#[serde(deny_unknown_fields)]`), with `details: [{field, message}]`.
//! - [`query`]: 400 `bad_request` with `details[field]` for a value of the wrong type.
//!   Query structs do NOT deny unknown fields: a list handler parses [`PageQuery`] and its
//!   own filter struct from the same query string (`query::<PageQuery>(req)?` then
//!   `query::<UserFilters>(req)?`); never `#[serde(flatten)]` them (flatten turns every
//!   number into a string).
//! - [`path_id`]: 400 `bad_request` unless the parameter is a positive integer (an id
//!   that is well-formed but unknown is the handler's 404).
use fastvue_core::error::{FieldError, Problem};
use fastvue_core::pagination::{CursorRequest, PageRequest};
use salvo::http::ParseError;
use salvo::prelude::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body accepted, in bytes (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads the JSON body: 413 over 1 MiB, 400 `bad_request` malformed JSON / wrong content,
/// 422 `validation_error` for a wrong type, a missing field or an unknown field (details[field]).
pub async fn json_body<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    if let Some(mime) = req.content_type() {
        let json = mime.subtype() == salvo::http::mime::JSON
            || mime.suffix() == Some(salvo::http::mime::JSON);
        if !json {
            return Err(ApiError::bad_request(
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
    }
    let bytes = req
        .payload_with_max_size(MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            ParseError::PayloadTooLarge => ApiError::payload_too_large(),
            _ => ApiError::bad_request("the request body could not be read"),
        })?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    parse_json(bytes)
}

/// Deserializes a JSON document, classifying the failure (see [`json_body`]).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = without_position(&inner.to_string());
                let field = field_name(&path, &message);
                ApiError::unprocessable(
                    "the request body is invalid",
                    vec![FieldError::new(field, json_problem(message))],
                )
            }
            _ => ApiError::bad_request(format!(
                "malformed JSON: {}",
                without_position(&inner.to_string())
            )),
        }
    })?;
    de.end().map_err(|_| {
        ApiError::bad_request("malformed JSON: trailing characters after the value")
    })?;
    Ok(value)
}

/// Parses the query string into T: 400 `bad_request` with details[field] on a bad value.
pub fn query<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    parse_query(req.uri().query().unwrap_or_default())
}

/// Deserializes a raw query string (see [`query`]).
pub fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = field_name(&path, &message);
        ApiError::bad_request("a query parameter is invalid")
            .with_details(vec![FieldError::new(field, json_problem(message))])
    })
}

/// A path parameter as a positive i64: 400 `bad_request` otherwise.
pub fn path_id(req: &Request, name: &str) -> Result<i64, ApiError> {
    req.params()
        .get(name)
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!("`{name}` must be a positive integer")).with_details(
                vec![FieldError::new(
                    name,
                    Problem::new("type", "must be a positive integer"),
                )],
            )
        })
}

/// `?page=&page_size=` of every list route.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1 (default 1).
    #[param(minimum = 1)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
}

impl PageQuery {
    /// The validated page request: 422 `validation_error` for page 0 or page_size over 100.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        PageRequest::new(self.page, self.page_size).map_err(ApiError::from)
    }
}

/// `?cursor=` of the lists that scroll (users, a company's users, audit logs).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CursorQuery {
    /// Keyset pagination instead of `page`: empty for the first page, then the previous
    /// page's `next_cursor`. The answer is `{items, page_size, next_cursor}` (no total);
    /// a page costs the same however deep, and rows written meanwhile never shift it.
    pub cursor: Option<String>,
}

/// How a list that scrolls is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `?page=&page_size=` (the default).
    Numbered(PageRequest),
    /// `?cursor=&page_size=`.
    Scrolled(CursorRequest),
}

/// Reads `page`, `page_size` and `cursor`: 422 `validation_error` for a bad value or for
/// `page` and `cursor` together.
pub fn paging(req: &Request) -> Result<Paging, ApiError> {
    let page = query::<PageQuery>(req)?;
    match query::<CursorQuery>(req)?.cursor {
        None => Ok(Paging::Numbered(page.page()?)),
        Some(_) if page.page.is_some() => {
            Err(fastvue_core::Error::Validation(vec![FieldError::new(
                "page",
                "cannot be combined with cursor",
            )])
            .into())
        }
        Some(cursor) => Ok(Paging::Scrolled(CursorRequest::new(
            &cursor,
            page.page_size,
        )?)),
    }
}

/// serde_json appends ` at line L column C`; clients need only the reason.
/// serde's message about a body's field as a [`Problem`]: a missing field is
/// `required`, an unknown one `unknown_field`, a value of another JSON type `type`, any
/// other refused value `invalid`.
fn json_problem(message: String) -> Problem {
    let code = if message.starts_with("missing field") {
        "required"
    } else if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("invalid type") {
        "type"
    } else {
        "invalid"
    };
    Problem::new(code, message)
}

fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The field a deserialization error is about: the error path, extended by the name in
/// "missing field `x`" / "unknown field `x`" (serde reports those on the parent).
fn field_name(path: &str, message: &str) -> String {
    let path = if path == "." { "" } else { path };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match named {
        Some(name) if !path.ends_with(name) => {
            if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            }
        }
        _ if path.is_empty() => "body".to_string(),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Dto {
        email: String,
        age: u32,
        tags: Option<Vec<String>>,
    }

    fn err<T: DeserializeOwned + std::fmt::Debug>(json: &str) -> ApiError {
        parse_json::<T>(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_valid_body_parses() {
        let dto: Dto = parse_json(br#"{"email": "a@b.c", "age": 3, "tags": ["x"]}"#).unwrap();
        assert_eq!((dto.email.as_str(), dto.age), ("a@b.c", 3));
        assert_eq!(dto.tags, Some(vec!["x".to_string()]));
    }

    #[test]
    fn malformed_json_is_bad_request() {
        let e = err::<Dto>("{\"email\": ");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = err::<Dto>("{\"email\": \"a\", \"age\": 1} x");
        assert_eq!(e.code(), "bad_request");
    }

    #[test]
    fn data_errors_are_422_naming_the_field() {
        for (json, field) in [
            (r#"{"email": "a"}"#, "age"),
            (r#"{"email": "a", "age": "x"}"#, "age"),
            (r#"{"email": "a", "age": 1, "admin": true}"#, "admin"),
            (r#"{"email": "a", "age": 1, "tags": ["x", 2]}"#, "tags[1]"),
            ("1", "body"),
        ] {
            let e = err::<Dto>(json);
            assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY, "{json}");
            assert_eq!(e.details()[0].field, field, "{json}");
            assert!(!e.details()[0].message.contains("line"), "{json}");
        }
    }

    #[test]
    fn query_values_of_the_wrong_type_name_the_field() {
        let ok: PageQuery = parse_query("page=2&page_size=5&other=x").unwrap();
        assert_eq!((ok.page, ok.page_size), (Some(2), Some(5)));
        let e = parse_query::<PageQuery>("page=abc").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.details()[0].field, "page");
    }

    #[test]
    fn page_bounds_are_validation_errors() {
        let q = PageQuery {
            page: Some(0),
            page_size: Some(101),
        };
        assert_eq!(
            q.page().unwrap_err().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert!(PageQuery::default().page().is_ok());
    }
}
