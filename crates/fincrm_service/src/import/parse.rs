//! Turning one source record into a domain record, through a compiled [`FileMapping`].
//!
//! Every field of the record is parsed even after one fails, so the data-quality counts see the
//! whole record and a reject names every problem, not just the first.

use super::fields::{FieldType, RecordKind};
use super::mapping::{AmountUnit, FieldSource, FileMapping, TimestampFormat};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use fincrm_domain::party::parse_name;
use fincrm_domain::{
    Branch, BranchLevel, Channel, Consent, ConsentPurpose, CorporateProfile, CorporateValue,
    Coverage, CoverageRole, Currency, Customer, CustomerId, CustomerKind, CustomerStatus,
    Direction, Gender, Holding, HoldingStatus, IdentityDocument, IndividualProfile, Interaction,
    InteractionId, MobilePhone, Money, OwnershipType, PassportNumber, Product, ProductRiskLevel,
    ProductType, Relationship, RelationshipKind, ResidentId, RiskTolerance, StaffRole, Transaction,
    UnifiedSocialCreditCode, User, ValidationError, parse_decimal_minor,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// A parsed record of any kind.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    missing_docs,
    reason = "each variant holds the domain record of the same name"
)]
pub enum Parsed {
    Branch(Branch),
    Staff(User),
    Product(Product),
    Customer(Box<Customer>),
    Coverage(Coverage),
    Holding(Holding),
    Transaction(Transaction),
    Interaction(Interaction),
    Relationship(Relationship),
    Consent(Consent),
    CorporateValue(CorporateValue),
}

/// Why one field of a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The source column (or `(default)` for a mapped constant, `(record)` for the whole record).
    pub column: String,
    /// The reason, without the rejected value when it is personal information.
    pub reason: String,
}

/// Data-quality counts of one column.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ColumnQuality {
    /// The fincrm field.
    pub field: String,
    /// The source column.
    pub column: String,
    /// Records where it was empty.
    pub missing: u64,
    /// Records where it could not be parsed.
    pub invalid: u64,
    /// Records where it was valid but written differently from fincrm's form (a phone with
    /// `+86` and spaces, a date as `2010/1/5`, a code translated by the mapping).
    pub normalised: u64,
}

/// Data-quality counts of one file, one entry per mapped field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileQuality {
    /// Per column.
    pub columns: Vec<ColumnQuality>,
}

impl FileQuality {
    /// Empty counts for every field `mapping` reads from a column.
    pub fn for_mapping(mapping: &FileMapping) -> Self {
        Self {
            columns: mapping
                .fields
                .iter()
                .map(|f| ColumnQuality {
                    field: f.field.to_owned(),
                    column: f.header.clone().unwrap_or_else(|| "(default)".to_owned()),
                    ..ColumnQuality::default()
                })
                .collect(),
        }
    }
}

/// Parses records of one file.
pub struct RecordParser<'m> {
    mapping: &'m FileMapping,
    expected_len: usize,
}

impl<'m> RecordParser<'m> {
    /// A parser for `mapping`, whose header row had `header_len` columns.
    pub fn new(mapping: &'m FileMapping, header_len: usize) -> Self {
        Self {
            mapping,
            expected_len: header_len,
        }
    }

    /// Parses one record, updating `quality`.
    pub fn parse(
        &self,
        record: &csv::StringRecord,
        quality: &mut FileQuality,
    ) -> Result<Parsed, Vec<FieldError>> {
        if record.len() != self.expected_len {
            return Err(vec![FieldError {
                column: "(record)".to_owned(),
                reason: format!(
                    "wrong number of fields: has {}, the header has {}",
                    record.len(),
                    self.expected_len
                ),
            }]);
        }
        let mut r = Reader {
            m: self.mapping,
            rec: record,
            q: quality,
            pos: 0,
            errors: Vec::new(),
        };
        let parsed = match self.mapping.kind {
            RecordKind::Branches => r.branch().map(Parsed::Branch),
            RecordKind::Staff => r.staff().map(Parsed::Staff),
            RecordKind::Products => r.product().map(Parsed::Product),
            RecordKind::Customers => r.customer().map(|c| Parsed::Customer(Box::new(c))),
            RecordKind::Coverage => r.coverage().map(Parsed::Coverage),
            RecordKind::Holdings => r.holding().map(Parsed::Holding),
            RecordKind::Transactions => r.transaction().map(Parsed::Transaction),
            RecordKind::Interactions => r.interaction().map(Parsed::Interaction),
            RecordKind::Relationships => r.relationship().map(Parsed::Relationship),
            RecordKind::Consents => r.consent().map(Parsed::Consent),
            RecordKind::CorporateValues => r.corporate_value().map(Parsed::CorporateValue),
        };
        match parsed {
            Some(p) if r.errors.is_empty() => Ok(p),
            _ => Err(r.errors),
        }
    }
}

/// Reads the fields of one record in the kind's field order.
struct Reader<'a> {
    m: &'a FileMapping,
    rec: &'a csv::StringRecord,
    q: &'a mut FileQuality,
    pos: usize,
    errors: Vec<FieldError>,
}

/// A field's value after trimming and code translation.
struct Value<'a> {
    text: Cow<'a, str>,
    /// Whether the source wrote it differently (padding, a translated code).
    changed: bool,
}

impl<'a> Reader<'a> {
    /// Moves to the next field, which must be `name`, and returns its value or `None` if empty.
    fn next(&mut self, name: &'static str) -> (usize, Option<Value<'a>>) {
        let i = self.pos;
        self.pos += 1;
        let f: &'a FieldSource = &self.m.fields[i];
        debug_assert_eq!(f.field, name, "fields must be read in the kind's order");
        let raw: Option<&'a str> = match f.index {
            Some(col) => self.rec.get(col),
            None => f.default.as_deref(),
        };
        let Some(raw) = raw else { return (i, None) };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            self.q.columns[i].missing += 1;
            return (i, None);
        }
        let padded = trimmed.len() != raw.len();
        if let Some(to) = f.codes.as_ref().and_then(|codes| codes.get(trimmed)) {
            return (
                i,
                Some(Value {
                    text: Cow::Owned(to.clone()),
                    changed: true,
                }),
            );
        }
        (
            i,
            Some(Value {
                text: Cow::Borrowed(trimmed),
                changed: padded,
            }),
        )
    }

    fn fail(&mut self, i: usize, reason: impl Into<String>) {
        self.q.columns[i].invalid += 1;
        let f = &self.m.fields[i];
        self.errors.push(FieldError {
            column: f
                .header
                .clone()
                .unwrap_or_else(|| format!("(default {})", f.field)),
            reason: reason.into(),
        });
    }

    fn normalised(&mut self, i: usize, changed: bool) {
        if changed {
            self.q.columns[i].normalised += 1;
        }
    }

    /// Reads a field with `parse`; `canonical` tells whether the parsed value reads the same as
    /// the source text (for the normalised count).
    fn field<T>(
        &mut self,
        name: &'static str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
        canonical: impl FnOnce(&T, &str) -> bool,
    ) -> Option<T> {
        let (i, v) = self.next(name);
        let Some(v) = v else {
            if required {
                self.fail(i, format!("missing {}", self.m.fields[i].field));
            }
            return None;
        };
        match parse(&v.text) {
            Ok(t) => {
                let same = canonical(&t, &v.text);
                self.normalised(i, v.changed || !same);
                Some(t)
            }
            Err(e) => {
                self.fail(i, e.reason.into_owned());
                None
            }
        }
    }

    fn id<T: std::str::FromStr<Err = ValidationError>>(
        &mut self,
        name: &'static str,
        required: bool,
    ) -> Option<T> {
        self.field(name, required, str::parse, |_, _| true)
    }

    fn name(&mut self, name: &'static str) -> Option<String> {
        self.field(name, true, |s| parse_name("name", s), |v, s| v == s)
    }

    fn text(&mut self, name: &'static str, required: bool) -> Option<String> {
        self.field(name, required, |s| Ok(s.to_owned()), |_, _| true)
    }

    fn code<T>(
        &mut self,
        name: &'static str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Option<T> {
        self.field(name, required, parse, |_, _| true)
    }

    fn date(&mut self, name: &'static str, required: bool) -> Option<NaiveDate> {
        let formats = &self.m.date_formats;
        self.field(
            name,
            required,
            |s| {
                formats
                    .iter()
                    .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
                    .ok_or_else(|| {
                        ValidationError::new(
                            name,
                            format!("invalid date (expected {})", formats.join(" or ")),
                        )
                    })
            },
            |d, s| d.format("%Y-%m-%d").to_string() == s,
        )
    }

    fn timestamp(&mut self, name: &'static str) -> Option<DateTime<Utc>> {
        let formats = &self.m.timestamp_formats;
        let tz = self.m.timezone;
        self.field(
            name,
            true,
            |s| {
                formats
                    .iter()
                    .find_map(|f| match f {
                        TimestampFormat::Rfc3339 => DateTime::parse_from_rfc3339(s)
                            .ok()
                            .map(|t| t.with_timezone(&Utc)),
                        TimestampFormat::Pattern(p) => NaiveDateTime::parse_from_str(s, p)
                            .ok()
                            .and_then(|n| n.and_local_timezone(tz).single())
                            .map(|t| t.with_timezone(&Utc)),
                    })
                    .ok_or_else(|| ValidationError::new(name, "invalid timestamp"))
            },
            |_, _| formats.first() == Some(&TimestampFormat::Rfc3339),
        )
    }

    /// An amount in minor units of `currency`, in the field's configured unit.
    fn amount(
        &mut self,
        name: &'static str,
        required: bool,
        currency: Currency,
        allow_negative: bool,
    ) -> Option<i64> {
        let unit = self.m.fields[self.pos].amount_unit;
        self.field(
            name,
            required,
            |s| {
                let exp = currency.exponent();
                let minor = match unit {
                    AmountUnit::Minor => parse_decimal_minor(s, 0),
                    AmountUnit::Major => parse_decimal_minor(s, exp),
                    AmountUnit::TenThousandMajor => parse_decimal_minor(s, exp + 4),
                }
                .map_err(|e| ValidationError::new(name, format!("invalid amount: {}", e.reason)))?;
                if minor < 0 && !allow_negative {
                    return Err(ValidationError::new(
                        name,
                        "invalid amount: must not be negative (the direction gives the sign)",
                    ));
                }
                Ok(minor)
            },
            |_, s| !s.contains(','),
        )
    }

    fn branch(&mut self) -> Option<Branch> {
        let id = self.id("branch_id", true);
        let name = self.name("name");
        let parent = self.id("parent_id", false);
        let level = self.code("level", true, BranchLevel::parse);
        Some(Branch {
            id: id?,
            name: name?,
            parent,
            level: level?,
        })
    }

    fn staff(&mut self) -> Option<User> {
        let id = self.id("user_id", true);
        let name = self.name("name");
        let branch_id = self.id("branch_id", true);
        let role = self.code("role", true, StaffRole::parse);
        Some(User {
            id: id?,
            name: name?,
            branch_id: branch_id?,
            role: role?,
        })
    }

    fn product(&mut self) -> Option<Product> {
        let code = self.id("product_code", true);
        let name = self.name("name");
        let product_type = self.code("product_type", true, ProductType::parse);
        let risk_level = self.code("risk_level", true, ProductRiskLevel::parse);
        Some(Product {
            code: code?,
            name: name?,
            product_type: product_type?,
            risk_level: risk_level?,
        })
    }

    fn customer(&mut self) -> Option<Customer> {
        let id: Option<CustomerId> = self.id("customer_id", true);
        let kind = self.code("kind", true, CustomerKind::parse);
        let name = self.name("name");
        let name_latin = self.text("name_latin", false);
        let id_type = self.code("id_type", false, |s| {
            FieldType::IdType
                .check_code_target(s)
                .map(|()| s.to_owned())
                .map_err(|r| ValidationError::new("id_type", r))
        });
        let id_type = id_type.unwrap_or_else(|| {
            if kind == Some(CustomerKind::Corporate) {
                "uscc"
            } else {
                "resident_id"
            }
            .to_owned()
        });
        let document = self.field(
            "id_number",
            false,
            |s| match id_type.as_str() {
                "passport" => PassportNumber::parse(s).map(IdentityDocument::Passport),
                "uscc" => UnifiedSocialCreditCode::parse(s).map(IdentityDocument::Uscc),
                _ => ResidentId::parse(s).map(IdentityDocument::ResidentId),
            },
            |d, s| d.expose() == s,
        );
        let uscc = self.field("uscc", false, UnifiedSocialCreditCode::parse, |c, s| {
            c.as_str() == s
        });
        let gender = self.code("gender", false, Gender::parse);
        let birth_date = self.date("birth_date", false);
        let phone = self.field("phone", false, MobilePhone::parse, |p, s| p.expose() == s);
        let email = self.text("email", false);
        let address = self.text("address", false);
        let branch_id = self.id("branch_id", false);
        let primary_rm = self.id("primary_rm", false);
        let risk_tolerance = self.code("risk_tolerance", false, RiskTolerance::parse);
        let opened_on = self.date("opened_on", false);
        let status = self.code("status", false, CustomerStatus::parse);
        let occupation = self.text("occupation", false);
        let ownership = self.code("ownership", false, OwnershipType::parse);
        let industry_code = self.text("industry_code", false);
        let capital = self.amount("registered_capital", false, Currency::Cny, false);
        let founded_on = self.date("founded_on", false);
        let group_parent = self.id("group_parent", false);

        let kind = kind?;
        let document = document.or_else(|| uscc.clone().map(IdentityDocument::Uscc));
        let mut c = Customer::individual(id?, name?);
        c.kind = kind;
        c.name_latin = name_latin;
        c.phone = phone;
        c.email = email;
        c.address = address;
        c.branch_id = branch_id;
        c.primary_rm = primary_rm;
        c.risk_tolerance = risk_tolerance;
        c.opened_on = opened_on;
        c.status = status.unwrap_or(CustomerStatus::Active);
        match kind {
            CustomerKind::Individual => {
                c.individual = Some(IndividualProfile {
                    gender,
                    birth_date: birth_date.or_else(|| match &document {
                        Some(IdentityDocument::ResidentId(r)) => Some(r.birth_date()),
                        _ => None,
                    }),
                    occupation,
                });
                c.corporate = None;
            }
            CustomerKind::Corporate => {
                c.individual = None;
                c.corporate = Some(CorporateProfile {
                    uscc: match &document {
                        Some(IdentityDocument::Uscc(u)) => Some(u.clone()),
                        _ => uscc,
                    },
                    ownership,
                    industry_code,
                    registered_capital: capital.map(|m| Money::new(m, Currency::Cny)),
                    founded_on,
                    group_parent,
                });
            }
        }
        c.document = document;
        Some(c)
    }

    fn coverage(&mut self) -> Option<Coverage> {
        let customer_id = self.id("customer_id", true);
        let user_id = self.id("user_id", true);
        let role = self.code("role", true, CoverageRole::parse);
        Some(Coverage {
            customer_id: customer_id?,
            user_id: user_id?,
            role: role?,
        })
    }

    /// The currency is read after the amounts in some layouts; peek it first so amounts get
    /// the currency's decimals.
    fn peek_currency(&self) -> Result<Currency, String> {
        let Some(i) = self.m.fields.iter().position(|f| f.field == "currency") else {
            return Ok(Currency::Cny);
        };
        let f = &self.m.fields[i];
        let raw = match f.index {
            Some(col) => self.rec.get(col).map(str::trim),
            None => f.default.as_deref(),
        };
        match raw.filter(|s| !s.is_empty()) {
            None => Ok(Currency::Cny),
            Some(s) => {
                let s = f
                    .codes
                    .as_ref()
                    .and_then(|c| c.get(s))
                    .map_or(s, String::as_str);
                Currency::parse(s).map_err(|e| e.reason.into_owned())
            }
        }
    }

    fn holding(&mut self) -> Option<Holding> {
        let currency = self.peek_currency().unwrap_or(Currency::Cny);
        let id = self.id("holding_id", true);
        let customer_id = self.id("customer_id", true);
        let product_code = self.id("product_code", true);
        let product_type = self.code("product_type", true, ProductType::parse);
        let balance = self.amount("balance", true, currency, true);
        let currency_read = self.code("currency", false, |s| {
            Currency::parse(s).map_err(|e| {
                ValidationError::new("currency", format!("unknown currency: {}", e.reason))
            })
        });
        let limit = self.amount("limit", false, currency, false);
        let opened_on = self.date("opened_on", false);
        let matures_on = self.date("matures_on", false);
        let status = self.code("status", false, HoldingStatus::parse);
        let currency = currency_read.unwrap_or(Currency::Cny);
        Some(Holding {
            id: id?,
            customer_id: customer_id?,
            product_code: product_code?,
            product_type: product_type?,
            balance: Money::new(balance?, currency),
            limit: limit.map(|m| Money::new(m, currency)),
            opened_on,
            matures_on,
            status: status.unwrap_or(HoldingStatus::Active),
        })
    }

    fn transaction(&mut self) -> Option<Transaction> {
        let currency = self.peek_currency().unwrap_or(Currency::Cny);
        let id = self.id("transaction_id", true);
        let holding_id = self.id("holding_id", true);
        let customer_id: Option<CustomerId> = self.id("customer_id", false);
        let at = self.timestamp("posted_at");
        let amount = self.amount("amount", true, currency, false);
        let direction = self.code("direction", true, Direction::parse);
        let currency_read = self.code("currency", false, |s| {
            Currency::parse(s).map_err(|e| {
                ValidationError::new("currency", format!("unknown currency: {}", e.reason))
            })
        });
        let channel = self.text("channel", false);
        let counterparty = self.text("counterparty", false);
        let kind = self.text("kind", false);
        let memo = self.text("memo", false);
        Some(Transaction {
            id: id?,
            // A missing customer number is filled in from the account's owner by the importer.
            customer_id: customer_id.unwrap_or_else(owner_placeholder),
            holding_id: holding_id?,
            at: at?,
            amount: Money::new(amount?, currency_read.unwrap_or(currency)),
            direction: direction?,
            channel,
            counterparty,
            kind,
            memo,
        })
    }

    fn interaction(&mut self) -> Option<Interaction> {
        let id: Option<InteractionId> = self.id("interaction_id", false);
        let at = self.timestamp("occurred_at");
        let customer_id: Option<CustomerId> = self.id("customer_id", true);
        let channel = self.code("channel", true, Channel::parse);
        let kind = self.text("kind", true);
        let user_id = self.id("user_id", false);
        let content = self.text("content", false);
        let (at, customer_id, channel, kind) = (at?, customer_id?, channel?, kind?);
        let id = match id {
            Some(id) => id,
            None => derived_interaction_id(
                &customer_id,
                at,
                channel,
                &kind,
                user_id.as_ref(),
                content.as_deref(),
            ),
        };
        Some(Interaction {
            id,
            customer_id,
            at,
            channel,
            kind,
            user_id,
            content,
        })
    }

    fn relationship(&mut self) -> Option<Relationship> {
        let from = self.id("from_customer_id", true);
        let to = self.id("to_customer_id", true);
        let kind = self.code("kind", true, RelationshipKind::parse);
        let role = self.text("role", false);
        Some(Relationship {
            from: from?,
            to: to?,
            kind: kind?,
            role,
        })
    }

    fn consent(&mut self) -> Option<Consent> {
        let customer_id = self.id("customer_id", true);
        let purpose = self.code("purpose", true, ConsentPurpose::parse);
        let channel = self.code("channel", false, |s| {
            if s == "all" {
                Ok(None)
            } else {
                Channel::parse(s).map(Some)
            }
        });
        let at = self.timestamp("recorded_at");
        let granted = self.code("granted", true, |s| match s {
            "true" | "1" | "Y" | "y" => Ok(true),
            "false" | "0" | "N" | "n" => Ok(false),
            _ => Err(ValidationError::new("granted", "must be true or false")),
        });
        Some(Consent {
            customer_id: customer_id?,
            purpose: purpose?,
            channel: channel.flatten(),
            granted: granted?,
            at: at?,
        })
    }
}

impl Reader<'_> {
    fn corporate_value(&mut self) -> Option<CorporateValue> {
        let customer_id = self.id("customer_id", true);
        let contribution = self.amount("avg_yearly_contribution", true, Currency::Cny, true);
        let growth = self.code("contribution_growth", true, parse_growth);
        let departments = self.code("departments_used", true, |s| {
            s.parse::<u32>().map_err(|_| {
                ValidationError::new("departments_used", "must be a whole number, 0 or more")
            })
        });
        let background = self.code("special_background", true, |s| match s {
            "true" | "1" | "Y" | "y" => Ok(true),
            "false" | "0" | "N" | "n" => Ok(false),
            _ => Err(ValidationError::new(
                "special_background",
                "must be true or false",
            )),
        });
        Some(CorporateValue {
            customer_id: customer_id?,
            avg_yearly_contribution: Money::new(contribution?, Currency::Cny),
            contribution_growth_bp: growth?,
            departments_used: departments?,
            special_background: background?,
        })
    }
}

/// A growth rate, a fraction (`0.15`) or a percentage (`15%`) between -100 % and +1,000 %, in
/// basis points.
fn parse_growth(s: &str) -> Result<i32, ValidationError> {
    let bad = || {
        ValidationError::new(
            "contribution_growth",
            "must be a rate such as 0.15 or 15%, between -100% and 1000%",
        )
    };
    let rate = match s.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => s.parse::<f64>().map_err(|_| bad())?,
    };
    if rate.is_finite() && (-1.0..=10.0).contains(&rate) {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "bounded to ±100,000 just above"
        )]
        Ok((rate * 10_000.0).round() as i32)
    } else {
        Err(bad())
    }
}

/// The customer of a transaction whose source gives none; the importer replaces it with the
/// account's owner before anything is written.
pub(crate) fn owner_placeholder() -> CustomerId {
    CustomerId::parse("-").expect("'-' is a valid identifier")
}

/// The key of an imported interaction without one: a digest of its content, so a re-import of
/// the same contact finds the same key and a different contact never collides.
fn derived_interaction_id(
    customer: &CustomerId,
    at: DateTime<Utc>,
    channel: Channel,
    kind: &str,
    user: Option<&fincrm_domain::UserId>,
    content: Option<&str>,
) -> InteractionId {
    let mut h = Sha256::new();
    for part in [
        customer.as_str(),
        &at.to_rfc3339(),
        channel.as_str(),
        kind,
        user.map_or("", |u| u.as_str()),
        content.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    let digest = hex::encode(&h.finalize()[..12]);
    InteractionId::parse(&format!("ix-{digest}"))
        .unwrap_or_else(|_| panic!("hex digest is a valid identifier"))
}
