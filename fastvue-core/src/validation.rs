//! Input rules declared on the services' input structs with `#[derive(Validate)]`
//! ([`validator`]), and their errors as today's field errors.
//!
//! The input structs (`NewUser`, `RolePatch`, `NewMenu`, ...) name each field's rule:
//! the crate's own `length`, `range` and `nested` for plain values, and `custom` with
//! the functions below for values that have a domain type, whose parser (in
//! [`crate::domain`]) is the single definition of the rule and also normalises (trims,
//! lower-cases). A service calls `input.validate()?` before anything else reads the input;
//! every bad field is reported at once, as [`Error::Validation`], each with its machine
//! code and parameters ([`Problem`]). The value itself is never echoed (`validator` adds it
//! as a parameter; it may be a password).
use std::borrow::Cow;

use serde_json::{Map, Value};
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::domain::{Codename, CompanyCode, Email, Name, Password, Slug, Username};
use crate::error::{Error, FieldError, Problem};

/// The longest description of a role, group or permission, in characters.
pub const MAX_DESCRIPTION: u64 = 2_000;

impl From<Problem> for ValidationError {
    fn from(problem: Problem) -> Self {
        let mut error = ValidationError::new(problem.code).with_message(problem.message.into());
        for (key, value) in problem.params {
            error.params.insert(Cow::Owned(key), value);
        }
        error
    }
}

impl From<ValidationErrors> for Error {
    fn from(errors: ValidationErrors) -> Self {
        Error::Validation(field_errors(errors))
    }
}

/// The field errors of `errors`, by field name (`a.b` for nested structs, `a[2].b` for
/// lists).
pub fn field_errors(errors: ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    flatten("", errors, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

/// Appends the errors of `errors` (nested structs as `a.b`, lists as `a[2].b`) under
/// `prefix`.
fn flatten(prefix: &str, errors: ValidationErrors, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.0 {
        let path = if prefix.is_empty() {
            field.into_owned()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                out.extend(list.into_iter().map(|e| field_error(&path, e)));
            }
            ValidationErrorsKind::Struct(nested) => flatten(&path, *nested, out),
            ValidationErrorsKind::List(items) => {
                for (index, nested) in items {
                    flatten(&format!("{path}[{index}]"), *nested, out);
                }
            }
        }
    }
}

/// One `validator` error as a field error: its code when it is one of [`Problem`]'s
/// (else `invalid`), its parameters without the value, and its message or one made from
/// the code.
fn field_error(field: &str, e: ValidationError) -> FieldError {
    let code = known_code(&e.code);
    let params: Map<String, Value> = e
        .params
        .into_iter()
        .filter(|(k, _)| k != "value")
        .map(|(k, v)| (k.into_owned(), v))
        .collect();
    let message = match e.message {
        Some(m) => m.into_owned(),
        None => message_of(code, &params),
    };
    FieldError::new(
        field,
        Problem {
            code,
            message,
            params,
        },
    )
}

/// The codes of [`Problem`], as the static strings [`FieldError`] holds.
fn known_code(code: &str) -> &'static str {
    const CODES: [&str; 13] = [
        "required",
        "length",
        "characters",
        "control_characters",
        "format",
        "email",
        "range",
        "too_many",
        "unknown",
        "taken",
        "unknown_field",
        "type",
        "invalid",
    ];
    CODES.into_iter().find(|c| *c == code).unwrap_or("invalid")
}

/// The English message of a built-in rule (`length`, `range`, `too_many`).
fn message_of(code: &str, params: &Map<String, Value>) -> String {
    let min = params.get("min");
    let max = params.get("max");
    match (code, min, max) {
        ("length", Some(min), Some(max)) => format!("must be {min} to {max} characters"),
        ("length", None, Some(max)) => format!("must be at most {max} characters"),
        ("length", Some(min), None) => format!("must be at least {min} characters"),
        ("range", Some(min), Some(max)) => format!("must be between {min} and {max}"),
        ("too_many", _, Some(max)) => format!("at most {max} items"),
        _ => "is invalid".to_owned(),
    }
}

fn rule<T>(parsed: Result<T, Problem>) -> Result<(), ValidationError> {
    parsed.map(drop).map_err(ValidationError::from)
}

/// The value of a field that passed its rule, normalised by its domain type: a parser
/// that refuses it now is reported on the field like any invalid value.
pub(crate) fn normalised<T>(field: &str, parsed: Result<T, Problem>) -> Result<T, Error> {
    parsed.map_err(|p| Error::invalid(field, p))
}

/// Rule of an email address ([`Email::parse`]).
pub fn email(value: &str) -> Result<(), ValidationError> {
    rule(Email::parse(value))
}

/// Rule of a username ([`Username::parse`]).
pub fn username(value: &str) -> Result<(), ValidationError> {
    rule(Username::parse(value))
}

/// Rule of a new password ([`Password::parse`]).
pub fn password(value: &str) -> Result<(), ValidationError> {
    rule(Password::parse(value))
}

/// Rule of a role, group or menu codename ([`Slug::parse`]).
pub fn slug(value: &str) -> Result<(), ValidationError> {
    rule(Slug::parse(value))
}

/// Rule of a company code ([`CompanyCode::parse`]).
pub fn company_code(value: &str) -> Result<(), ValidationError> {
    rule(CompanyCode::parse(value))
}

/// Rule of a permission codename ([`Codename::parse`]).
pub fn codename(value: &str) -> Result<(), ValidationError> {
    rule(Codename::parse(value))
}

/// Rule of a display name of at most 50 characters ([`Name::parse`]).
pub fn name_50(value: &str) -> Result<(), ValidationError> {
    rule(Name::parse(value, 50))
}

/// Rule of a display name of at most 100 characters ([`Name::parse`]).
pub fn name_100(value: &str) -> Result<(), ValidationError> {
    rule(Name::parse(value, 100))
}

/// Rule of a display name of at most 200 characters ([`Name::parse`]).
pub fn name_200(value: &str) -> Result<(), ValidationError> {
    rule(Name::parse(value, 200))
}

/// Rule of an optional display name of at most 200 characters, where blank means none.
pub fn blank_or_name_200(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        Ok(())
    } else {
        name_200(value)
    }
}

#[cfg(test)]
mod tests {
    use validator::Validate;

    use super::*;

    #[derive(Debug, Validate)]
    struct Inner {
        #[validate(custom(function = crate::validation::slug))]
        codename: String,
    }

    #[derive(Debug, Validate)]
    struct Outer {
        #[validate(custom(function = crate::validation::password))]
        password: Option<String>,
        #[validate(length(max = 3))]
        note: String,
        #[validate(range(min = -5, max = 5))]
        order: i32,
        #[validate(length(max = 2, code = "too_many"))]
        items: Vec<u8>,
        #[validate(nested)]
        inner: Vec<Inner>,
    }

    fn errors(outer: &Outer) -> Vec<FieldError> {
        match Error::from(outer.validate().unwrap_err()) {
            Error::Validation(list) => list,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_rule_becomes_a_field_error_with_its_code_and_params_sorted_by_field() {
        let bad = Outer {
            password: Some("short".into()),
            note: "four".into(),
            order: 9,
            items: vec![1, 2, 3],
            inner: vec![
                Inner {
                    codename: "ok".into(),
                },
                Inner {
                    codename: "Not Ok".into(),
                },
            ],
        };
        let list = errors(&bad);
        let fields: Vec<_> = list.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            [
                ("inner[1].codename", "characters"),
                ("items", "too_many"),
                ("note", "length"),
                ("order", "range"),
                ("password", "length"),
            ]
        );
        let note = &list[2];
        assert_eq!(note.message, "must be at most 3 characters");
        assert_eq!(note.params.get("max"), Some(&Value::from(3)));
        assert_eq!(list[1].message, "at most 2 items");
        assert_eq!(list[3].message, "must be between -5 and 5");
        assert_eq!(list[4].message, "must be 8 to 128 characters");
    }

    #[test]
    fn the_value_is_never_a_parameter_of_the_error() {
        let bad = Outer {
            password: Some("hunter2".into()),
            note: "secret-note".into(),
            order: 0,
            items: vec![],
            inner: vec![],
        };
        for e in errors(&bad) {
            assert!(!e.params.contains_key("value"), "{e:?}");
            assert!(!e.message.contains("hunter2") && !e.message.contains("secret"));
        }
    }

    #[test]
    fn an_absent_optional_field_is_not_checked() {
        let ok = Outer {
            password: None,
            note: String::new(),
            order: 0,
            items: vec![],
            inner: vec![],
        };
        assert!(ok.validate().is_ok());
    }
}
