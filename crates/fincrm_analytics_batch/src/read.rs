//! Reading a transaction CSV into dense columns: a `u32` customer index, a day number and an
//! amount per row.
//!
//! The reader is built for logs of tens of millions of rows: one reused [`csv::ByteRecord`], no
//! allocation per row except for the first sighting of a customer id (ids are interned in a hash
//! map keyed by their bytes, with a small non-cryptographic hasher), and hand-written parsers for
//! the common date layouts (`%Y-%m-%d`, `%Y%m%d`, RFC 3339 / `%Y-%m-%d %H:%M:%S`), falling back
//! to chrono for anything else.
//!
//! Dates: the day of a timestamp is its calendar date **as written**, in its own UTC offset
//! (`2024-03-01T23:30:00+08:00` is 2024-03-01), which is what pandas' `to_period` (and so
//! lifetimes) does with offset-aware timestamps. Fields are trimmed of ASCII spaces; a UTF-8 BOM
//! before the header is ignored.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use fincrm_analytics::summary::days_from_civil;

use crate::FitError;

/// The day number (days since 1970-01-01) of a date.
pub fn day_number(date: NaiveDate) -> i32 {
    use chrono::Datelike;
    days_from_civil(date.year(), date.month(), date.day())
}

/// The date of a day number; `None` outside chrono's range.
pub fn date_of_day(day: i32) -> Option<NaiveDate> {
    // 719_163 = days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
    NaiveDate::from_num_days_from_ce_opt(day.checked_add(719_163)?)
}

/// Which columns to read and how to parse them.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions<'a> {
    /// Customer id column (any string).
    pub customer_col: &'a str,
    /// Date or timestamp column.
    pub date_col: &'a str,
    /// Amount column (non-negative decimal numbers), if any.
    pub amount_col: Option<&'a str>,
    /// chrono strftime format of the dates; `None` detects the format per value.
    pub date_format: Option<&'a str>,
    /// Rows after this day are validated and counted but not kept; customers seen only after it
    /// get no index.
    pub last_day: Option<i32>,
}

/// A transaction log as dense columns.
#[derive(Debug, Clone, Default)]
pub struct Transactions {
    /// Customer id of each dense index, in order of first appearance.
    pub customer_ids: Vec<String>,
    /// Dense customer index per kept row.
    pub customer: Vec<u32>,
    /// Day number per kept row.
    pub day: Vec<i32>,
    /// Amount per kept row (all 0 when no amount column was read).
    pub amount: Vec<f64>,
    /// Whether an amount column was read.
    pub has_amounts: bool,
    /// Data rows in the file (header excluded).
    pub rows_read: u64,
    /// Earliest day of any data row, kept or not.
    pub first_day: Option<i32>,
}

/// A 64-bit multiplicative hasher with a splitmix64 finaliser: a few ns per short id, against
/// ~20 ns for the default `SipHash`. Not DoS-resistant, which is fine for a batch job.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0_u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0_u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        self.0 = h;
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(23) ^ n as u64).wrapping_mul(K);
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

type Build = BuildHasherDefault<IdHasher>;

/// An id of at most 23 bytes stored inline (its length in the last byte), so a lookup touches
/// the table slot only, not a separate heap allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ShortId([u8; 24]);

impl ShortId {
    fn new(id: &[u8]) -> Option<Self> {
        let len = u8::try_from(id.len()).ok().filter(|&l| l <= 23)?;
        let mut k = [0_u8; 24];
        k[..id.len()].copy_from_slice(id);
        k[23] = len;
        Some(Self(k))
    }

    fn bytes(&self) -> &[u8] {
        &self.0[..usize::from(self.0[23])]
    }
}

/// Interns customer ids into dense indices in order of first appearance.
#[derive(Default)]
struct IdMap {
    short: HashMap<ShortId, u32, Build>,
    long: HashMap<Box<[u8]>, u32, Build>,
    len: u32,
}

impl IdMap {
    fn index(&mut self, id: &[u8]) -> Result<u32, FitError> {
        let next = self.len;
        let c = if let Some(k) = ShortId::new(id) {
            *self.short.entry(k).or_insert(next)
        } else if let Some(&c) = self.long.get(id) {
            c
        } else {
            self.long.insert(id.into(), next);
            next
        };
        if c == next {
            self.len = next.checked_add(1).ok_or(FitError::TooManyCustomers)?;
        }
        Ok(c)
    }

    /// Interns a batch of short ids in order (a tight loop of independent lookups lets the CPU
    /// overlap their cache misses, which dominate on millions of customers).
    fn index_batch(&mut self, keys: &[ShortId], out: &mut Vec<u32>) -> Result<(), FitError> {
        for k in keys {
            let next = self.len;
            let c = *self.short.entry(*k).or_insert(next);
            if c == next {
                self.len = next.checked_add(1).ok_or(FitError::TooManyCustomers)?;
            }
            out.push(c);
        }
        Ok(())
    }

    fn into_ids(self) -> Vec<String> {
        let mut ids = vec![String::new(); self.len as usize];
        for (k, c) in self.short {
            ids[c as usize] = String::from_utf8_lossy(k.bytes()).into_owned();
        }
        for (k, c) in self.long {
            ids[c as usize] = String::from_utf8_lossy(&k).into_owned();
        }
        ids
    }
}

/// How dates are parsed.
#[derive(Debug, Clone)]
enum DateParser {
    /// Detect per value: `%Y-%m-%d`, `%Y%m%d`, RFC 3339, `%Y-%m-%d %H:%M:%S`.
    Auto,
    /// `%Y-%m-%d`.
    Dashed,
    /// `%Y%m%d`.
    Compact,
    /// Any other chrono format.
    Chrono(String),
}

impl DateParser {
    fn new(format: Option<&str>) -> Self {
        match format {
            None => Self::Auto,
            Some("%Y-%m-%d" | "%F") => Self::Dashed,
            Some("%Y%m%d") => Self::Compact,
            Some(f) => Self::Chrono(f.to_owned()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Auto => "expected %Y-%m-%d, %Y%m%d, RFC 3339 or %Y-%m-%d %H:%M:%S".to_owned(),
            Self::Dashed => "expected %Y-%m-%d".to_owned(),
            Self::Compact => "expected %Y%m%d".to_owned(),
            Self::Chrono(f) => format!("expected format `{f}`"),
        }
    }

    fn parse(&self, b: &[u8]) -> Option<i32> {
        match self {
            Self::Dashed => dashed(b),
            Self::Compact => compact(b),
            Self::Auto => auto(b),
            Self::Chrono(f) => {
                let s = std::str::from_utf8(b).ok()?;
                let date = NaiveDate::parse_from_str(s, f)
                    .or_else(|_| NaiveDateTime::parse_from_str(s, f).map(|t| t.date()))
                    .or_else(|_| DateTime::parse_from_str(s, f).map(|t| t.date_naive()))
                    .ok()?;
                Some(day_number(date))
            }
        }
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0_u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    Some(v)
}

fn ymd(y: u32, m: u32, d: u32) -> Option<i32> {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if y == 0 || d == 0 || d > days_in_month {
        return None;
    }
    Some(days_from_civil(i32::try_from(y).ok()?, m, d))
}

/// `YYYY-MM-DD`.
fn dashed(b: &[u8]) -> Option<i32> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    ymd(digits(&b[..4])?, digits(&b[5..7])?, digits(&b[8..10])?)
}

/// `YYYYMMDD`.
fn compact(b: &[u8]) -> Option<i32> {
    if b.len() != 8 {
        return None;
    }
    ymd(digits(&b[..4])?, digits(&b[4..6])?, digits(&b[6..8])?)
}

/// `YYYY-MM-DD[T ]HH:MM:SS` followed by an optional fraction and offset.
fn timestamp_fast(b: &[u8]) -> Option<i32> {
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let tail = &b[19..];
    let tail_ok = match tail {
        [] | [b'Z' | b'z'] => true,
        _ => {
            // [.fraction][Z | ±HH:MM]
            let (frac, zone) = match tail.iter().position(|c| !c.is_ascii_digit() && *c != b'.') {
                Some(i) => tail.split_at(i),
                None => (tail, &[][..]),
            };
            let frac_ok = match frac {
                [] => true,
                [b'.', rest @ ..] => !rest.is_empty() && rest.iter().all(u8::is_ascii_digit),
                _ => false,
            };
            let zone_ok = match zone {
                [] | [b'Z' | b'z'] => true,
                [b'+' | b'-', h1, h2, b':', m1, m2] => {
                    [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                }
                _ => false,
            };
            frac_ok && zone_ok
        }
    };
    if tail_ok { dashed(&b[..10]) } else { None }
}

fn auto(b: &[u8]) -> Option<i32> {
    match b.len() {
        10 => dashed(b),
        8 => compact(b),
        n if n >= 19 => timestamp_fast(b).or_else(|| {
            let s = std::str::from_utf8(b).ok()?;
            let date = DateTime::parse_from_rfc3339(s)
                .map(|t| t.date_naive())
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").map(|t| t.date())
                })
                .ok()?;
            Some(day_number(date))
        }),
        _ => None,
    }
}

/// Exact powers of ten up to 10^15 (every one is a whole `f64`).
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A plain decimal (`123`, `99.39`, `.5`) of at most 15 digits, the form of nearly every amount
/// in an extract, without the general parser. Its digits make a whole number below 2^53 and
/// the divisor is an exact power of ten, so the one division is correctly rounded and the
/// value is the general parser's to the last bit (tested against it). `None` for anything else.
fn plain_decimal(b: &[u8]) -> Option<f64> {
    let (mut mantissa, mut digits, mut fraction) = (0_u64, 0_usize, None::<usize>);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                if let Some(f) = fraction.as_mut() {
                    *f += 1;
                }
            }
            b'.' if fraction.is_none() => fraction = Some(0),
            _ => return None,
        }
        if digits > 15 {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    // At most 15 digits: the mantissa is exact in an f64, the power is in the table.
    #[allow(clippy::cast_precision_loss, reason = "below 10^15 < 2^53: exact")]
    let whole = mantissa as f64;
    Some(whole / POWERS_OF_TEN[fraction.unwrap_or(0)])
}

fn parse_amount(b: &[u8]) -> Result<f64, &'static str> {
    if b.is_empty() {
        return Err("empty");
    }
    if let Some(v) = plain_decimal(b) {
        return Ok(v);
    }
    let v: f64 = std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("not a number")?;
    if !v.is_finite() {
        return Err("not finite");
    }
    if v < 0.0 {
        return Err("negative (refunds and reversals must be netted or removed first)");
    }
    Ok(v)
}

fn read_header(path: &Path, rdr: &mut csv::Reader<File>) -> Result<Vec<String>, FitError> {
    Ok(rdr
        .byte_headers()
        .map_err(|source| FitError::Read {
            path: path.to_owned(),
            line: source.position().map_or(0, csv::Position::line),
            source,
        })?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 {
                h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h)
            } else {
                h
            };
            String::from_utf8_lossy(h.trim_ascii()).into_owned()
        })
        .collect())
}

fn column_index(path: &Path, header: &[String], name: &str) -> Result<usize, FitError> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| FitError::MissingColumn {
            path: path.to_owned(),
            column: name.to_owned(),
            header: header.to_vec(),
        })
}

/// Rows whose id lookups are made together (see [`IdMap::index_batch`]).
const BATCH: usize = 512;

/// Rows handed from the parsing thread to the interning one at a time.
const CHUNK: usize = 8192;

/// A customer id as the parser hands it on: inline when short (nearly always).
enum RawId {
    Short(ShortId),
    Long(Box<[u8]>),
}

/// Parsed rows on their way to be interned, in file order.
#[derive(Default)]
struct Chunk {
    ids: Vec<RawId>,
    day: Vec<i32>,
    amount: Vec<f64>,
}

/// What the parsing thread counted besides the rows it handed on.
struct Parsed {
    rows_read: u64,
    first_day: Option<i32>,
}

/// Reads a transaction CSV (comma-separated, with a header row).
///
/// Two threads: one parses the CSV (fields, dates, amounts) and hands rows on in chunks, the
/// other interns the customer ids and builds the columns, side by side on two cores (the
/// README's analytics figures: RFM from CSV went from behind Polars and DuckDB to ahead). Bad
/// input stops the parser at the first bad row with its line, as before.
pub fn read_transactions(path: &Path, opts: &ReadOptions<'_>) -> Result<Transactions, FitError> {
    let file = File::open(path).map_err(|source| FitError::Open {
        path: path.to_owned(),
        source,
    })?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let header = read_header(path, &mut rdr)?;
    let columns = Columns {
        customer: column_index(path, &header, opts.customer_col)?,
        date: column_index(path, &header, opts.date_col)?,
        amount: opts
            .amount_col
            .map(|c| column_index(path, &header, c))
            .transpose()?,
    };
    let (chunks, parsed_chunks) = std::sync::mpsc::sync_channel::<Chunk>(4);
    let (parsed, interned) = std::thread::scope(|scope| {
        let parser = scope.spawn(move || parse_rows(path, &mut rdr, opts, columns, &chunks));
        // The receiver moves in, so it is gone when the interner returns: a parser still
        // sending then stops instead of waiting on a full channel.
        let interned = intern_rows(parsed_chunks, columns.amount.is_some());
        // A parser that panicked is a bug; pass the panic on rather than hide it.
        let parsed = parser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (parsed, interned)
    });
    // The parser's error first: the interner stops early only because the parser did.
    let parsed = parsed?;
    let mut out = interned?;
    out.rows_read = parsed.rows_read;
    out.first_day = parsed.first_day;
    Ok(out)
}

/// Where the columns read are in each row.
#[derive(Debug, Clone, Copy)]
struct Columns {
    customer: usize,
    date: usize,
    amount: Option<usize>,
}

/// The parsing thread: every row checked and parsed, the kept ones sent on in chunks. Returns
/// when the file ends, at the first bad row, or when the interner has gone.
fn parse_rows(
    path: &Path,
    rdr: &mut csv::Reader<File>,
    opts: &ReadOptions<'_>,
    columns: Columns,
    chunks: &std::sync::mpsc::SyncSender<Chunk>,
) -> Result<Parsed, FitError> {
    let parser = DateParser::new(opts.date_format);
    let last_day = opts.last_day.unwrap_or(i32::MAX);
    let mut record = csv::ByteRecord::new();
    // The date text of the previous row and its day: extracts come sorted by date, so most rows
    // repeat the previous row's date and need no parsing.
    let mut previous_date: (Vec<u8>, i32) = (Vec::new(), 0);
    let mut first_day = i32::MAX;
    let mut rows_read = 0_u64;
    let mut chunk = Chunk::default();
    let line_of = |r: &csv::ByteRecord| r.position().map_or(0, csv::Position::line);
    while rdr
        .read_byte_record(&mut record)
        .map_err(|source| FitError::Read {
            path: path.to_owned(),
            line: source.position().map_or(0, csv::Position::line),
            source,
        })?
    {
        rows_read += 1;
        // The csv reader rejects rows whose length differs from the header's, so every index is
        // in range; `get` keeps that an error rather than a panic all the same.
        let field = |i: usize| record.get(i).unwrap_or_default().trim_ascii();
        let raw_date = field(columns.date);
        let day = if !raw_date.is_empty() && raw_date == previous_date.0.as_slice() {
            previous_date.1
        } else {
            let Some(day) = parser.parse(raw_date) else {
                return Err(FitError::BadDate {
                    line: line_of(&record),
                    column: opts.date_col.to_owned(),
                    value: String::from_utf8_lossy(raw_date).into_owned(),
                    expected: parser.describe(),
                });
            };
            previous_date.0.clear();
            previous_date.0.extend_from_slice(raw_date);
            previous_date.1 = day;
            day
        };
        first_day = first_day.min(day);
        let amount = match (columns.amount, opts.amount_col) {
            (Some(i), Some(col)) => {
                let raw = field(i);
                parse_amount(raw).map_err(|reason| FitError::BadAmount {
                    line: line_of(&record),
                    column: col.to_owned(),
                    value: String::from_utf8_lossy(raw).into_owned(),
                    reason,
                })?
            }
            _ => 0.0,
        };
        let id = field(columns.customer);
        if id.is_empty() {
            return Err(FitError::EmptyCustomerId {
                line: line_of(&record),
                column: opts.customer_col.to_owned(),
            });
        }
        if day > last_day {
            continue;
        }
        chunk
            .ids
            .push(ShortId::new(id).map_or_else(|| RawId::Long(id.into()), RawId::Short));
        chunk.day.push(day);
        chunk.amount.push(amount);
        if chunk.day.len() == CHUNK && chunks.send(std::mem::take(&mut chunk)).is_err() {
            break; // The interner stopped (too many customers); it reports why.
        }
    }
    // Nobody left to take the last chunk only when the interner failed, which it reports.
    let _ = chunks.send(chunk);
    Ok(Parsed {
        rows_read,
        first_day: (rows_read > 0).then_some(first_day),
    })
}

/// The interning thread: customer ids to dense indices in order of first appearance, and the
/// columns, chunk by chunk until the parser is done.
fn intern_rows(
    chunks: std::sync::mpsc::Receiver<Chunk>,
    has_amounts: bool,
) -> Result<Transactions, FitError> {
    let mut ids = IdMap::default();
    let mut batch: Vec<ShortId> = Vec::with_capacity(BATCH);
    let mut out = Transactions {
        has_amounts,
        ..Transactions::default()
    };
    for chunk in chunks {
        for id in chunk.ids {
            match id {
                RawId::Short(k) => {
                    batch.push(k);
                    if batch.len() == BATCH {
                        ids.index_batch(&batch, &mut out.customer)?;
                        batch.clear();
                    }
                }
                RawId::Long(id) => {
                    ids.index_batch(&batch, &mut out.customer)?;
                    batch.clear();
                    out.customer.push(ids.index(&id)?);
                }
            }
        }
        out.day.extend(chunk.day);
        out.amount.extend(chunk.amount);
    }
    ids.index_batch(&batch, &mut out.customer)?;
    out.customer_ids = ids.into_ids();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain-decimal fast path gives the general parser's value to the last bit, and
    /// leaves every other form to it.
    #[test]
    fn plain_decimals_parse_as_the_general_parser_does() {
        let mut rng = fincrm_analytics::kmeans::SplitMix64::new(0x9e37_79b9);
        let mut next = move || rng.next_u64();
        let mut texts: Vec<String> = [
            "0",
            "5.",
            ".5",
            "007.50",
            "0.00000000000001",
            "999999999999999",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        for _ in 0..200_000 {
            let digits = 1 + usize::try_from(next() % 15).unwrap_or(0);
            let mut text: String = (0..digits)
                .map(|_| char::from(b'0' + u8::try_from(next() % 10).unwrap_or(0)))
                .collect();
            let point = usize::try_from(next() % (digits as u64 + 1)).unwrap_or(0);
            text.insert(point, '.');
            texts.push(text);
        }
        for text in &texts {
            let want: f64 = text.parse().unwrap();
            let got = plain_decimal(text.as_bytes()).unwrap_or(f64::NAN);
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
        for other in [
            "1e3",
            "+1",
            "-1",
            "1.2.3",
            ".",
            "1,5",
            "1234567890123456",
            "inf",
        ] {
            assert_eq!(plain_decimal(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn date_layouts_parse_to_the_same_day() {
        let d = days_from_civil(1997, 9, 30);
        for s in [
            "1997-09-30",
            "19970930",
            "1997-09-30T23:59:59Z",
            "1997-09-30T23:59:59.123+08:00",
            "1997-09-30 00:00:00",
        ] {
            assert_eq!(auto(s.as_bytes()), Some(d), "{s}");
        }
        for s in [
            "1997-02-30",
            "19971301",
            "1997-9-30",
            "abc",
            "1997-09-30Tgarbage!",
        ] {
            assert_eq!(auto(s.as_bytes()), None, "{s}");
        }
        assert_eq!(
            DateParser::new(Some("%d/%m/%Y")).parse(b"30/09/1997"),
            Some(d)
        );
        assert_eq!(date_of_day(d), NaiveDate::from_ymd_opt(1997, 9, 30));
        assert_eq!(
            day_number(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()),
            0
        );
    }

    #[test]
    fn ids_are_interned_in_order_of_first_appearance() {
        let mut m = IdMap::default();
        let long = [b'x'; 40];
        let seq: [&[u8]; 6] = [b"b", b"a", &long, b"b", &long, b"0123456789012345678901234"];
        let got: Vec<u32> = seq.iter().map(|id| m.index(id).unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 2, 3]);
        let ids = m.into_ids();
        assert_eq!(ids[0], "b");
        assert_eq!(ids[2].len(), 40);
        assert_eq!(ids[3], "0123456789012345678901234");
    }

    /// Several chunks' worth of rows, long ids among short ones, rows after the last day: the
    /// columns come out in file order with ids in order of first appearance, as a one-thread
    /// read gives them; a bad row in a later chunk stops the read with its line.
    #[test]
    fn rows_cross_the_threads_in_order() {
        use std::fmt::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let long = "L".repeat(30);
        let mut text = String::from("customer_id,date,amount\n");
        let mut want: Vec<(String, i32, f64)> = Vec::new();
        let rows = 3 * CHUNK + 17;
        for r in 0..rows {
            let id = match r % 7 {
                0 => format!("{long}{}", r % 5),
                _ => format!("c{}", (r * 31) % 1000),
            };
            let day = 1 + u32::try_from(r % 28).unwrap();
            let amount = f64::from(u32::try_from(r % 100).unwrap()) + 0.5;
            writeln!(text, "{id},2024-02-{day:02},{amount}").unwrap();
            want.push((id, days_from_civil(2024, 2, day), amount));
        }
        std::fs::write(&path, &text).unwrap();
        let opts = ReadOptions {
            customer_col: "customer_id",
            date_col: "date",
            amount_col: Some("amount"),
            date_format: None,
            last_day: Some(days_from_civil(2024, 2, 27)),
        };
        let got = read_transactions(&path, &opts).unwrap();
        want.retain(|(_, day, _)| *day <= days_from_civil(2024, 2, 27));
        assert_eq!(got.rows_read, u64::try_from(rows).unwrap());
        assert_eq!(got.first_day, Some(days_from_civil(2024, 2, 1)));
        assert_eq!(got.day.len(), want.len());
        let mut first_seen: Vec<&str> = Vec::new();
        for (k, (id, day, amount)) in want.iter().enumerate() {
            assert_eq!(got.customer_ids[got.customer[k] as usize], *id, "row {k}");
            assert_eq!((got.day[k], got.amount[k]), (*day, *amount), "row {k}");
            if !first_seen.contains(&id.as_str()) {
                first_seen.push(id);
            }
        }
        assert_eq!(got.customer_ids, first_seen);

        // A bad date in the third chunk: its line (header = line 1), not a partial result.
        let bad_row = 2 * CHUNK + 100;
        let mut lines: Vec<&str> = text.lines().collect();
        lines[bad_row + 1] = "c1,2024-02-30,1";
        std::fs::write(&path, lines.join("\n")).unwrap();
        let e = read_transactions(&path, &opts).unwrap_err();
        assert!(
            matches!(e, FitError::BadDate { line, .. } if line == u64::try_from(bad_row + 2).unwrap()),
            "{e:?}"
        );
    }

    #[test]
    fn amounts_reject_negative_and_non_numbers() {
        assert_eq!(parse_amount(b"12.5"), Ok(12.5));
        assert_eq!(
            parse_amount(b"1e3"),
            Ok(1000.0),
            "the general parser still reads the rest"
        );
        assert_eq!(
            parse_amount(b"1234567890123456.5"),
            Ok(1_234_567_890_123_456.5)
        );
        assert!(parse_amount(b"-1").is_err());
        assert!(parse_amount(b"x").is_err());
        assert!(parse_amount(b"NaN").is_err());
        assert!(parse_amount(b"").is_err());
    }
}
