//! The tamper-evident audit trail (内部审计): records, their canonical form, the hash chain and
//! its verification. Pure: the clock, the database and the walls around the table live elsewhere
//! (`fincrm_store::audit` and the adapters' `audit_log` migrations).
//!
//! # The chain
//! Records are numbered `seq = 1, 2, 3, …` without gaps. Each carries `prev_hash`, the `hash` of
//! the record before it ([`GENESIS_HASH`], 64 zeros, for seq 1), and its own
//! `hash = hex(SHA-256(prev_hash || canonical(seq, entry)))`, where `prev_hash` enters as its
//! 64 lowercase hex ASCII characters and the result is 64 lowercase hex characters. Editing a
//! record breaks its own hash; deleting, inserting or reordering records breaks the next
//! record's `prev_hash` link or the numbering. Cutting off the tail, or rewriting the whole
//! chain consistently, is caught only against a [`Checkpoint`] kept outside the database.
//!
//! # Canonical form (version 1)
//! [`canonical_bytes`] is the concatenation of these fields, in this order, each encoded as
//! `0x00` when absent or `0x01 || u64 big-endian byte length || UTF-8 bytes` when present:
//!
//! 1. the format tag `fincrm-audit-v1`
//! 2. `seq` in decimal ASCII (no sign, no leading zeros)
//! 3. `recorded_at` as RFC 3339 UTC with exactly six fractional digits and `Z`
//!    (`2025-03-01T08:00:00.000000Z`); finer fractions are truncated
//! 4. `actor`, 5. `action`, 6. `customer_id`, 7. `client_addr`, 8. `target_table`,
//!    9. `target_key`, 10. `before_json`, 11. `after_json`, 12. `reason`
//!
//! Length prefixes make the encoding unambiguous whatever the fields contain (separators, CR/LF,
//! escape sequences), and text is hashed byte for byte as stored: the JSON images are kept as
//! text on both engines (never re-normalised as `JSONB`), so SQLite and PostgreSQL compute
//! identical hashes for identical entries.

use crate::ValidationError;
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

/// The `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The format tag hashed first, so a later canonical form can never collide with this one.
pub const CANONICAL_TAG: &str = "fincrm-audit-v1";

/// What happened: the content of one audit record, before it is numbered and chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened (UTC; kept to the microsecond, as both engines store it).
    pub recorded_at: DateTime<Utc>,
    /// Who: the acting user's id (or a system actor such as `system:import`).
    pub actor: String,
    /// What: `<entity>.<verb>`, e.g. `customer.update`, `customer.reveal`, `session.login`.
    pub action: String,
    /// Which customer the action concerns, when it concerns one.
    pub customer_id: Option<String>,
    /// From where: the client's address, when known.
    pub client_addr: Option<String>,
    /// The table the action touched or read (`customer`, `holding`, `staff`, `export`, …).
    pub target_table: String,
    /// The key of the row within `target_table`.
    pub target_key: String,
    /// The row before a change, as JSON text (hashed as is).
    pub before_json: Option<String>,
    /// The row after a change, as JSON text (hashed as is).
    pub after_json: Option<String>,
    /// Why: the stated purpose; required for reveals and exports of personal information.
    pub reason: Option<String>,
}

impl AuditEntry {
    /// An entry with the required fields; `recorded_at` is truncated to microseconds.
    pub fn new(
        recorded_at: DateTime<Utc>,
        actor: impl Into<String>,
        action: impl Into<String>,
        target_table: impl Into<String>,
        target_key: impl Into<String>,
    ) -> Self {
        Self {
            recorded_at: recorded_at.trunc_subsecs(6),
            actor: actor.into(),
            action: action.into(),
            customer_id: None,
            client_addr: None,
            target_table: target_table.into(),
            target_key: target_key.into(),
            before_json: None,
            after_json: None,
            reason: None,
        }
    }

    /// Sets the customer concerned.
    #[must_use]
    pub fn customer(mut self, id: impl Into<String>) -> Self {
        self.customer_id = Some(id.into());
        self
    }

    /// Sets the client address.
    #[must_use]
    pub fn client_addr(mut self, addr: impl Into<String>) -> Self {
        self.client_addr = Some(addr.into());
        self
    }

    /// Sets the before image (JSON text).
    #[must_use]
    pub fn before(mut self, json: impl Into<String>) -> Self {
        self.before_json = Some(json.into());
        self
    }

    /// Sets the after image (JSON text).
    #[must_use]
    pub fn after(mut self, json: impl Into<String>) -> Self {
        self.after_json = Some(json.into());
        self
    }

    /// Sets the stated purpose.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Whether this action needs a stated purpose: reveals and exports of personal information
    /// (actions ending in `.reveal` or `.export`).
    pub fn needs_reason(&self) -> bool {
        self.action.ends_with(".reveal") || self.action.ends_with(".export")
    }

    /// Checks the entry can be recorded: who, what and target present; `action` is
    /// `<entity>.<verb>` in lowercase ASCII; identifying fields carry no control characters (so
    /// they cannot forge lines in logs); reveals and exports state a reason.
    pub fn check(&self) -> Result<(), ValidationError> {
        let required = [
            ("actor", self.actor.as_str()),
            ("action", self.action.as_str()),
            ("target_table", self.target_table.as_str()),
            ("target_key", self.target_key.as_str()),
        ];
        for (field, value) in required {
            if value.trim().is_empty() {
                return Err(ValidationError::new(field, "must not be empty"));
            }
        }
        let identifying = required.into_iter().chain([
            ("customer_id", self.customer_id.as_deref().unwrap_or("")),
            ("client_addr", self.client_addr.as_deref().unwrap_or("")),
        ]);
        for (field, value) in identifying {
            if value.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    field,
                    "must not contain control characters",
                ));
            }
        }
        let action_ok = self.action.contains('.')
            && !self.action.starts_with('.')
            && !self.action.ends_with('.')
            && self
                .action
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if !action_ok {
            return Err(ValidationError::new(
                "action",
                "must be <entity>.<verb> in lowercase ASCII, e.g. customer.update",
            ));
        }
        if self.needs_reason() && self.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(ValidationError::new(
                "reason",
                "a reveal or export must state its purpose",
            ));
        }
        Ok(())
    }
}

/// One record of the chain, as stored in `audit_log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain: 1, 2, 3, … without gaps.
    pub seq: i64,
    /// What happened.
    pub entry: AuditEntry,
    /// The previous record's `hash` ([`GENESIS_HASH`] for seq 1).
    pub prev_hash: String,
    /// `hex(SHA-256(prev_hash || canonical_bytes(seq, entry)))`.
    pub hash: String,
}

impl AuditRecord {
    /// Numbers and hashes `entry` as the record after (`prev_seq`, `prev_hash`).
    pub fn seal(prev_seq: i64, prev_hash: &str, mut entry: AuditEntry) -> Self {
        entry.recorded_at = entry.recorded_at.trunc_subsecs(6);
        let seq = prev_seq + 1;
        let hash = chain_hash(prev_hash, seq, &entry);
        Self {
            seq,
            entry,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }

    /// Chains `entries` after `head` (the last record's seq and hash; `None` for an empty log).
    pub fn chain_after(
        head: Option<(i64, &str)>,
        entries: impl IntoIterator<Item = AuditEntry>,
    ) -> Vec<Self> {
        let (mut seq, mut hash) =
            head.map_or((0, GENESIS_HASH.to_owned()), |(s, h)| (s, h.to_owned()));
        entries
            .into_iter()
            .map(|entry| {
                let record = Self::seal(seq, &hash, entry);
                seq = record.seq;
                hash.clone_from(&record.hash);
                record
            })
            .collect()
    }

    /// The hash this record's content and `prev_hash` give (equal to `hash` unless tampered).
    pub fn computed_hash(&self) -> String {
        chain_hash(&self.prev_hash, self.seq, &self.entry)
    }
}

/// The canonical bytes of a record's content (see the module documentation).
pub fn canonical_bytes(seq: i64, entry: &AuditEntry) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, value: Option<&str>) {
        match value {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                out.extend_from_slice(&(s.len() as u64).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    let seq_text = seq.to_string();
    let at = canonical_time(entry.recorded_at);
    let mut out = Vec::with_capacity(256);
    for value in [
        Some(CANONICAL_TAG),
        Some(seq_text.as_str()),
        Some(at.as_str()),
        Some(entry.actor.as_str()),
        Some(entry.action.as_str()),
        entry.customer_id.as_deref(),
        entry.client_addr.as_deref(),
        Some(entry.target_table.as_str()),
        Some(entry.target_key.as_str()),
        entry.before_json.as_deref(),
        entry.after_json.as_deref(),
        entry.reason.as_deref(),
    ] {
        field(&mut out, value);
    }
    out
}

/// `recorded_at` as hashed: RFC 3339 UTC, six fractional digits, `Z`.
pub fn canonical_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `hex(SHA-256(prev_hash || canonical_bytes(seq, entry)))`, lowercase.
pub fn chain_hash(prev_hash: &str, seq: i64, entry: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical_bytes(seq, entry));
    hex::encode(h.finalize())
}

/// A chain position recorded outside the database (`seq hash`), to catch a cut-off tail or a
/// consistent rewrite that the chain alone cannot show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The record's sequence number (0 for an empty chain).
    pub seq: i64,
    /// Its hash ([`GENESIS_HASH`] for seq 0).
    pub hash: String,
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.hash)
    }
}

impl FromStr for Checkpoint {
    type Err = ValidationError;

    /// Parses `seq hash`, as `fincrm audit checkpoint` prints it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split_whitespace();
        let (Some(seq), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ValidationError::new(
                "checkpoint",
                "expected \"SEQ HASH\" as printed by `fincrm audit checkpoint`",
            ));
        };
        let seq: i64 = seq
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ValidationError::new("checkpoint", "SEQ must be a whole number"))?;
        if hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ValidationError::new(
                "checkpoint",
                "HASH must be 64 lowercase hex digits",
            ));
        }
        Ok(Self {
            seq,
            hash: hash.to_owned(),
        })
    }
}

/// Why the chain is broken at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// The record expected at this seq is not there; the next one found has `found`.
    SequenceGap {
        /// The seq of the record found instead.
        found: i64,
    },
    /// The record's `prev_hash` is not the previous record's hash.
    PrevMismatch,
    /// The record's `hash` does not match its content.
    HashMismatch,
    /// The record at the checkpoint's seq has another hash than the checkpoint.
    CheckpointMismatch,
    /// The chain ends before the checkpoint's seq.
    CheckpointMissing {
        /// The last seq in the chain (0 when empty).
        head_seq: i64,
    },
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SequenceGap { found } => write!(
                f,
                "sequence gap: the record is missing and the next one is seq {found} \
                 (deleted or renumbered)"
            ),
            Self::PrevMismatch => f.write_str(
                "prev mismatch: prev_hash is not the previous record's hash \
                 (a record was deleted, inserted or reordered)",
            ),
            Self::HashMismatch => f.write_str(
                "hash mismatch: the hash does not match the record's content (the record was edited)",
            ),
            Self::CheckpointMismatch => f.write_str(
                "checkpoint mismatch: the record's hash differs from the checkpoint's \
                 (the chain was rewritten)",
            ),
            Self::CheckpointMissing { head_seq } => write!(
                f,
                "checkpoint record missing: the chain ends at seq {head_seq} (the tail was cut off)"
            ),
        }
    }
}

/// The first broken link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("broken at seq {seq}: {kind}")]
pub struct ChainBreak {
    /// Where the chain breaks: the first seq that is missing or does not verify.
    pub seq: i64,
    /// Why.
    pub kind: BreakKind,
}

/// A chain that verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    /// Records verified.
    pub records: u64,
    /// The last record's seq (0 when empty).
    pub head_seq: i64,
    /// The last record's hash ([`GENESIS_HASH`] when empty).
    pub head_hash: String,
}

/// Verifies a chain fed record by record in seq order, from seq 1, in constant memory.
///
/// Each record is checked in this order: its seq is the next one (else [`BreakKind::SequenceGap`]),
/// its `prev_hash` is the previous record's hash (else [`BreakKind::PrevMismatch`]), its hash
/// matches its content (else [`BreakKind::HashMismatch`]), and, at the checkpoint's seq, its
/// hash is the checkpoint's.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    records: u64,
    checkpoint: Option<Checkpoint>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new(None)
    }
}

impl ChainVerifier {
    /// A verifier for a whole chain, also checking `checkpoint` when given.
    pub fn new(checkpoint: Option<Checkpoint>) -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            records: 0,
            checkpoint,
        }
    }

    /// The seq the next record must have (where a paged reader continues).
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// Checks the next record.
    pub fn push(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        let seq = self.next_seq;
        let broken = |kind| Err(ChainBreak { seq, kind });
        if record.seq != seq {
            return broken(BreakKind::SequenceGap { found: record.seq });
        }
        if record.prev_hash != self.prev_hash {
            return broken(BreakKind::PrevMismatch);
        }
        if record.computed_hash() != record.hash {
            return broken(BreakKind::HashMismatch);
        }
        if let Some(cp) = &self.checkpoint
            && cp.seq == seq
            && cp.hash != record.hash
        {
            return broken(BreakKind::CheckpointMismatch);
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&record.hash);
        self.records += 1;
        Ok(())
    }

    /// Ends the walk: the summary, or the checkpoint's record missing from the end.
    pub fn finish(self) -> Result<ChainSummary, ChainBreak> {
        let head_seq = self.next_seq - 1;
        if let Some(cp) = &self.checkpoint {
            if cp.seq > head_seq {
                return Err(ChainBreak {
                    seq: cp.seq,
                    kind: BreakKind::CheckpointMissing { head_seq },
                });
            }
            if cp.seq == 0 && cp.hash != GENESIS_HASH {
                return Err(ChainBreak {
                    seq: 0,
                    kind: BreakKind::CheckpointMismatch,
                });
            }
        }
        Ok(ChainSummary {
            records: self.records,
            head_seq,
            head_hash: self.prev_hash,
        })
    }
}

/// Verifies a whole chain given in seq order; the first broken link, or a summary.
pub fn verify_chain<R: Borrow<AuditRecord>>(
    records: impl IntoIterator<Item = R>,
    checkpoint: Option<Checkpoint>,
) -> Result<ChainSummary, ChainBreak> {
    let mut v = ChainVerifier::new(checkpoint);
    for r in records {
        v.push(r.borrow())?;
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64, micros: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(1_740_816_000 + secs, micros * 1000)
            .single()
            .unwrap()
    }

    fn entries(n: i64) -> Vec<AuditEntry> {
        (1..=n)
            .map(|i| {
                AuditEntry::new(
                    at(i, 123_456),
                    "RM1228",
                    "customer.update",
                    "customer",
                    "C1",
                )
                .customer("C1")
                .client_addr("10.0.0.7")
                .before(format!(r#"{{"phone_masked":"138****{i:04}"}}"#))
                .after(format!(r#"{{"phone_masked":"139****{i:04}"}}"#))
            })
            .collect()
    }

    #[test]
    fn canonical_bytes_follow_the_documented_layout() {
        let e = AuditEntry::new(at(0, 0), "u1", "session.login", "staff", "u1");
        let bytes = canonical_bytes(1, &e);
        let mut expected = Vec::new();
        for v in [
            Some("fincrm-audit-v1"),
            Some("1"),
            Some("2025-03-01T08:00:00.000000Z"),
            Some("u1"),
            Some("session.login"),
            None,
            None,
            Some("staff"),
            Some("u1"),
            None,
            None,
            None,
        ] {
            match v {
                None => expected.push(0),
                Some(s) => {
                    expected.push(1);
                    expected.extend_from_slice(&(s.len() as u64).to_be_bytes());
                    expected.extend_from_slice(s.as_bytes());
                }
            }
        }
        assert_eq!(bytes, expected);
    }

    #[test]
    fn hashes_match_a_fixed_vector() {
        // Computed independently (Python hashlib over the documented layout); a change here
        // changes every stored hash and needs a new format tag.
        let e = AuditEntry::new(at(0, 0), "u1", "session.login", "staff", "u1");
        let first = AuditRecord::seal(0, GENESIS_HASH, e);
        assert_eq!(
            first.hash,
            "d267ac99cf554ee9af7a5283291b6591f7de2e53888e4a88dd6076b35b772de8"
        );
        let e2 = AuditEntry::new(at(61, 5), "RM1228", "customer.reveal", "customer", "C1")
            .customer("C1")
            .client_addr("203.0.113.9")
            .before("{\"a\":1}")
            .after("{\"a\":\"新\"}")
            .reason("客户来电核实身份");
        let second = AuditRecord::seal(1, &first.hash, e2);
        assert_eq!(second.seq, 2);
        assert_eq!(
            second.hash,
            "95088933a2f517f67ea98268bcd5e33e9b70880b60198131dda60013b89efe94"
        );
    }

    #[test]
    fn timestamps_are_hashed_to_the_microsecond() {
        let fine = Utc
            .timestamp_opt(1_740_816_000, 123_456_789)
            .single()
            .unwrap();
        let e = AuditEntry::new(fine, "u", "session.login", "staff", "u");
        assert_eq!(canonical_time(e.recorded_at), "2025-03-01T08:00:00.123456Z");
        assert_eq!(e.recorded_at.timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn an_intact_chain_verifies() {
        let chain = AuditRecord::chain_after(None, entries(10));
        let summary = verify_chain(&chain, None).unwrap();
        assert_eq!(summary.records, 10);
        assert_eq!(summary.head_seq, 10);
        assert_eq!(summary.head_hash, chain[9].hash);
        assert_eq!(chain[0].prev_hash, GENESIS_HASH);
        let cp = Checkpoint {
            seq: 10,
            hash: chain[9].hash.clone(),
        };
        assert!(verify_chain(&chain, Some(cp)).is_ok());
        assert_eq!(
            verify_chain(Vec::<AuditRecord>::new(), None)
                .unwrap()
                .head_seq,
            0
        );
    }

    #[test]
    fn chaining_in_two_steps_equals_chaining_at_once() {
        let all = AuditRecord::chain_after(None, entries(6));
        let first = AuditRecord::chain_after(None, entries(6).into_iter().take(3));
        let rest = AuditRecord::chain_after(
            Some((3, first[2].hash.as_str())),
            entries(6).into_iter().skip(3),
        );
        assert_eq!([first, rest].concat(), all);
    }

    fn broken(chain: &[AuditRecord], cp: Option<Checkpoint>) -> ChainBreak {
        verify_chain(chain, cp).unwrap_err()
    }

    #[test]
    fn an_edited_field_is_a_hash_mismatch_at_its_seq() {
        let mut chain = AuditRecord::chain_after(None, entries(10));
        chain[4].entry.actor = "mallory".into();
        assert_eq!(
            broken(&chain, None),
            ChainBreak {
                seq: 5,
                kind: BreakKind::HashMismatch
            }
        );
        let mut chain = AuditRecord::chain_after(None, entries(10));
        chain[6].entry.recorded_at += chrono::Duration::microseconds(1);
        assert_eq!(broken(&chain, None).seq, 7);
        let mut chain = AuditRecord::chain_after(None, entries(10));
        chain[2].hash = "f".repeat(64);
        assert_eq!(broken(&chain, None).kind, BreakKind::HashMismatch);
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let mut chain = AuditRecord::chain_after(None, entries(10));
        chain[4].entry.reason = Some("cover-up".into());
        chain[4].hash = chain[4].computed_hash();
        assert_eq!(
            broken(&chain, None),
            ChainBreak {
                seq: 6,
                kind: BreakKind::PrevMismatch
            }
        );
    }

    #[test]
    fn a_deleted_record_is_a_sequence_gap_at_its_seq() {
        let mut chain = AuditRecord::chain_after(None, entries(10));
        chain.remove(4);
        assert_eq!(
            broken(&chain, None),
            ChainBreak {
                seq: 5,
                kind: BreakKind::SequenceGap { found: 6 }
            }
        );
        let mut chain = AuditRecord::chain_after(None, entries(3));
        chain.remove(0);
        assert_eq!(broken(&chain, None).seq, 1);
    }

    #[test]
    fn a_deletion_hidden_by_renumbering_is_a_prev_mismatch() {
        let mut chain = AuditRecord::chain_after(None, entries(10));
        chain.remove(4);
        for r in &mut chain[4..] {
            r.seq -= 1;
        }
        assert_eq!(
            broken(&chain, None),
            ChainBreak {
                seq: 5,
                kind: BreakKind::PrevMismatch
            }
        );
    }

    #[test]
    fn reordered_records_are_a_prev_mismatch() {
        let mut chain = AuditRecord::chain_after(None, entries(10));
        chain.swap(4, 5);
        let (a, b) = (chain[4].seq, chain[5].seq);
        chain[4].seq = b;
        chain[5].seq = a;
        assert_eq!(
            broken(&chain, None),
            ChainBreak {
                seq: 5,
                kind: BreakKind::PrevMismatch
            }
        );
    }

    #[test]
    fn an_inserted_record_is_a_prev_mismatch_after_it() {
        let mut chain = AuditRecord::chain_after(None, entries(10));
        let forged = AuditRecord::seal(4, &chain[3].hash, entries(1).remove(0));
        chain.insert(4, forged);
        for r in &mut chain[5..] {
            r.seq += 1;
        }
        assert_eq!(
            broken(&chain, None),
            ChainBreak {
                seq: 6,
                kind: BreakKind::PrevMismatch
            }
        );
    }

    #[test]
    fn a_cut_tail_and_a_rewrite_are_caught_by_the_checkpoint() {
        let chain = AuditRecord::chain_after(None, entries(10));
        let cp: Checkpoint = format!("10 {}", chain[9].hash).parse().unwrap();
        assert!(verify_chain(&chain[..8], None).is_ok());
        assert_eq!(
            broken(&chain[..8], Some(cp.clone())),
            ChainBreak {
                seq: 10,
                kind: BreakKind::CheckpointMissing { head_seq: 8 }
            }
        );
        let mut rewritten = entries(10);
        rewritten[2].reason = Some("rewritten".into());
        let rewritten = AuditRecord::chain_after(None, rewritten);
        assert!(verify_chain(&rewritten, None).is_ok());
        assert_eq!(
            broken(&rewritten, Some(cp)),
            ChainBreak {
                seq: 10,
                kind: BreakKind::CheckpointMismatch
            }
        );
    }

    #[test]
    fn checkpoints_parse_and_print() {
        let cp: Checkpoint = format!("0 {GENESIS_HASH}").parse().unwrap();
        assert_eq!(cp.to_string(), format!("0 {GENESIS_HASH}"));
        assert!(verify_chain(Vec::<AuditRecord>::new(), Some(cp)).is_ok());
        for bad in [
            "",
            "1",
            "x abc",
            "-1 00",
            &format!("1 {}", "A".repeat(64)),
            &format!("1 {GENESIS_HASH} z"),
        ] {
            assert!(bad.parse::<Checkpoint>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entries_are_checked_before_recording() {
        let ok = AuditEntry::new(at(0, 0), "u1", "customer.update", "customer", "C1");
        assert!(ok.check().is_ok());
        let reveal = AuditEntry::new(at(0, 0), "u1", "customer.reveal", "customer", "C1");
        assert_eq!(reveal.check().unwrap_err().field, "reason");
        assert!(reveal.clone().reason("核实身份").check().is_ok());
        assert_eq!(
            AuditEntry::new(at(0, 0), "", "customer.update", "customer", "C1")
                .check()
                .unwrap_err()
                .field,
            "actor"
        );
        assert_eq!(
            AuditEntry::new(
                at(0, 0),
                "u1\r\nforged",
                "customer.update",
                "customer",
                "C1"
            )
            .check()
            .unwrap_err()
            .field,
            "actor"
        );
        for action in ["update", "Customer.update", ".x", "x.", "customer update"] {
            assert!(
                AuditEntry::new(at(0, 0), "u1", action, "customer", "C1")
                    .check()
                    .is_err(),
                "{action}"
            );
        }
    }
}
