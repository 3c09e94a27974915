/// A storage failure, mapped once from the driver's error by each adapter.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The requested row does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness, foreign-key or check constraint refused the write.
    #[error("constraint {constraint} refused the write")]
    Conflict {
        /// The constraint's name (constraints are named in the migrations).
        constraint: String,
    },
    /// The database cannot be reached or is shutting down; the call may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Stored data that does not parse into the domain (a bug or a hand edit).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => match db.constraint() {
                Some(c) => StoreError::Conflict {
                    constraint: c.to_owned(),
                },
                None if db.is_unique_violation() || db.is_foreign_key_violation() => {
                    StoreError::Conflict {
                        constraint: db.message().to_owned(),
                    }
                }
                None => StoreError::Other(anyhow::Error::new(sqlx::Error::Database(db))),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(anyhow::Error::new(e)),
            other => StoreError::Other(anyhow::Error::new(other)),
        }
    }
}

impl From<fincrm_domain::ValidationError> for StoreError {
    fn from(e: fincrm_domain::ValidationError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
