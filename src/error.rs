//! The one error type of the application. The web layer maps it to a page or to JSON in one place
//! (`web::error`); 5xx causes are logged there and never shown.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Absent, or out of the caller's scope: both answer 404 so that existence does not leak.
    #[error("not found")]
    NotFound,
    /// The caller's role does not allow this kind of page or action at all.
    #[error("forbidden")]
    Forbidden,
    /// Bad input; the message is French and shown to the user. Nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with existing data (duplicate name…); French message.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(e.into())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// True when a database error is a unique-constraint violation (both backends).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("23505") | Some("2067") | Some("1555"))
                || d.message().contains("UNIQUE constraint failed")
                || d.message().contains("duplicate key value")
        }
        _ => false,
    }
}
