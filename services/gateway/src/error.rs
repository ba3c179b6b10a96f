//! The gateway's errors, mapped to gRPC in one place: the caller's fault (INVALID_ARGUMENT with
//! field violations, ALREADY_EXISTS), try again (UNAVAILABLE), or our bug (INTERNAL, details
//! logged, not sent).

use minhu_contracts::v1 as pb;
use minhu_core::grpc::{FieldViolation, invalid_argument, invalid_message};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<FieldViolation>),
    #[error(
        "channel_message_id {0:?} was already used for a different petition; \
         use a new id for a new petition"
    )]
    ReusedMessageId(String),
    #[error(
        "the petition could not be stored now (the bus is unavailable); retry with the same channel_message_id"
    )]
    Unavailable(#[source] async_nats::Error),
    #[error("internal error")]
    Internal(#[source] async_nats::Error),
    #[error("this channel is submitting faster than its limit; retry after {0:?}")]
    RateLimited(std::time::Duration),
}

impl IntakeError {
    pub fn code(&self) -> Code {
        match self {
            IntakeError::Invalid(_) => Code::InvalidArgument,
            IntakeError::ReusedMessageId(_) => Code::AlreadyExists,
            IntakeError::Unavailable(_) => Code::Unavailable,
            IntakeError::Internal(_) => Code::Internal,
            IntakeError::RateLimited(_) => Code::ResourceExhausted,
        }
    }

    /// The `outcome` label of the intake metrics and the channel figures.
    pub fn outcome(&self) -> &'static str {
        match self {
            IntakeError::Invalid(_) => "invalid",
            IntakeError::ReusedMessageId(_) => "conflict",
            IntakeError::Unavailable(_) => "unavailable",
            IntakeError::Internal(_) => "internal",
            IntakeError::RateLimited(_) => "rate_limited",
        }
    }

    /// The answer for a unary call.
    pub fn to_status(&self) -> Status {
        match self {
            IntakeError::Invalid(violations) => invalid_argument(violations.iter().cloned()),
            IntakeError::RateLimited(wait) => Status::with_error_details(
                Code::ResourceExhausted,
                self.to_string(),
                ErrorDetails::with_retry_info(Some(*wait)),
            ),
            _ => Status::new(self.code(), self.to_string()),
        }
    }

    /// The answer for one item of a SubmitStream.
    pub fn to_submit_error(&self) -> pb::SubmitError {
        let field_violations = match self {
            IntakeError::Invalid(violations) => {
                violations.iter().cloned().map(Into::into).collect()
            }
            _ => Vec::new(),
        };
        pb::SubmitError {
            code: self.code() as i32,
            message: self.to_string(),
            field_violations,
        }
    }
}

/// An answer for a fault of minhu's own: the detail goes to the log, not to the caller.
pub(crate) fn internal(what: &str, e: async_nats::Error) -> Status {
    tracing::error!(error = %e, "{what}");
    Status::internal("internal error")
}
