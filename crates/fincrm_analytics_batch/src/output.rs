//! The per-customer CSV of `fincrm analytics fit --out`.

use std::fmt::Write as _;
use std::path::Path;

use crate::{CustomerResults, FitError};

/// Header of the per-customer CSV.
pub const HEADER: [&str; 8] = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary",
    "expected_purchases",
    "p_alive",
    "clv",
];

/// Writes one row per customer; columns a model does not produce are left empty.
pub(crate) fn write_customers(path: &Path, r: &CustomerResults) -> Result<(), FitError> {
    let err = |source: csv::Error| FitError::Write {
        path: path.to_owned(),
        source,
    };
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1 << 20)
        .from_path(path)
        .map_err(err)?;
    w.write_record(HEADER).map_err(err)?;
    let mut buf = String::new();
    let opt = |v: Option<&Vec<f64>>, i: usize| v.and_then(|v| v.get(i)).copied();
    for i in 0..r.id.len() {
        w.write_field(&r.id[i]).map_err(err)?;
        let cells = [
            Some(f64::from(r.frequency[i])),
            Some(r.recency[i]),
            Some(r.age[i]),
            Some(r.monetary[i]),
            opt(r.expected_purchases.as_ref(), i),
            opt(r.p_alive.as_ref(), i),
            opt(r.clv.as_ref(), i),
        ];
        for v in cells {
            buf.clear();
            if let Some(v) = v {
                // Display of f64 is the shortest string that reads back to the same value.
                let _ = write!(buf, "{v}");
            }
            w.write_field(&buf).map_err(err)?;
        }
        w.write_record(None::<&[u8]>).map_err(err)?;
    }
    w.flush().map_err(|e| err(e.into()))?;
    Ok(())
}
