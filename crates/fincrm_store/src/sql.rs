//! SQL both adapters share where only the placeholders differ: the statement text and its
//! arguments are built here once, and each adapter binds the [`SqlArg`]s in order.

use crate::TimeWindow;
use chrono::{DateTime, Utc};

/// The placeholder style of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `?` placeholders; `CROSS JOIN` fixes the join order.
    Sqlite,
    /// `$n` placeholders.
    Postgres,
}

/// A bound value, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlArg {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
    /// An instant.
    Time(DateTime<Utc>),
}

/// Adds `arg` and returns its placeholder.
pub fn push(dialect: Dialect, args: &mut Vec<SqlArg>, arg: SqlArg) -> String {
    args.push(arg);
    // Numbered on both engines (SQLite's `?N`), so a statement can use a value twice.
    match dialect {
        Dialect::Sqlite => format!("?{}", args.len()),
        Dialect::Postgres => format!("${}", args.len()),
    }
}

/// A page of one customer's time-ordered rows of `table` (with those of the records merged into
/// it), newest first, within `window`:
/// `time` and `key` name the ordering columns (the keyset), `columns` the selected ones.
pub fn time_page_sql(
    dialect: Dialect,
    columns: &str,
    table: &str,
    (time, key): (&str, &str),
    customer_id: &str,
    window: &TimeWindow,
) -> (String, Vec<SqlArg>) {
    let mut args = Vec::new();
    let mut conds = Vec::new();
    let mut p = |arg| push(dialect, &mut args, arg);
    let own = p(SqlArg::Text(customer_id.to_owned()));
    if let Some(from) = window.from {
        conds.push(format!("{time} >= {}", p(SqlArg::Time(from))));
    }
    if let Some(to) = window.to {
        conds.push(format!("{time} < {}", p(SqlArg::Time(to))));
    }
    if let Some((at, last)) = &window.before {
        let at = p(SqlArg::Time(*at));
        let last = p(SqlArg::Text(last.clone()));
        conds.push(format!("({time}, {key}) < ({at}, {last})"));
    }
    let limit = p(SqlArg::Int(window.limit));
    let sql = crate::merge::family_union(
        columns,
        table,
        &own,
        &conds,
        &format!("{time} DESC, {key} DESC"),
        Some(&limit),
    );
    (sql, args)
}
