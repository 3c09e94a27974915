use std::borrow::Cow;

/// An input that could not be parsed into a domain type, naming the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The field (or column) that was wrong, e.g. `id_number`.
    pub field: Cow<'static, str>,
    /// Why it was rejected, in words a user can act on. Never contains the rejected value when
    /// the value is personal information.
    pub reason: Cow<'static, str>,
}

impl ValidationError {
    /// Builds an error for `field` with `reason`.
    pub fn new(field: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Returns the same error attributed to another field name (e.g. a source column).
    #[must_use]
    pub fn in_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = field.into();
        self
    }
}
