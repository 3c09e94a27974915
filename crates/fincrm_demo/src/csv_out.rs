//! The plain CSV files of a generated bank.

use crate::chunk::RawChunk;
use crate::util::NumBuf;
use crate::{DemoConfig, DemoSummary, Generator, OrgData};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use fincrm_domain::{IdentityDocument, Money};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

type Out = csv::Writer<File>;

/// The files and their header rows, in the order they are written.
pub(crate) const FILES: &[(&str, &[&str])] = &[
    ("branches.csv", &["branch_id", "name", "parent_id", "level"]),
    ("staff.csv", &["user_id", "name", "branch_id", "role"]),
    (
        "products.csv",
        &["product_code", "name", "product_type", "risk_level"],
    ),
    (
        "customers.csv",
        &[
            "customer_id",
            "kind",
            "name",
            "name_latin",
            "id_type",
            "id_number",
            "gender",
            "birth_date",
            "phone",
            "email",
            "address",
            "branch_id",
            "primary_rm",
            "risk_tolerance",
            "opened_on",
            "status",
            "occupation",
            "ownership",
            "industry_code",
            "registered_capital",
            "founded_on",
            "group_parent",
        ],
    ),
    ("coverage.csv", &["customer_id", "user_id", "role"]),
    (
        "holdings.csv",
        &[
            "holding_id",
            "customer_id",
            "product_code",
            "product_type",
            "balance",
            "currency",
            "limit",
            "opened_on",
            "matures_on",
            "status",
        ],
    ),
    (
        "transactions.csv",
        &[
            "transaction_id",
            "customer_id",
            "holding_id",
            "posted_at",
            "amount",
            "currency",
            "direction",
            "channel",
            "counterparty",
            "kind",
            "memo",
        ],
    ),
    (
        "interactions.csv",
        &[
            "interaction_id",
            "customer_id",
            "occurred_at",
            "channel",
            "kind",
            "user_id",
            "content",
        ],
    ),
    (
        "relationships.csv",
        &["from_customer_id", "to_customer_id", "kind", "role"],
    ),
    (
        "consents.csv",
        &[
            "customer_id",
            "purpose",
            "channel",
            "recorded_at",
            "granted",
        ],
    ),
    (
        "corporate_values.csv",
        &[
            "customer_id",
            "avg_yearly_contribution",
            "contribution_growth",
            "departments_used",
            "special_background",
        ],
    ),
];

/// Appends a text field, quoted when it holds a delimiter, a quote or a line break (RFC 4180).
fn push_field(line: &mut Vec<u8>, field: &str) {
    if field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        line.push(b'"');
        for b in field.bytes() {
            if b == b'"' {
                line.push(b'"');
            }
            line.push(b);
        }
        line.push(b'"');
    } else {
        line.extend_from_slice(field.as_bytes());
    }
}

/// Writes the fields of one row with a reused number buffer, then ends the row.
struct Row<'a> {
    out: &'a mut Out,
    num: &'a mut NumBuf,
}

impl Row<'_> {
    fn s(&mut self, field: &str) -> csv::Result<&mut Self> {
        self.out.write_field(field)?;
        Ok(self)
    }

    fn opt(&mut self, field: Option<&str>) -> csv::Result<&mut Self> {
        self.out.write_field(field.unwrap_or(""))?;
        Ok(self)
    }

    fn int(&mut self, n: i64) -> csv::Result<&mut Self> {
        self.out.write_field(self.num.int(n))?;
        Ok(self)
    }

    fn money(&mut self, m: Option<Money>) -> csv::Result<&mut Self> {
        match m {
            Some(m) => self.int(m.minor),
            None => self.s(""),
        }
    }

    fn date(&mut self, d: Option<NaiveDate>) -> csv::Result<&mut Self> {
        match d {
            Some(d) => {
                self.out.write_field(self.num.date(d))?;
                Ok(self)
            }
            None => self.s(""),
        }
    }

    fn at(&mut self, at: DateTime<Utc>) -> csv::Result<&mut Self> {
        self.out.write_field(self.num.rfc3339(at.timestamp()))?;
        Ok(self)
    }

    fn end(&mut self) -> csv::Result<()> {
        self.out.write_record(None::<&[u8]>)
    }
}

fn open(dir: &Path, name: &str, header: &[&str]) -> anyhow::Result<Out> {
    let path = dir.join(name);
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1 << 18)
        .from_writer(file);
    w.write_record(header)?;
    Ok(w)
}

fn write_org(dir: &Path, org: &OrgData, num: &mut NumBuf) -> anyhow::Result<()> {
    let mut w = open(dir, FILES[0].0, FILES[0].1)?;
    for b in &org.branches {
        let mut r = Row { out: &mut w, num };
        r.s(b.id.as_str())?
            .s(&b.name)?
            .opt(b.parent.as_ref().map(fincrm_domain::BranchId::as_str))?
            .s(b.level.as_str())?
            .end()?;
    }
    w.flush()?;
    let mut w = open(dir, FILES[1].0, FILES[1].1)?;
    for u in &org.staff {
        let mut r = Row { out: &mut w, num };
        r.s(u.id.as_str())?
            .s(&u.name)?
            .s(u.branch_id.as_str())?
            .s(u.role.as_str())?
            .end()?;
    }
    w.flush()?;
    let mut w = open(dir, FILES[2].0, FILES[2].1)?;
    for p in &org.products {
        let mut r = Row { out: &mut w, num };
        let risk = format!("{}", p.risk_level);
        r.s(p.code.as_str())?
            .s(&p.name)?
            .s(p.product_type.as_str())?
            .s(&risk)?
            .end()?;
    }
    w.flush()?;
    Ok(())
}

/// The writers of the per-chunk files.
struct ChunkFiles {
    customers: Out,
    coverage: Out,
    holdings: Out,
    transactions: BufWriter<File>,
    interactions: Out,
    relationships: Out,
    consents: Out,
    corporate_values: Out,
    num: NumBuf,
    text: String,
    line: Vec<u8>,
}

impl ChunkFiles {
    fn open(dir: &Path) -> anyhow::Result<Self> {
        let o = |i: usize| open(dir, FILES[i].0, FILES[i].1);
        Ok(Self {
            customers: o(3)?,
            coverage: o(4)?,
            holdings: o(5)?,
            transactions: {
                let path = dir.join(FILES[6].0);
                let file = File::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let mut w = BufWriter::with_capacity(1 << 18, file);
                w.write_all(FILES[6].1.join(",").as_bytes())?;
                w.write_all(b"\n")?;
                w
            },
            interactions: o(7)?,
            relationships: o(8)?,
            consents: o(9)?,
            corporate_values: o(10)?,
            num: NumBuf::new(),
            text: String::with_capacity(128),
            line: Vec::with_capacity((1 << 18) + 1024),
        })
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.transactions.flush()?;
        for w in [
            &mut self.customers,
            &mut self.coverage,
            &mut self.holdings,
            &mut self.interactions,
            &mut self.relationships,
            &mut self.consents,
            &mut self.corporate_values,
        ] {
            w.flush()?;
        }
        Ok(())
    }

    fn write(&mut self, raw: &RawChunk) -> anyhow::Result<()> {
        self.customers(raw)?;
        let c = &raw.chunk;
        let num = &mut self.num;
        for cov in &c.coverage {
            let mut r = Row {
                out: &mut self.coverage,
                num,
            };
            r.s(cov.customer_id.as_str())?
                .s(cov.user_id.as_str())?
                .s(cov.role.as_str())?
                .end()?;
        }
        for h in &c.holdings {
            let mut r = Row {
                out: &mut self.holdings,
                num,
            };
            r.s(h.id.as_str())?
                .s(h.customer_id.as_str())?
                .s(h.product_code.as_str())?
                .s(h.product_type.as_str())?
                .int(h.balance.minor)?
                .s(h.balance.currency.code())?
                .money(h.limit)?
                .date(h.opened_on)?
                .date(h.matures_on)?
                .s(h.status.as_str())?
                .end()?;
        }
        self.transactions(raw)?;
        let num = &mut self.num;
        for i in &c.interactions {
            let mut r = Row {
                out: &mut self.interactions,
                num,
            };
            r.s(i.id.as_str())?
                .s(i.customer_id.as_str())?
                .at(i.at)?
                .s(i.channel.as_str())?
                .s(&i.kind)?
                .opt(i.user_id.as_ref().map(fincrm_domain::UserId::as_str))?
                .opt(i.content.as_deref())?
                .end()?;
        }
        for rel in &c.relationships {
            let mut r = Row {
                out: &mut self.relationships,
                num,
            };
            r.s(rel.from.as_str())?
                .s(rel.to.as_str())?
                .s(rel.kind.as_str())?
                .opt(rel.role.as_deref())?
                .end()?;
        }
        for con in &c.consents {
            let mut r = Row {
                out: &mut self.consents,
                num,
            };
            r.s(con.customer_id.as_str())?
                .s(con.purpose.as_str())?
                .s(con.channel.map_or("all", fincrm_domain::Channel::as_str))?
                .at(con.at)?
                .s(if con.granted { "true" } else { "false" })?
                .end()?;
        }
        for v in &c.corporate_values {
            let mut r = Row {
                out: &mut self.corporate_values,
                num,
            };
            r.s(v.customer_id.as_str())?
                .int(v.avg_yearly_contribution.minor)?
                .s(&format!("{}%", f64::from(v.contribution_growth_bp) / 100.0))?
                .int(i64::from(v.departments_used))?
                .s(if v.special_background {
                    "true"
                } else {
                    "false"
                })?
                .end()?;
        }
        Ok(())
    }

    fn customers(&mut self, raw: &RawChunk) -> anyhow::Result<()> {
        let num = &mut self.num;
        for c in &raw.chunk.customers {
            let ind = c.individual.as_ref();
            let corp = c.corporate.as_ref();
            let id_type = c.document.as_ref().map(IdentityDocument::kind);
            let id_number = c.document.as_ref().map(IdentityDocument::expose);
            let risk = c.risk_tolerance.map(|r| [b'C', b'0' + r.level()]);
            let mut r = Row {
                out: &mut self.customers,
                num,
            };
            r.s(c.id.as_str())?
                .s(c.kind.as_str())?
                .s(&c.name)?
                .opt(c.name_latin.as_deref())?
                .opt(id_type)?
                .opt(id_number)?
                .opt(
                    ind.and_then(|i| i.gender)
                        .map(fincrm_domain::Gender::as_str),
                )?
                .date(ind.and_then(|i| i.birth_date))?
                .opt(c.phone.as_ref().map(fincrm_domain::MobilePhone::expose))?
                .opt(c.email.as_deref())?
                .opt(c.address.as_deref())?
                .opt(c.branch_id.as_ref().map(fincrm_domain::BranchId::as_str))?
                .opt(c.primary_rm.as_ref().map(fincrm_domain::UserId::as_str))?
                .opt(risk.as_ref().and_then(|b| std::str::from_utf8(b).ok()))?
                .date(c.opened_on)?
                .s(c.status.as_str())?
                .opt(ind.and_then(|i| i.occupation.as_deref()))?
                .opt(
                    corp.and_then(|k| k.ownership)
                        .map(fincrm_domain::OwnershipType::as_str),
                )?
                .opt(corp.and_then(|k| k.industry_code.as_deref()))?
                .money(corp.and_then(|k| k.registered_capital))?
                .date(corp.and_then(|k| k.founded_on))?
                .opt(
                    corp.and_then(|k| k.group_parent.as_ref())
                        .map(fincrm_domain::CustomerId::as_str),
                )?
                .end()?;
        }
        Ok(())
    }

    /// Transactions are most of the output: their rows are assembled by hand (with the same
    /// RFC 4180 quoting as the csv crate's) into one buffer, which is much faster than
    /// field-by-field writing.
    fn transactions(&mut self, raw: &RawChunk) -> anyhow::Result<()> {
        let c = &raw.chunk;
        let num = &mut self.num;
        let text = &mut self.text;
        let line = &mut self.line;
        line.clear();
        for t in &raw.txs {
            line.extend_from_slice(num.prefixed(b'T', t.serial(raw.base), 12));
            line.push(b',');
            line.extend_from_slice(c.customers[t.cust as usize].id.as_str().as_bytes());
            line.push(b',');
            line.extend_from_slice(c.holdings[t.holding as usize].id.as_str().as_bytes());
            line.push(b',');
            line.extend_from_slice(num.rfc3339(t.at));
            line.push(b',');
            line.extend_from_slice(num.int(t.amount));
            line.extend_from_slice(if t.credit {
                b",CNY,credit,"
            } else {
                b",CNY,debit,"
            });
            push_field(line, t.channel);
            line.push(b',');
            text.clear();
            t.counterparty.push_to(text);
            push_field(line, text);
            line.push(b',');
            push_field(line, t.kind);
            line.push(b',');
            push_field(line, t.memo);
            line.push(b'\n');
            if line.len() >= 1 << 18 {
                self.transactions.write_all(line)?;
                line.clear();
            }
        }
        self.transactions.write_all(line)?;
        line.clear();
        Ok(())
    }
}

/// Writes the bank of a configuration as plain CSV files in `dir` (created if missing),
/// streaming chunk by chunk, and returns how many records of each kind it wrote.
///
/// The files are UTF-8 with a header row, quoted as RFC 4180 requires; an empty field is a
/// null. Amounts are integers in fen, dates `%Y-%m-%d`, instants RFC 3339 UTC
/// (`2024-08-05T06:12:03Z`), enumerations in their stored form:
///
/// - `branches.csv`: `branch_id,name,parent_id,level`
/// - `staff.csv`: `user_id,name,branch_id,role`
/// - `products.csv`: `product_code,name,product_type,risk_level`
/// - `customers.csv`: `customer_id,kind,name,name_latin,id_type,id_number,gender,birth_date,
///   phone,email,address,branch_id,primary_rm,risk_tolerance,opened_on,status,occupation,
///   ownership,industry_code,registered_capital,founded_on,group_parent`
/// - `coverage.csv`: `customer_id,user_id,role`
/// - `holdings.csv`: `holding_id,customer_id,product_code,product_type,balance,currency,limit,
///   opened_on,matures_on,status`
/// - `transactions.csv`: `transaction_id,customer_id,holding_id,posted_at,amount,currency,
///   direction,channel,counterparty,kind,memo`
/// - `interactions.csv`: `interaction_id,customer_id,occurred_at,channel,kind,user_id,content`
/// - `relationships.csv`: `from_customer_id,to_customer_id,kind,role`
/// - `consents.csv`: `customer_id,purpose,channel,recorded_at,granted` (channel `all` for every
///   channel)
/// - `corporate_values.csv`: `customer_id,avg_yearly_contribution,contribution_growth,
///   departments_used,special_background` (growth as a percentage, e.g. `6.5%`)
///
/// Chunks are generated on a second thread while the previous one is written, so at most three
/// chunks are in memory.
pub fn write_csv(config: &DemoConfig, dir: &Path) -> anyhow::Result<DemoSummary> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let generator = Generator::new(config);
    let mut summary = DemoSummary::default();
    let mut num = NumBuf::new();
    let org = generator.organisation();
    write_org(dir, org, &mut num)?;
    summary.branches = org.branches.len() as u64;
    summary.staff = org.staff.len() as u64;
    summary.products = org.products.len() as u64;

    let mut files = ChunkFiles::open(dir)?;
    let n = generator.chunk_count();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RawChunk>(1);
        let generator = &generator;
        scope.spawn(move || {
            for i in 0..n {
                if tx.send(generator.raw_chunk(i)).is_err() {
                    break;
                }
            }
        });
        for raw in rx {
            files.write(&raw)?;
            summary.add_chunk(&raw);
        }
        Ok(())
    })?;
    files.flush()?;
    Ok(summary)
}
