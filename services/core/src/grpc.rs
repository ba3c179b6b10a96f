//! How every minhu gRPC API refuses a request that breaks its rules: INVALID_ARGUMENT with a
//! google.rpc.BadRequest naming each broken field, so that a client can show every problem next
//! to its field without parsing the message.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One broken rule of a request: the path of the field (`petition.attachments[2].digest`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl<F: Into<String>, D: Into<String>> From<(F, D)> for FieldViolation {
    fn from((field, description): (F, D)) -> Self {
        FieldViolation::new(field, description)
    }
}

/// The violation as an item of a stream answers it (`SubmitError.field_violations`).
impl From<FieldViolation> for minhu_contracts::v1::FieldViolation {
    fn from(v: FieldViolation) -> Self {
        minhu_contracts::v1::FieldViolation {
            field: v.field,
            description: v.description,
        }
    }
}

/// The message of the refusal: `the request is invalid: field: description; field2: …`. Also
/// what an error holding the violations displays, so that a log reads as the caller's answer.
pub fn invalid_message(violations: &[FieldViolation]) -> String {
    let named: Vec<String> = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect();
    format!("the request is invalid: {}", named.join("; "))
}

/// INVALID_ARGUMENT with every violation, in order, in the message and in a BadRequest. A
/// violation is a [`FieldViolation`] or a `(field, description)` pair.
pub fn invalid_argument<V: Into<FieldViolation>>(
    violations: impl IntoIterator<Item = V>,
) -> Status {
    let violations: Vec<FieldViolation> = violations.into_iter().map(Into::into).collect();
    let message = invalid_message(&violations);
    let details = ErrorDetails::with_bad_request(
        violations
            .into_iter()
            .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_is_named_in_the_message_and_the_details() {
        let status =
            invalid_argument([("name", "required"), ("burst", "at least rate_per_second")]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "the request is invalid: name: required; burst: at least rate_per_second"
        );
        let named: Vec<_> = status
            .get_details_bad_request()
            .expect("a BadRequest")
            .field_violations
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect();
        assert_eq!(
            named,
            [
                ("name".to_owned(), "required".to_owned()),
                ("burst".to_owned(), "at least rate_per_second".to_owned()),
            ]
        );
    }
}
