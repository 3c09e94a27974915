//! Import from core banking: CSV extracts, read through a mapping, loaded in atomic,
//! idempotent batches with a reject file and a data-quality report.
//!
//! The guarantees, and how they are kept:
//! - **Atomic per batch.** Each batch of records is written in one database transaction together
//!   with a marker row naming its source and number; a killed import leaves whole batches only.
//! - **Idempotent.** Rows are keyed by the bank's identifiers and written as upserts (or
//!   insert-if-absent for immutable facts), so importing the same file twice changes nothing; a
//!   re-run skips batches whose markers exist and completes the rest.
//! - **Nothing lost silently.** A record that fails validation, or refers to a customer or
//!   account that is not there, goes to the reject file with its record number, column and
//!   reason, and the summary counts it.
//!
//! fincrm's own CSV layout is one more mapping ([`plain_mapping`]), so the demo bank's files and a
//! bank's extract go through the same code.

mod fields;
mod mapping;
mod parse;
mod run;

pub use fields::{FieldType, RecordKind};
pub use mapping::{FileMapping, Mapping, MappingError, MappingToml};
pub use parse::{ColumnQuality, FieldError, FileQuality, Parsed};
pub use run::{FileReport, ImportError, ImportOptions, ImportReport, NoProgress, Progress, import};

/// The mapping of fincrm's own CSV layout (what `fincrm demo --out` writes).
pub const PLAIN_MAPPING_TOML: &str = include_str!("plain_mapping.toml");

/// fincrm's own CSV layout as a compiled mapping.
pub fn plain_mapping() -> Mapping {
    Mapping::from_toml(PLAIN_MAPPING_TOML).expect("the built-in mapping is valid (tested)")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plain_mapping_compiles() {
        let m = super::plain_mapping();
        assert_eq!(m.files.len(), 11);
    }
}
