//! The import pipeline: read and parse on a blocking thread, check references and write batches
//! on the async side, so parsing one batch overlaps with writing the previous one.

use super::fields::RecordKind;
use super::mapping::{FileMapping, Mapping, MappingError};
use super::parse::{FieldError, FileQuality, Parsed, RecordParser, owner_placeholder};
use chrono::Utc;
use fincrm_store::{BatchMarker, ImportRunRecord, Store, StoreError, TableBatch, tables};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How to run an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Source records per batch (one database transaction each).
    pub batch_size: usize,
    /// Validate and report without writing anything to the database.
    pub dry_run: bool,
    /// Where reject files and the quality report go (created if missing).
    pub report_dir: PathBuf,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            batch_size: 50_000,
            dry_run: false,
            report_dir: PathBuf::from("import-report"),
        }
    }
}

/// Receives progress of an import, to draw a progress bar or write log lines.
pub trait Progress: Send + Sync {
    /// A file of `bytes` bytes starts loading.
    fn file_started(&self, file: &str, bytes: u64);
    /// `bytes` of the file are read and `records` records loaded or rejected so far.
    fn advanced(&self, bytes: u64, records: u64);
    /// The file is done.
    fn file_finished(&self, report: &FileReport);
}

/// Progress that goes nowhere (tests, library use).
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn file_started(&self, _: &str, _: u64) {}
    fn advanced(&self, _: u64, _: u64) {}
    fn file_finished(&self, _: &FileReport) {}
}

/// An import that could not run. Rejected records are not errors: they are counted and listed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The mapping does not fit the files.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A file is not CSV that can be read (after the header).
    #[error("{file}: {reason}")]
    Csv {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The database refused or failed; batches committed before stay, and a re-run resumes.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The outcome of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// File name.
    pub file: String,
    /// Record kind.
    pub kind: &'static str,
    /// Source identity (kind, content fingerprint, mapping digest).
    pub source: String,
    /// Records read.
    pub records: u64,
    /// Records loaded (in this run or, for resumed batches, before).
    pub loaded: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Batches found already committed and skipped.
    pub resumed_batches: u64,
    /// Rejects per reason (the reason's text up to its first `:`).
    pub reject_reasons: BTreeMap<String, u64>,
    /// The reject file, when there were rejects.
    pub reject_file: Option<PathBuf>,
    /// Per-column data quality.
    pub quality: FileQuality,
}

/// The outcome of an import.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Per file, in load order.
    pub files: Vec<FileReport>,
    /// Duplicate-candidate pairs recorded after loading customers.
    pub duplicate_candidates: Option<i64>,
}

impl ImportReport {
    /// Records loaded in all files.
    pub fn loaded(&self) -> u64 {
        self.files.iter().map(|f| f.loaded).sum()
    }

    /// Records rejected in all files.
    pub fn rejected(&self) -> u64 {
        self.files.iter().map(|f| f.rejected).sum()
    }

    /// The data-quality report (数据质量报告) as text, one block per file.
    pub fn quality_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for f in &self.files {
            let _ = writeln!(
                out,
                "{} ({}): {} records, {} loaded, {} rejected",
                f.file, f.kind, f.records, f.loaded, f.rejected
            );
            for (reason, n) in &f.reject_reasons {
                let _ = writeln!(out, "    rejected {n:>8}  {reason}");
            }
            let _ = writeln!(
                out,
                "    {:<24} {:<20} {:>9} {:>9} {:>11}",
                "field", "column", "missing", "invalid", "normalised"
            );
            for c in f.quality.columns.iter().filter(|c| c.column != "(default)") {
                let _ = writeln!(
                    out,
                    "    {:<24} {:<20} {:>9} {:>9} {:>11}",
                    c.field, c.column, c.missing, c.invalid, c.normalised
                );
            }
        }
        out
    }
}

/// Identifies a file's content without reading it all: its length and SHA-256 of its first and
/// last MiB. A truncated or appended file gets a new identity (so its batches are not skipped);
/// the same file gets the same identity in every run.
fn fingerprint(path: &Path) -> io::Result<String> {
    const EDGE: u64 = 1 << 20;
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut h = Sha256::new();
    h.update(len.to_le_bytes());
    let mut buf = Vec::with_capacity(usize::try_from(EDGE).unwrap_or(1 << 20));
    (&mut f).take(EDGE).read_to_end(&mut buf)?;
    h.update(&buf);
    if len > EDGE {
        buf.clear();
        f.seek(SeekFrom::Start(len.saturating_sub(EDGE).max(EDGE)))?;
        f.take(EDGE).read_to_end(&mut buf)?;
        h.update(&buf);
    }
    Ok(hex::encode(&h.finalize()[..16]))
}

/// Counts bytes read, for progress.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type CsvReader = csv::Reader<Box<dyn Read + Send>>;

fn open_csv(
    mapping: &FileMapping,
    path: &Path,
    count: Arc<AtomicU64>,
) -> Result<(CsvReader, Vec<String>), ImportError> {
    let file = File::open(path).map_err(io_err(path))?;
    let counting = Counting {
        inner: BufReader::with_capacity(1 << 20, file),
        count,
    };
    // Transcodes GBK/GB18030 to UTF-8 and drops a UTF-8 BOM; UTF-8 without a BOM passes through.
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(mapping.encoding))
        .bom_override(true)
        .utf8_passthru(true)
        .build(counting);
    let reader: Box<dyn Read + Send> = Box::new(decoded);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| ImportError::Csv {
            file: mapping.name.clone(),
            reason: format!("cannot read the header row: {e}"),
        })?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    Ok((csv, headers))
}

/// One batch as the reader thread hands it over.
struct ParsedBatch {
    batch_no: i64,
    records: u64,
    ok: Vec<(u64, Parsed)>,
    rejects: Vec<(u64, Vec<FieldError>)>,
}

/// Keys loaded earlier in a dry run, standing in for the database that a dry run never writes.
#[derive(Default)]
struct DryRunKeys {
    customers: HashSet<String>,
    corporates: HashSet<String>,
    holdings: HashMap<String, String>,
}

/// Imports every file of `mapping` found in `dir`, in the mapping's order.
///
/// The whole mapping is checked against every file's header before any record is read.
pub async fn import(
    store: &dyn Store,
    mapping: &Mapping,
    dir: &Path,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport, ImportError> {
    let mut planned = Vec::new();
    for fm in &mapping.files {
        let path = dir.join(&fm.name);
        if !path.exists() {
            if fm.optional {
                continue;
            }
            return Err(MappingError::Key {
                key: format!("{}.name", fm.key),
                reason: format!("{} is not in {}", fm.name, dir.display()),
            }
            .into());
        }
        let mut fm = fm.clone();
        let (_, headers) = open_csv(&fm, &path, Arc::default())?;
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        fm.bind_headers(&refs)?;
        planned.push((fm, path));
    }
    std::fs::create_dir_all(&options.report_dir).map_err(io_err(&options.report_dir))?;

    let mut report = ImportReport {
        dry_run: options.dry_run,
        files: Vec::new(),
        duplicate_candidates: None,
    };
    let mut dry = DryRunKeys::default();
    for (fm, path) in planned {
        let file_report =
            import_file(store, mapping, &fm, &path, options, progress, &mut dry).await?;
        if fm.kind == RecordKind::Customers && !options.dry_run {
            report.duplicate_candidates = Some(store.detect_duplicates().await?);
        }
        progress.file_finished(&file_report);
        report.files.push(file_report);
    }
    if !options.dry_run {
        store.refresh_statistics().await?;
    }
    let json = serde_json::to_vec_pretty(&report).map_err(|e| ImportError::Csv {
        file: "quality.json".into(),
        reason: e.to_string(),
    })?;
    let qpath = options.report_dir.join("quality.json");
    std::fs::write(&qpath, json).map_err(io_err(&qpath))?;
    Ok(report)
}

#[expect(clippy::too_many_lines, reason = "one pipeline, read top to bottom")]
async fn import_file(
    store: &dyn Store,
    mapping: &Mapping,
    fm: &FileMapping,
    path: &Path,
    options: &ImportOptions,
    progress: &dyn Progress,
    dry: &mut DryRunKeys,
) -> Result<FileReport, ImportError> {
    let started_at = Utc::now();
    let total_bytes = std::fs::metadata(path).map_err(io_err(path))?.len();
    let fp = fingerprint(path).map_err(io_err(path))?;
    let source = format!(
        "{}:{}:{}",
        fm.kind.name(),
        fp,
        &mapping.digest[..mapping.digest.len().min(16)]
    );
    let done = if options.dry_run {
        HashSet::new()
    } else {
        store.committed_batches(&source).await?
    };
    progress.file_started(&fm.name, total_bytes);
    tracing::info!(file = %fm.name, kind = fm.kind.name(), bytes = total_bytes, resumed_batches = done.len(), "import started");

    let bytes_read = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<ParsedBatch, ImportError>>(2);
    let reader_fm = fm.clone();
    let reader_path = path.to_owned();
    let batch_size = options.batch_size.max(1);
    let counter = Arc::clone(&bytes_read);
    let reader = tokio::task::spawn_blocking(move || -> FileQuality {
        let mut quality = FileQuality::for_mapping(&reader_fm);
        let send = |r| tx.blocking_send(r).is_ok();
        let (mut csv, headers) = match open_csv(&reader_fm, &reader_path, counter) {
            Ok(x) => x,
            Err(e) => {
                send(Err(e));
                return quality;
            }
        };
        let parser = RecordParser::new(&reader_fm, headers.len());
        let mut record = csv::StringRecord::new();
        let mut batch = ParsedBatch {
            batch_no: 0,
            records: 0,
            ok: Vec::new(),
            rejects: Vec::new(),
        };
        let mut record_no = 0u64;
        loop {
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    record_no += 1;
                    batch.records += 1;
                    match parser.parse(&record, &mut quality) {
                        Ok(p) => batch.ok.push((record_no, p)),
                        Err(errors) => batch.rejects.push((record_no, errors)),
                    }
                }
                Err(e) => {
                    // Invalid UTF-8 or an unterminated quote: the record cannot be split into
                    // fields, so it is rejected whole and reading goes on.
                    record_no += 1;
                    batch.records += 1;
                    let reason = match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => {
                            "invalid text: not valid in the file's encoding".to_owned()
                        }
                        _ => format!("unreadable record: {e}"),
                    };
                    batch.rejects.push((
                        record_no,
                        vec![FieldError {
                            column: "(record)".into(),
                            reason,
                        }],
                    ));
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        break;
                    }
                }
            }
            if usize::try_from(batch.records).unwrap_or(usize::MAX) >= batch_size {
                let next = ParsedBatch {
                    batch_no: batch.batch_no + 1,
                    records: 0,
                    ok: Vec::new(),
                    rejects: Vec::new(),
                };
                if !send(Ok(std::mem::replace(&mut batch, next))) {
                    return quality;
                }
            }
        }
        if batch.records > 0 {
            send(Ok(batch));
        }
        quality
    });

    let reject_path = options.report_dir.join(format!("{}.rejects.csv", fm.name));
    let mut rejects_out: Option<csv::Writer<File>> = None;
    let mut report = FileReport {
        file: fm.name.clone(),
        kind: fm.kind.name(),
        source: source.clone(),
        records: 0,
        loaded: 0,
        rejected: 0,
        resumed_batches: 0,
        reject_reasons: BTreeMap::new(),
        reject_file: None,
        quality: FileQuality::default(),
    };

    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        let ParsedBatch {
            batch_no,
            records,
            ok,
            mut rejects,
        } = batch;
        let ok = check_references(store, fm, ok, &mut rejects, dry, options.dry_run).await?;
        let loaded = ok.len() as u64;
        if options.dry_run {
            remember(dry, &ok);
        } else if done.contains(&batch_no) {
            report.resumed_batches += 1;
        } else {
            let marker = BatchMarker {
                source: source.clone(),
                batch_no,
                records: i64::try_from(records).unwrap_or(i64::MAX),
                loaded: i64::try_from(loaded).unwrap_or(i64::MAX),
            };
            store.write(Some(&marker), &to_tables(fm.kind, ok)).await?;
        }
        report.records += records;
        report.loaded += loaded;
        report.rejected += rejects.len() as u64;
        if !rejects.is_empty() {
            rejects.sort_by_key(|(n, _)| *n);
            if rejects_out.is_none() {
                let mut w =
                    csv::Writer::from_path(&reject_path).map_err(|e| csv_err(&reject_path, &e))?;
                w.write_record(["file", "record", "column", "reason"])
                    .map_err(|e| csv_err(&reject_path, &e))?;
                rejects_out = Some(w);
            }
            let Some(w) = rejects_out.as_mut() else {
                unreachable!("created above")
            };
            for (n, errors) in &rejects {
                let first = &errors[0];
                let mut reason = first.reason.clone();
                for more in &errors[1..] {
                    let _ = write!(reason, "; also {}: {}", more.column, more.reason);
                }
                let key = first
                    .reason
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                *report.reject_reasons.entry(key).or_default() += 1;
                w.write_record([fm.name.as_str(), &n.to_string(), &first.column, &reason])
                    .map_err(|e| csv_err(&reject_path, &e))?;
            }
        }
        progress.advanced(bytes_read.load(Ordering::Relaxed), report.records);
    }
    report.quality = reader.await.map_err(|e| ImportError::Csv {
        file: fm.name.clone(),
        reason: format!("reader failed: {e}"),
    })?;
    if let Some(mut w) = rejects_out {
        w.flush().map_err(io_err(&reject_path))?;
        report.reject_file = Some(reject_path);
    }
    if !options.dry_run {
        store
            .record_import_run(&ImportRunRecord {
                source,
                file_name: fm.name.clone(),
                kind: fm.kind.name().to_owned(),
                started_at,
                finished_at: Utc::now(),
                records: i64::try_from(report.records).unwrap_or(i64::MAX),
                loaded: i64::try_from(report.loaded).unwrap_or(i64::MAX),
                rejected: i64::try_from(report.rejected).unwrap_or(i64::MAX),
                status: "completed".to_owned(),
            })
            .await?;
    }
    tracing::info!(file = %fm.name, records = report.records, loaded = report.loaded, rejected = report.rejected, "import finished");
    Ok(report)
}

fn csv_err(path: &Path, e: &csv::Error) -> ImportError {
    ImportError::Csv {
        file: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Rejects records that refer to customers or accounts that are neither in the store nor (in a
/// dry run) loaded earlier in this run, and fills in a transaction's customer from its account.
#[expect(
    clippy::too_many_lines,
    reason = "one rule per record kind, read top to bottom"
)]
async fn check_references(
    store: &dyn Store,
    fm: &FileMapping,
    ok: Vec<(u64, Parsed)>,
    rejects: &mut Vec<(u64, Vec<FieldError>)>,
    dry: &DryRunKeys,
    dry_run: bool,
) -> Result<Vec<(u64, Parsed)>, ImportError> {
    let column = |field: &str| {
        fm.fields
            .iter()
            .find(|f| f.field == field)
            .and_then(|f| f.header.clone())
            .unwrap_or_else(|| field.to_owned())
    };
    let customer_refs: Vec<&str> = ok
        .iter()
        .flat_map(|(_, p)| match p {
            Parsed::Holding(h) => vec![h.customer_id.as_str()],
            Parsed::Interaction(i) => vec![i.customer_id.as_str()],
            Parsed::Coverage(c) => vec![c.customer_id.as_str()],
            Parsed::Consent(c) => vec![c.customer_id.as_str()],
            Parsed::CorporateValue(v) => vec![v.customer_id.as_str()],
            Parsed::Relationship(r) => vec![r.from.as_str(), r.to.as_str()],
            _ => vec![],
        })
        .collect();
    let holding_refs: Vec<&str> = ok
        .iter()
        .filter_map(|(_, p)| match p {
            Parsed::Transaction(t) => Some(t.holding_id.as_str()),
            _ => None,
        })
        .collect();
    if customer_refs.is_empty() && holding_refs.is_empty() {
        return Ok(ok);
    }
    let mut customers = if customer_refs.is_empty() {
        HashSet::new()
    } else {
        store.existing_customers(&dedup(&customer_refs)).await?
    };
    let mut holdings = if holding_refs.is_empty() {
        HashMap::new()
    } else {
        store.existing_holdings(&dedup(&holding_refs)).await?
    };
    if dry_run {
        customers.extend(
            customer_refs
                .iter()
                .filter(|c| dry.customers.contains(**c))
                .map(|c| (*c).to_owned()),
        );
        for h in &holding_refs {
            if let Some(owner) = dry.holdings.get(*h) {
                holdings.insert((*h).to_owned(), owner.clone());
            }
        }
    }
    // Corporate value figures are for corporates only.
    let mut corporates = if fm.kind == RecordKind::CorporateValues {
        store.existing_corporates(&dedup(&customer_refs)).await?
    } else {
        HashSet::new()
    };
    if dry_run {
        corporates.extend(
            customer_refs
                .iter()
                .filter(|c| dry.corporates.contains(**c))
                .map(|c| (*c).to_owned()),
        );
    }
    let unknown_customer = |id: &str| !customers.contains(id);
    let mut kept = Vec::with_capacity(ok.len());
    for (n, mut p) in ok {
        let problem = match &mut p {
            Parsed::Holding(h) if unknown_customer(h.customer_id.as_str()) => Some((
                "customer_id",
                "unknown customer: not in the store or loaded before this file",
            )),
            Parsed::Interaction(i) if unknown_customer(i.customer_id.as_str()) => Some((
                "customer_id",
                "unknown customer: not in the store or loaded before this file",
            )),
            Parsed::Coverage(c) if unknown_customer(c.customer_id.as_str()) => Some((
                "customer_id",
                "unknown customer: not in the store or loaded before this file",
            )),
            Parsed::Consent(c) if unknown_customer(c.customer_id.as_str()) => Some((
                "customer_id",
                "unknown customer: not in the store or loaded before this file",
            )),
            Parsed::CorporateValue(v) if unknown_customer(v.customer_id.as_str()) => Some((
                "customer_id",
                "unknown customer: not in the store or loaded before this file",
            )),
            Parsed::CorporateValue(v) if !corporates.contains(v.customer_id.as_str()) => Some((
                "customer_id",
                "not a corporate customer: value figures are for corporates only",
            )),
            Parsed::Relationship(r) if unknown_customer(r.from.as_str()) => Some((
                "from_customer_id",
                "unknown customer: not in the store or loaded before this file",
            )),
            Parsed::Relationship(r) if unknown_customer(r.to.as_str()) => Some((
                "to_customer_id",
                "unknown customer: not in the store or loaded before this file",
            )),
            Parsed::Transaction(t) => match holdings.get(t.holding_id.as_str()) {
                None => Some((
                    "holding_id",
                    "unknown account: not in the store or loaded before this file",
                )),
                Some(owner) if t.customer_id == owner_placeholder() => {
                    t.customer_id =
                        owner.parse().map_err(|e: fincrm_domain::ValidationError| {
                            StoreError::Corrupt(e.to_string())
                        })?;
                    None
                }
                Some(owner) if t.customer_id.as_str() != owner => {
                    Some(("customer_id", "account belongs to another customer"))
                }
                Some(_) => None,
            },
            _ => None,
        };
        match problem {
            None => kept.push((n, p)),
            Some((field, reason)) => rejects.push((
                n,
                vec![FieldError {
                    column: column(field),
                    reason: reason.to_owned(),
                }],
            )),
        }
    }
    Ok(kept)
}

fn dedup<'a>(ids: &[&'a str]) -> Vec<&'a str> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

fn remember(dry: &mut DryRunKeys, ok: &[(u64, Parsed)]) {
    for (_, p) in ok {
        match p {
            Parsed::Customer(c) => {
                dry.customers.insert(c.id.to_string());
                if c.kind == fincrm_domain::CustomerKind::Corporate {
                    dry.corporates.insert(c.id.to_string());
                }
            }
            Parsed::Holding(h) => {
                dry.holdings
                    .insert(h.id.to_string(), h.customer_id.to_string());
            }
            _ => {}
        }
    }
}

fn to_tables(kind: RecordKind, ok: Vec<(u64, Parsed)>) -> Vec<TableBatch> {
    macro_rules! collect {
        ($variant:ident, $table:path) => {{
            let items: Vec<_> = ok
                .into_iter()
                .filter_map(|(_, p)| {
                    if let Parsed::$variant(x) = p {
                        Some(x)
                    } else {
                        None
                    }
                })
                .collect();
            vec![$table(&items)]
        }};
    }
    match kind {
        RecordKind::Branches => collect!(Branch, tables::branches),
        RecordKind::Staff => collect!(Staff, tables::staff),
        RecordKind::Products => collect!(Product, tables::products),
        RecordKind::Customers => {
            let unboxed = |boxed: &[Box<fincrm_domain::Customer>]| {
                let items: Vec<fincrm_domain::Customer> =
                    boxed.iter().map(|c| (**c).clone()).collect();
                tables::customers(&items)
            };
            collect!(Customer, unboxed)
        }
        RecordKind::Coverage => collect!(Coverage, tables::coverage),
        RecordKind::Holdings => collect!(Holding, tables::holdings),
        RecordKind::Transactions => collect!(Transaction, tables::transactions),
        RecordKind::Interactions => collect!(Interaction, tables::interactions),
        RecordKind::Relationships => collect!(Relationship, tables::relationships),
        RecordKind::Consents => collect!(Consent, tables::consents),
        RecordKind::CorporateValues => collect!(CorporateValue, tables::corporate_values),
    }
}
