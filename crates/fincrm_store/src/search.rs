//! The customer name search index, shared by both engines.
//!
//! Bank staff look customers up by name in Chinese characters, in pinyin (full or initials, as
//! typed on a phone keyboard) and in Latin letters. Neither engine's built-in text search does
//! that, so the store keeps its own index: table `customer_search (term, customer_id)`, one row
//! per distinct term of a customer's name, maintained by the adapters in the same transaction as
//! every customer write ([`search_batch`]).
//!
//! # Terms
//! For a name such as 王小明:
//! * every Chinese character (王, 小, 明) and every adjacent pair (王小, 小明), so a query of
//!   one character or of any run of characters matches ([`query_terms`] turns a run into its
//!   pairs, which must all match);
//! * the pinyin, lower case, without tones, ü written `v`: the whole name (`wangxiaoming`), the
//!   initials (`wxm`), the surname (`wang`) and the given name (`xiaoming`); the surname in
//!   every reading of a character with several (单 → `shan`, `dan`, `chan`), because surnames
//!   are where the everyday reading is wrong;
//! * for Latin-script names (the `name_latin` column, or a name typed in Latin letters): every
//!   word and all words joined (`zhang wei` → `zhang`, `wei`, `zhangwei`).
//!
//! Terms are matched exactly (an index lookup, in customer-number order, so a page costs the
//! same whatever the term's frequency), not by prefix: `wang` finds every 王 by surname,
//! `wangx` finds nothing.

use crate::StoreResult;
use crate::error::StoreError;
use crate::sql::{Dialect, SqlArg};
use crate::tables::{ColumnData, OnConflict, TableBatch, TableSpec};
use pinyin::{ToPinyin, ToPinyinMulti};
use std::collections::BTreeSet;

/// The index table.
pub static CUSTOMER_SEARCH: TableSpec = TableSpec {
    name: "customer_search",
    columns: &["term", "customer_id"],
    key: &["term", "customer_id"],
    on_conflict: OnConflict::Ignore,
};

/// At most this many terms of a query are matched (all must match); a longer name still
/// narrows well on its first pairs.
pub const MAX_QUERY_TERMS: usize = 6;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// Whether `c` is a CJK ideograph (unified, extension A, compatibility, and the supplementary
/// planes' extensions, where rare characters of names live).
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FFFF}')
}

/// Runs of consecutive CJK characters in `s` (anything else, such as the middle dot of 买买提·艾力,
/// separates runs).
fn cjk_runs(s: &str) -> Vec<Vec<char>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for c in s.chars() {
        if is_cjk(c) {
            run.push(c);
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Lower-case ASCII words of `s` (letters and digits; anything else separates).
fn latin_words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn plain(p: pinyin::Pinyin) -> String {
    p.plain().replace('ü', "v")
}

/// Pinyin terms of one run of characters: whole, initials, first character in all readings,
/// the rest. `None` when a character has no reading (a rare ideograph): the character terms
/// still find the customer.
fn pinyin_terms(run: &[char], out: &mut BTreeSet<String>) {
    let Some(readings) = run
        .iter()
        .map(|c| c.to_pinyin().map(plain))
        .collect::<Option<Vec<String>>>()
    else {
        return;
    };
    let rest: String = readings[1..].concat();
    let rest_initials: String = readings[1..]
        .iter()
        .filter_map(|r| r.chars().next())
        .collect();
    let mut first = BTreeSet::new();
    first.insert(readings[0].clone());
    if let Some(multi) = run[0].to_pinyin_multi() {
        first.extend(multi.into_iter().map(plain));
    }
    for surname in first {
        if let Some(initial) = surname.chars().next() {
            out.insert(format!("{initial}{rest_initials}"));
        }
        out.insert(format!("{surname}{rest}"));
        out.insert(surname);
    }
    if !rest.is_empty() {
        out.insert(rest);
    }
}

/// Every index term of a customer named `name` (with `latin`, the name in Latin script).
pub fn name_terms(name: &str, latin: Option<&str>) -> BTreeSet<String> {
    let mut terms = BTreeSet::new();
    for run in cjk_runs(name) {
        for (i, c) in run.iter().enumerate() {
            terms.insert(c.to_string());
            if let Some(next) = run.get(i + 1) {
                terms.insert([*c, *next].iter().collect());
            }
        }
        // Triples: a full three-character name is one term (one index range) rather than two
        // pairs, the rarer driving and the other probed for every candidate.
        for triple in run.windows(3) {
            terms.insert(triple.iter().collect());
        }
        pinyin_terms(&run, &mut terms);
    }
    for text in std::iter::once(name).chain(latin) {
        let words = latin_words(text);
        if words.len() > 1 {
            terms.insert(words.concat());
        }
        terms.extend(words);
    }
    terms
}

/// The terms a typed query must match, all of them: for each run of Chinese characters its
/// character triples (a run of two: the pair; a lone character: itself), else the query's Latin
/// letters and digits joined in lower case. Empty when nothing searchable is left.
pub fn query_terms(query: &str) -> Vec<String> {
    let runs = cjk_runs(query);
    let mut terms: Vec<String> = Vec::new();
    if runs.is_empty() {
        let joined = latin_words(query).concat();
        if !joined.is_empty() {
            terms.push(joined);
        }
        return terms;
    }
    for run in runs {
        match run.len() {
            1 => terms.push(run[0].to_string()),
            2 => terms.push(run.iter().collect()),
            _ => terms.extend(run.windows(3).map(|t| t.iter().collect::<String>())),
        }
    }
    let mut seen = BTreeSet::new();
    terms.retain(|t| seen.insert(t.clone()));
    terms.truncate(MAX_QUERY_TERMS);
    terms
}

fn text_column<'a>(batch: &'a TableBatch, name: &str) -> StoreResult<&'a [Option<String>]> {
    let idx = batch
        .spec
        .columns
        .iter()
        .position(|c| *c == name)
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("customer batch has no {name}")))?;
    match &batch.columns[idx] {
        ColumnData::Text(v) => Ok(v),
        _ => Err(StoreError::Other(anyhow::anyhow!(
            "customer column {name} is not text"
        ))),
    }
}

/// The index rows of customers given as `(customer_id, name, name_latin)`.
pub fn index_batch<'a>(
    customers: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> TableBatch {
    let mut terms = Vec::new();
    let mut owners = Vec::new();
    for (id, name, latin) in customers {
        for term in name_terms(name, latin) {
            terms.push(Some(term));
            owners.push(Some(id.to_owned()));
        }
    }
    TableBatch {
        spec: &CUSTOMER_SEARCH,
        columns: vec![ColumnData::Text(terms), ColumnData::Text(owners)],
    }
}

/// The index rows of a `customer` batch, and the customer ids whose old rows must go first
/// (a re-imported customer may have changed name). `None` for batches of other tables.
pub fn search_batch(batch: &TableBatch) -> StoreResult<Option<(Vec<String>, TableBatch)>> {
    if batch.spec.name != crate::tables::CUSTOMER.name {
        return Ok(None);
    }
    let ids = text_column(batch, "customer_id")?;
    let names = text_column(batch, "name")?;
    let latins = text_column(batch, "name_latin")?;
    let rows: Vec<(&str, &str, Option<&str>)> = ids
        .iter()
        .zip(names)
        .zip(latins)
        .filter_map(|((id, name), latin)| {
            Some((
                id.as_deref()?,
                name.as_deref().unwrap_or(""),
                latin.as_deref(),
            ))
        })
        .collect();
    let customers = rows.iter().map(|(id, _, _)| (*id).to_owned()).collect();
    Ok(Some((customers, index_batch(rows))))
}

/// Index rows counted per term when choosing which term drives a search (beyond this, a term is
/// simply "common").
pub const TERM_COUNT_CAP: i64 = 2000;

/// Counts one term's index rows, up to the cap bound as the second argument: SQLite counts the
/// terms one at a time (its reads are in process).
pub const TERM_COUNT_SQLITE: &str =
    "SELECT count(*) FROM (SELECT 1 FROM customer_search WHERE term = ? LIMIT ?)";

/// Counts every term's index rows in one statement: `(count, term)` for each term of the text
/// array `$1`, up to the cap `$2`. On PostgreSQL a statement a term was a round trip a term, each
/// a wait for the busy server before the search began.
pub const TERMS_COUNT_POSTGRES: &str = "SELECT (SELECT count(*) FROM (SELECT 1 \
    FROM customer_search s WHERE s.term = t.term LIMIT $2) c), t.term \
    FROM unnest($1::text[]) AS t(term)";

/// `terms` with the rarest first (it drives the search: [`find_customers_sql`]), given each
/// term's capped count; `None` when a term has no rows at all (nothing can match).
pub fn rarest_first(mut counted: Vec<(i64, String)>) -> Option<Vec<String>> {
    if counted.iter().any(|(n, _)| *n == 0) {
        return None;
    }
    counted.sort();
    Some(counted.into_iter().map(|(_, t)| t).collect())
}

/// What a customer list or name search asks for; the caller's scope is passed beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerQuery {
    /// Name-index terms that must all match ([`query_terms`]); empty for a plain list.
    pub terms: Vec<String>,
    /// Only this home branch (exactly; the scope decides the subtree).
    pub branch_id: Option<String>,
    /// Only customers of this primary RM.
    pub primary_rm: Option<String>,
    /// Only `individual` or `corporate`.
    pub kind: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only customers of this value tier in the latest completed analytics run.
    pub tier: Option<String>,
    /// Only customers in this lifecycle stage in the latest completed analytics run.
    pub stage: Option<String>,
    /// Only customers whose number sorts after this one (keyset pagination).
    pub after: Option<String>,
    /// At most this many.
    pub limit: i64,
}

/// The list filters as conditions on the customer row `c`.
fn push_filters(
    dialect: Dialect,
    args: &mut Vec<SqlArg>,
    query: &CustomerQuery,
    conds: &mut Vec<String>,
) {
    let mut p = |arg: SqlArg| crate::sql::push(dialect, args, arg);
    for (column, value) in [
        ("branch_id", &query.branch_id),
        ("primary_rm_id", &query.primary_rm),
        ("kind", &query.kind),
        ("status", &query.status),
    ] {
        if let Some(v) = value {
            let v = p(SqlArg::Text(v.clone()));
            conds.push(format!("c.{column} = {v}"));
        }
    }
    for (column, value) in [("tier", &query.tier), ("stage", &query.stage)] {
        if let Some(v) = value {
            let v = p(SqlArg::Text(v.clone()));
            conds.push(format!(
                "EXISTS (SELECT 1 FROM customer_score cs WHERE cs.customer_id = c.customer_id \
                 AND cs.{column} = {v} AND cs.run_id = (SELECT r.run_id FROM analytics_run r \
                 WHERE r.status = 'completed' ORDER BY r.as_of DESC, r.finished_at DESC LIMIT 1))"
            ));
        }
    }
}

/// The one `SELECT` of `Store::find_customers`, for both engines: customer rows (`columns`) in
/// customer-number order, inside `scope`, matching `query`.
///
/// Which table drives the page matters at a million customers: a book (an RM's few hundred
/// customers) drives from the book; a name search drives from the index's rows of the first
/// (rarest) term, which are already in customer-number order; a plain list walks the primary
/// key. The other conditions are checked per candidate.
pub fn find_customers_sql(
    dialect: Dialect,
    columns: &str,
    scope: &crate::CustomerScope,
    query: &CustomerQuery,
) -> (String, Vec<SqlArg>) {
    let mut args: Vec<SqlArg> = Vec::new();
    let mut p = |arg: SqlArg| crate::sql::push(dialect, &mut args, arg);
    let mut prefix = String::new();
    // Conditions on the customer row `c`; the page itself is keyed by `key`.
    let mut conds: Vec<String> = Vec::new();
    let mut by_index = !query.terms.is_empty();
    match scope {
        crate::CustomerScope::Book(user) => {
            let rm = p(SqlArg::Text(user.clone()));
            let cover = p(SqlArg::Text(user.clone()));
            conds.push(format!(
                "(c.primary_rm_id = {rm} OR c.customer_id IN \
                 (SELECT cv.customer_id FROM coverage cv WHERE cv.user_id = {cover}))"
            ));
            by_index = false;
        }
        crate::CustomerScope::Branches(root) => {
            let root = p(SqlArg::Text(root.clone()));
            let cast = if dialect == Dialect::Postgres {
                "::text"
            } else {
                ""
            };
            // UNION (not UNION ALL) stops at a cycle in a hand-edited tree.
            prefix = format!(
                "WITH RECURSIVE subtree(branch_id) AS (SELECT {root}{cast} \
                 UNION SELECT b.branch_id FROM branch b JOIN subtree s ON b.parent_id = s.branch_id) "
            );
            conds.push("c.branch_id IN (SELECT branch_id FROM subtree)".to_owned());
        }
        crate::CustomerScope::All => {}
    }
    let mut terms = query.terms.iter();
    let driving_term = if by_index { terms.next() } else { None };
    for term in terms {
        let t = p(SqlArg::Text(term.clone()));
        conds.push(format!(
            "EXISTS (SELECT 1 FROM customer_search s WHERE s.term = {t} \
             AND s.customer_id = c.customer_id)"
        ));
    }
    push_filters(dialect, &mut args, query, &mut conds);
    let mut p = |arg: SqlArg| crate::sql::push(dialect, &mut args, arg);
    // With a term: the index rows of the term, already in customer-number order; the customer
    // row is only probed (EXISTS), never joined, so no planner starts from `customer` and scans
    // it for a rare name.
    let page = if let Some(term) = driving_term {
        let t = p(SqlArg::Text(term.clone()));
        let mut page_conds = vec![format!("s0.term = {t}")];
        if let Some(after) = &query.after {
            page_conds.push(format!(
                "s0.customer_id > {}",
                p(SqlArg::Text(after.clone()))
            ));
        }
        if !conds.is_empty() {
            page_conds.push(format!(
                "EXISTS (SELECT 1 FROM customer c WHERE c.customer_id = s0.customer_id \
                     AND {})",
                conds.join(" AND ")
            ));
        }
        let limit = p(SqlArg::Int(query.limit));
        format!(
            "SELECT s0.customer_id FROM customer_search s0 WHERE {} \
                 ORDER BY s0.customer_id LIMIT {limit}",
            page_conds.join(" AND ")
        )
    } else {
        if let Some(after) = &query.after {
            conds.push(format!(
                "c.customer_id > {}",
                p(SqlArg::Text(after.clone()))
            ));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let limit = p(SqlArg::Int(query.limit));
        format!(
            "SELECT c.customer_id FROM customer c {filter} ORDER BY c.customer_id LIMIT {limit}"
        )
    };
    let sql = format!(
        "{prefix}SELECT {columns} FROM customer WHERE customer_id IN ({page}) ORDER BY customer_id"
    );
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(terms: &BTreeSet<String>, t: &str) -> bool {
        terms.contains(t)
    }

    #[test]
    fn a_chinese_name_is_found_by_characters_pairs_triples_and_pinyin() {
        let t = name_terms("王小明", None);
        for want in [
            "王",
            "小",
            "明",
            "王小",
            "小明",
            "王小明",
            "wangxiaoming",
            "wxm",
            "wang",
            "xiaoming",
        ] {
            assert!(has(&t, want), "{want} missing from {t:?}");
        }
        assert!(!has(&t, "王明"), "not adjacent");
    }

    #[test]
    fn a_surname_with_several_readings_is_indexed_in_each() {
        let t = name_terms("单雄信", None);
        assert!(has(&t, "shanxiongxin"), "{t:?}");
        assert!(has(&t, "sxx"), "{t:?}");
        assert!(has(&t, "shan"), "{t:?}");
    }

    #[test]
    fn u_umlaut_is_typed_as_v() {
        let t = name_terms("吕布", None);
        assert!(has(&t, "lvbu"), "{t:?}");
    }

    #[test]
    fn latin_names_are_found_by_word_and_whole() {
        let t = name_terms("张伟", Some("Zhang Wei"));
        assert!(has(&t, "zhang") && has(&t, "wei") && has(&t, "zhangwei"));
        let t = name_terms("ACME Trading Ltd", None);
        assert!(has(&t, "acme") && has(&t, "acmetradingltd"));
    }

    #[test]
    fn a_query_becomes_triples_pairs_or_joined_letters() {
        assert_eq!(query_terms("王小明"), ["王小明"]);
        assert_eq!(query_terms("欧阳娜娜"), ["欧阳娜", "阳娜娜"]);
        assert_eq!(query_terms("小明"), ["小明"]);
        assert_eq!(query_terms(" 王 "), ["王"]);
        assert_eq!(query_terms("Wang Xiao Ming"), ["wangxiaoming"]);
        assert!(query_terms("  --  ").is_empty());
        let every_query_term_is_indexed = name_terms("欧阳娜娜", None);
        for q in ["欧阳", "欧阳娜娜", "娜", "ouyangnana", "oynn"] {
            for term in query_terms(q) {
                assert!(has(&every_query_term_is_indexed, &term), "{q}: {term}");
            }
        }
    }

    #[test]
    fn the_rarest_term_drives_and_an_absent_one_ends_the_search() {
        let counted = vec![(2000, "欧阳娜".to_owned()), (12, "阳娜娜".to_owned())];
        assert_eq!(
            rarest_first(counted),
            Some(vec!["阳娜娜".to_owned(), "欧阳娜".to_owned()])
        );
        assert_eq!(
            rarest_first(vec![(5, "a".to_owned()), (0, "b".to_owned())]),
            None
        );
    }

    #[test]
    fn a_long_query_is_capped() {
        assert_eq!(
            query_terms("北京星辰科技发展有限公司").len(),
            MAX_QUERY_TERMS
        );
    }

    #[test]
    fn a_minority_name_with_a_middle_dot_splits_into_runs() {
        let t = name_terms("买买提·艾力", None);
        assert!(has(&t, "艾力") && has(&t, "买提"), "{t:?}");
        assert!(!has(&t, "提艾"));
    }
}
