//! The mapping file: how one source's files, columns, codes and formats map onto fincrm's fields.
//!
//! A bank's extract has its own column names, encodings, date formats and codes; a mapping file
//! (TOML) says how to read it, so a new source needs a new mapping, not new code. Every key is
//! documented in `docs/IMPORT-MAPPING.md`. A mapping is checked completely when it is loaded —
//! unknown keys, formats that cannot parse, codes that map to nothing fincrm knows — and against
//! each file's header before any row is read, so a bad mapping fails with a message that names
//! the key, never half way through a load.

use super::fields::{FieldType, RecordKind};
use chrono::FixedOffset;
use chrono::format::{Item, StrftimeItems};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// A mapping that cannot be used, with the key that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The TOML does not parse or has a key fincrm does not know.
    #[error("mapping file: {0}")]
    Toml(String),
    /// A key's value is wrong.
    #[error("mapping key `{key}`: {reason}")]
    Key {
        /// Dotted path of the key, e.g. `file[2].columns.phone`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn key_err(key: impl Into<String>, reason: impl Into<String>) -> MappingError {
    MappingError::Key {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The mapping file as written (see `docs/IMPORT-MAPPING.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingToml {
    /// Settings every file inherits unless it overrides them.
    #[serde(default)]
    pub source: FormatSettings,
    /// Code tables per fincrm field: the source's value → fincrm's value.
    #[serde(default)]
    pub codes: BTreeMap<String, BTreeMap<String, String>>,
    /// The files of the extract, in load order.
    #[serde(rename = "file", default)]
    pub files: Vec<FileToml>,
}

/// Formats of a source or one of its files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSettings {
    /// Human-readable name of the source system.
    pub name: Option<String>,
    /// Character encoding: `utf-8` (a BOM is removed), `gbk`, `gb18030`.
    pub encoding: Option<String>,
    /// Field delimiter, one ASCII character (default `,`).
    pub delimiter: Option<String>,
    /// Time zone of timestamps without one: a fixed offset like `+08:00`, or `Asia/Shanghai`.
    pub timezone: Option<String>,
    /// Date formats (chrono strftime), tried in order.
    pub date_formats: Option<Vec<String>>,
    /// Timestamp formats (chrono strftime, or `rfc3339`), tried in order.
    pub timestamp_formats: Option<Vec<String>>,
    /// Unit of amounts: `yuan` (major units, default), `fen` (minor units) or `wan_yuan` (10,000).
    pub amount_unit: Option<String>,
    /// Whether a mapped column of an optional field may be absent from a file (it is then
    /// empty); default false, so a bank mapping that names a column the file lacks fails.
    pub allow_missing_columns: Option<bool>,
}

/// One file of the extract.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileToml {
    /// File name inside the extract's directory.
    pub name: String,
    /// What its records are: `customers`, `holdings`, `transactions`, … (see the docs).
    pub kind: String,
    /// Whether the extract may lack this file (then it is skipped); default false.
    #[serde(default)]
    pub optional: bool,
    /// fincrm field → the source column header that holds it.
    pub columns: BTreeMap<String, String>,
    /// fincrm field → a value used for every record (e.g. `kind = "corporate"`).
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// fincrm field → amount unit, for amount columns whose unit differs from the file's.
    #[serde(default)]
    pub amount_units: BTreeMap<String, String>,
    /// Format overrides for this file.
    #[serde(flatten)]
    pub formats: FormatSettings,
}

/// A unit that amounts are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountUnit {
    /// Minor units (fen), integers.
    Minor,
    /// Major units (yuan), up to the currency's decimals.
    Major,
    /// Ten thousand yuan (万元), as registered capital is usually stated.
    TenThousandMajor,
}

impl AmountUnit {
    fn parse(key: &str, raw: &str) -> Result<Self, MappingError> {
        match raw {
            "fen" | "minor" | "分" => Ok(Self::Minor),
            "yuan" | "major" | "元" => Ok(Self::Major),
            "wan_yuan" | "万元" => Ok(Self::TenThousandMajor),
            other => Err(key_err(
                key,
                format!("unknown amount unit {other:?}; use yuan, fen or wan_yuan"),
            )),
        }
    }
}

/// How to read timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampFormat {
    /// RFC 3339 with its own offset.
    Rfc3339,
    /// A chrono strftime pattern, read in the file's time zone.
    Pattern(String),
}

/// One field of a compiled file mapping.
#[derive(Debug, Clone)]
pub struct FieldSource {
    /// The fincrm field.
    pub field: &'static str,
    /// Its type.
    pub field_type: FieldType,
    /// The source column's header, when mapped to a column.
    pub header: Option<String>,
    /// The column's position, filled in from the header row.
    pub index: Option<usize>,
    /// A constant value, when not mapped to a column.
    pub default: Option<String>,
    /// The code table for this field.
    pub codes: Option<HashMap<String, String>>,
    /// Unit of an amount field.
    pub amount_unit: AmountUnit,
}

/// A file mapping, checked and ready to read records.
#[derive(Debug, Clone)]
pub struct FileMapping {
    /// File name in the extract.
    pub name: String,
    /// Record kind.
    pub kind: RecordKind,
    /// Whether the file may be absent.
    pub optional: bool,
    /// The key path of this file in the mapping, for messages (`file[1]`).
    pub key: String,
    /// Encoding.
    pub encoding: &'static encoding_rs::Encoding,
    /// Delimiter byte.
    pub delimiter: u8,
    /// Time zone for timestamps without an offset.
    pub timezone: FixedOffset,
    /// Date formats, in order.
    pub date_formats: Vec<String>,
    /// Timestamp formats, in order.
    pub timestamp_formats: Vec<TimestampFormat>,
    /// Fields, in the kind's field order.
    pub fields: Vec<FieldSource>,
    /// Whether optional fields' columns may be absent.
    pub allow_missing_columns: bool,
}

impl FileMapping {
    /// The compiled field `name`. Panics if the kind has no such field (a programming error).
    pub fn field(&self, name: &str) -> &FieldSource {
        self.fields
            .iter()
            .find(|f| f.field == name)
            .unwrap_or_else(|| panic!("record kind {:?} has no field {name}", self.kind))
    }

    /// Resolves each mapped column against the file's header row; a header that is not in the
    /// file is an error naming the mapping key.
    pub fn bind_headers(&mut self, headers: &[&str]) -> Result<(), MappingError> {
        let required: Vec<&str> = self
            .kind
            .fields()
            .iter()
            .filter(|(_, _, r)| *r)
            .map(|(n, _, _)| *n)
            .collect();
        for f in &mut self.fields {
            if let Some(h) = &f.header {
                let found = headers.iter().position(|x| x.trim() == h.as_str());
                if found.is_none() && self.allow_missing_columns && !required.contains(&f.field) {
                    f.header = None;
                    continue;
                }
                let pos = found.ok_or_else(|| {
                    key_err(
                        format!("{}.columns.{}", self.key, f.field),
                        format!(
                            "column {h:?} is not in {} (its columns are: {})",
                            self.name,
                            headers.join(", ")
                        ),
                    )
                })?;
                f.index = Some(pos);
            }
        }
        Ok(())
    }
}

/// A whole source's mapping, checked.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The source's name, if given.
    pub source_name: Option<String>,
    /// Its files in load order.
    pub files: Vec<FileMapping>,
    /// SHA-256 of the mapping's text: part of each import source's identity, so a changed
    /// mapping re-reads every batch instead of skipping ones loaded under the old mapping.
    pub digest: String,
}

const DEFAULT_DATE_FORMATS: &[&str] = &["%Y-%m-%d"];
const DEFAULT_TIMESTAMP_FORMATS: &[&str] = &["rfc3339"];

fn check_pattern(key: &str, pattern: &str) -> Result<(), MappingError> {
    if pattern.trim().is_empty() {
        return Err(key_err(key, "a format cannot be empty"));
    }
    if StrftimeItems::new(pattern).any(|i| matches!(i, Item::Error)) {
        return Err(key_err(
            key,
            format!("{pattern:?} is not a valid chrono strftime format"),
        ));
    }
    Ok(())
}

/// Parses `+08:00`, `-05:00`, `UTC`, or `Asia/Shanghai` (China has kept UTC+8 without daylight
/// saving since 1991, so a fixed offset is exact for any data a bank still holds).
fn parse_timezone(key: &str, raw: &str) -> Result<FixedOffset, MappingError> {
    let bad = || {
        key_err(
            key,
            format!("{raw:?} is not a time zone; use an offset like +08:00 or Asia/Shanghai"),
        )
    };
    match raw {
        "Asia/Shanghai" | "Asia/Chongqing" | "PRC" | "Beijing" => {
            return FixedOffset::east_opt(8 * 3600).ok_or_else(bad);
        }
        "UTC" | "Z" => return FixedOffset::east_opt(0).ok_or_else(bad),
        _ => {}
    }
    let (sign, rest) = match raw.as_bytes().first() {
        Some(b'+') => (1, &raw[1..]),
        Some(b'-') => (-1, &raw[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

impl Mapping {
    /// Parses and checks a mapping file's text.
    pub fn from_toml(text: &str) -> Result<Self, MappingError> {
        let raw: MappingToml =
            toml::from_str(text).map_err(|e| MappingError::Toml(e.to_string()))?;
        let mut mapping = Self::compile(&raw)?;
        mapping.digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        Ok(mapping)
    }

    /// Checks a parsed mapping and compiles it.
    pub fn compile(raw: &MappingToml) -> Result<Self, MappingError> {
        if raw.files.is_empty() {
            return Err(key_err(
                "file",
                "the mapping lists no files ([[file]] tables)",
            ));
        }
        // Code tables: the field must exist and take codes; every target must be a valid value.
        for (field, table) in &raw.codes {
            let key = format!("codes.{field}");
            let types = FieldType::of_any_kind(field);
            if types.is_empty() {
                return Err(key_err(key, format!("fincrm has no field {field:?}")));
            }
            for (from, to) in table {
                let checks: Vec<Result<(), String>> =
                    types.iter().map(|t| t.check_code_target(to)).collect();
                if let Some(Err(reason)) = checks
                    .iter()
                    .find(|r| r.is_err())
                    .filter(|_| checks.iter().all(Result::is_err))
                {
                    return Err(key_err(format!("{key}.{from:?}"), reason.clone()));
                }
            }
        }
        let files = raw
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| compile_file(raw, i, f))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            source_name: raw.source.name.clone(),
            files,
            digest: String::new(),
        })
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one check per key, read top to bottom"
)]
fn compile_file(raw: &MappingToml, i: usize, f: &FileToml) -> Result<FileMapping, MappingError> {
    let key = format!("file[{i}]");
    let kind = RecordKind::parse(&f.kind).ok_or_else(|| {
        key_err(
            format!("{key}.kind"),
            format!(
                "unknown record kind {:?}; use one of: {}",
                f.kind,
                RecordKind::names().join(", ")
            ),
        )
    })?;
    let pick =
        |get: fn(&FormatSettings) -> Option<&String>| get(&f.formats).or_else(|| get(&raw.source));
    let encoding_label = pick(|s| s.encoding.as_ref()).map_or("utf-8", String::as_str);
    let encoding =
        encoding_rs::Encoding::for_label(encoding_label.as_bytes()).ok_or_else(|| {
            key_err(
                format!("{key}.encoding"),
                format!("unknown encoding {encoding_label:?}; use utf-8, gbk or gb18030"),
            )
        })?;
    let delimiter = match pick(|s| s.delimiter.as_ref()).map(String::as_bytes) {
        None => b',',
        Some([b]) if b.is_ascii() => *b,
        Some(_) => {
            return Err(key_err(
                format!("{key}.delimiter"),
                "must be one ASCII character",
            ));
        }
    };
    let timezone = match pick(|s| s.timezone.as_ref()) {
        Some(tz) => parse_timezone(&format!("{key}.timezone"), tz)?,
        None => FixedOffset::east_opt(8 * 3600)
            .unwrap_or(FixedOffset::east_opt(0).expect("zero offset")),
    };
    let date_formats: Vec<String> = f
        .formats
        .date_formats
        .clone()
        .or_else(|| raw.source.date_formats.clone())
        .unwrap_or_else(|| {
            DEFAULT_DATE_FORMATS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
    for (j, p) in date_formats.iter().enumerate() {
        check_pattern(&format!("{key}.date_formats[{j}]"), p)?;
    }
    let timestamp_formats = f
        .formats
        .timestamp_formats
        .clone()
        .or_else(|| raw.source.timestamp_formats.clone())
        .unwrap_or_else(|| {
            DEFAULT_TIMESTAMP_FORMATS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        })
        .into_iter()
        .enumerate()
        .map(|(j, p)| {
            if p.eq_ignore_ascii_case("rfc3339") {
                Ok(TimestampFormat::Rfc3339)
            } else {
                check_pattern(&format!("{key}.timestamp_formats[{j}]"), &p)
                    .map(|()| TimestampFormat::Pattern(p))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let file_unit = match pick(|s| s.amount_unit.as_ref()) {
        Some(u) => AmountUnit::parse(&format!("{key}.amount_unit"), u)?,
        None => AmountUnit::Major,
    };

    let spec = kind.fields();
    for name in f
        .columns
        .keys()
        .chain(f.defaults.keys())
        .chain(f.amount_units.keys())
    {
        if !spec.iter().any(|(n, _, _)| n == name) {
            let known: Vec<&str> = spec.iter().map(|(n, _, _)| *n).collect();
            return Err(key_err(
                format!("{key}.columns.{name}"),
                format!(
                    "{} records have no field {name:?}; fields: {}",
                    f.kind,
                    known.join(", ")
                ),
            ));
        }
    }
    let mut fields = Vec::with_capacity(spec.len());
    for &(name, field_type, required) in spec {
        let header = f.columns.get(name).cloned();
        let default = f.defaults.get(name).cloned();
        if header.is_none() && default.is_none() && required {
            return Err(key_err(
                format!("{key}.columns.{name}"),
                format!(
                    "{} records need {name:?}: map it to a column or give a default",
                    f.kind
                ),
            ));
        }
        if let Some(d) = &default {
            field_type
                .check_code_target(d)
                .map_err(|r| key_err(format!("{key}.defaults.{name}"), r))?;
        }
        let amount_unit = match f.amount_units.get(name) {
            Some(u) => AmountUnit::parse(&format!("{key}.amount_units.{name}"), u)?,
            None => file_unit,
        };
        fields.push(FieldSource {
            field: name,
            field_type,
            header,
            index: None,
            default,
            codes: raw.codes.get(name).map(|t| {
                t.iter()
                    .map(|(k, v)| (k.trim().to_owned(), v.clone()))
                    .collect()
            }),
            amount_unit,
        });
    }
    Ok(FileMapping {
        name: f.name.clone(),
        kind,
        optional: f.optional,
        key,
        encoding,
        delimiter,
        timezone,
        date_formats,
        timestamp_formats,
        fields,
        allow_missing_columns: f
            .formats
            .allow_missing_columns
            .or(raw.source.allow_missing_columns)
            .unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[file]]
name = "c.csv"
kind = "customers"
columns = { customer_id = "id", name = "name" }
defaults = { kind = "individual" }
"#;

    fn error_of(text: &str) -> String {
        Mapping::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_mapping_compiles_with_defaults() {
        let m = Mapping::from_toml(MINIMAL).unwrap();
        let f = &m.files[0];
        assert_eq!(f.encoding, encoding_rs::UTF_8);
        assert_eq!(f.timezone.local_minus_utc(), 8 * 3600);
        assert_eq!(f.field("customer_id").header.as_deref(), Some("id"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = error_of(&format!("{MINIMAL}\nsurprise = 1\n"));
        assert!(err.contains("surprise"), "{err}");
        let err = error_of(&MINIMAL.replace(
            "kind = \"customers\"",
            "kind = \"customers\"\ncolour = \"red\"",
        ));
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn unknown_fields_kinds_and_codes_are_named() {
        let err =
            error_of(&MINIMAL.replace("name = \"name\"", "name = \"name\", shoe_size = \"x\""));
        assert!(err.contains("file[0].columns.shoe_size"), "{err}");
        let err = error_of(&MINIMAL.replace("\"customers\"", "\"cats\""));
        assert!(err.contains("file[0].kind"), "{err}");
        let err = error_of(&format!(
            "[codes.risk_tolerance]\n\"保守型\" = \"C9\"\n{MINIMAL}"
        ));
        assert!(err.contains("codes.risk_tolerance"), "{err}");
        let err = error_of(&format!(
            "[codes.favourite_colour]\n\"红\" = \"red\"\n{MINIMAL}"
        ));
        assert!(err.contains("codes.favourite_colour"), "{err}");
    }

    #[test]
    fn bad_formats_encodings_and_zones_are_named() {
        let err = error_of(&MINIMAL.replace(
            "kind = \"customers\"",
            "kind = \"customers\"\ndate_formats = [\"%Y-%Q\"]",
        ));
        assert!(err.contains("file[0].date_formats[0]"), "{err}");
        let err = error_of(&MINIMAL.replace(
            "kind = \"customers\"",
            "kind = \"customers\"\nencoding = \"ebcdic\"",
        ));
        assert!(err.contains("file[0].encoding"), "{err}");
        let err = error_of(&MINIMAL.replace(
            "kind = \"customers\"",
            "kind = \"customers\"\ntimezone = \"Mars/Olympus\"",
        ));
        assert!(err.contains("file[0].timezone"), "{err}");
    }

    #[test]
    fn a_required_field_must_be_mapped() {
        let err = error_of(&MINIMAL.replace(", name = \"name\"", ""));
        assert!(err.contains("file[0].columns.name"), "{err}");
    }

    #[test]
    fn a_column_missing_from_the_file_is_named_before_any_row_is_read() {
        let mut m = Mapping::from_toml(MINIMAL).unwrap();
        let err = m.files[0]
            .bind_headers(&["id", "姓名"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("file[0].columns.name") && err.contains("\"name\""),
            "{err}"
        );
        m.files[0].bind_headers(&["id", "name"]).unwrap();
        assert_eq!(m.files[0].field("name").index, Some(1));
    }

    #[test]
    fn time_zones_parse_offsets_and_the_china_zone() {
        assert_eq!(
            parse_timezone("k", "Asia/Shanghai")
                .unwrap()
                .local_minus_utc(),
            28800
        );
        assert_eq!(
            parse_timezone("k", "-05:30").unwrap().local_minus_utc(),
            -19800
        );
        assert!(parse_timezone("k", "+25:00").is_err());
    }
}
