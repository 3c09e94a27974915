//! A deterministic generator of a realistic synthetic Chinese bank, for `fincrm demo` and for
//! benchmarks.
//!
//! The bank has a head office (总行), ten city branches (分行) with three to six sub-branches
//! (支行) each, relationship managers (客户经理) and other staff, and a product catalogue of
//! deposits, loans, credit cards, wealth management, funds and insurance. Its customers are
//! individuals with valid resident ID numbers and mobile numbers, living in households, and
//! corporates with valid unified social credit codes, in corporate groups; they hold products
//! and make transactions over a few years, talk to the bank and give consents.
//!
//! Generation is seeded and streaming: the organisation comes from [`organisation`], and
//! customers come in chunks of [`DemoConfig::chunk_customers`] from [`chunks`]. Each chunk is
//! drawn from its own `ChaCha8` stream keyed by the seed and numbered by the chunk index, so the
//! same configuration always gives the same data, byte for byte, and chunks can be generated
//! independently (see [`Generator::chunk`]). Every reference resolves inside the chunk that
//! holds it (holdings, transactions, coverage, relationships, group parents), so a sink can
//! write chunk after chunk in memory bounded by one chunk.
//!
//! [`write_csv`] writes the whole bank as plain CSV files (see its documentation for the
//! columns), rendering transactions without per-row allocations.

mod chunk;
mod context;
mod csv_out;
mod names;
mod org;
mod party;
mod tables;
mod tx;
mod util;

use chrono::NaiveDate;
use fincrm_domain::{
    Branch, Consent, CorporateValue, Coverage, Customer, Holding, Interaction, Product,
    Relationship, Transaction, User,
};

pub use csv_out::write_csv;

/// What to generate: how many customers, from which seed, over how long a history.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Number of customers (individuals and corporates together).
    pub customers: u64,
    /// Seed of every random choice; the same configuration gives the same data.
    pub seed: u64,
    /// Mean number of transactions per customer over the whole history (the median is about
    /// 45% of it, the 99th percentile about 8.7 times it).
    pub transactions_per_customer: f64,
    /// Years of transaction history.
    pub years: u32,
    /// Last day of the history (the generator never reads the clock).
    pub end_date: NaiveDate,
    /// Share of corporate customers, 0–1.
    pub corporate_share: f64,
    /// Customers per chunk: the unit of streaming, of memory and of parallelism.
    pub chunk_customers: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            customers: 10_000,
            seed: 20_261_031,
            transactions_per_customer: 20.0,
            years: 3,
            end_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap_or(NaiveDate::MIN),
            corporate_share: 0.05,
            chunk_customers: 10_000,
        }
    }
}

/// The organisation of the bank: branches, staff and products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgData {
    /// The head office, city branches and sub-branches, parents before children.
    pub branches: Vec<Branch>,
    /// Staff: admin, head-office analysts, auditors, risk officers, marketing, branch
    /// managers, service agents and relationship managers.
    pub staff: Vec<User>,
    /// The product catalogue.
    pub products: Vec<Product>,
}

/// One chunk of customers with everything that refers to them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DemoChunk {
    /// The customers, individuals and corporates interleaved; group parents and household heads
    /// come before their members.
    pub customers: Vec<Customer>,
    /// Who covers which customer: a primary RM for everyone, co-RMs for some corporates.
    pub coverage: Vec<Coverage>,
    /// The customers' accounts and contracts.
    pub holdings: Vec<Holding>,
    /// Transactions on those holdings, grouped by customer and in time order within one.
    pub transactions: Vec<Transaction>,
    /// Contacts with the customers.
    pub interactions: Vec<Interaction>,
    /// Households, corporate groups, guarantees, legal representatives and beneficial owners.
    pub relationships: Vec<Relationship>,
    /// Consents given and withdrawn.
    pub consents: Vec<Consent>,
    /// The corporate customers' value figures, as the bank's management accounting gives them.
    pub corporate_values: Vec<CorporateValue>,
}

/// How many records of each kind were generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoSummary {
    /// Branches, including the head office.
    pub branches: u64,
    /// Members of staff.
    pub staff: u64,
    /// Products in the catalogue.
    pub products: u64,
    /// Customers.
    pub customers: u64,
    /// Coverage lines.
    pub coverage: u64,
    /// Holdings.
    pub holdings: u64,
    /// Transactions.
    pub transactions: u64,
    /// Interactions.
    pub interactions: u64,
    /// Relationships.
    pub relationships: u64,
    /// Consent records.
    pub consents: u64,
    /// Corporate value figures.
    pub corporate_values: u64,
}

impl DemoSummary {
    /// All records together.
    pub fn total(&self) -> u64 {
        self.branches
            + self.staff
            + self.products
            + self.customers
            + self.coverage
            + self.holdings
            + self.transactions
            + self.interactions
            + self.relationships
            + self.consents
            + self.corporate_values
    }

    fn add_chunk(&mut self, chunk: &chunk::RawChunk) {
        let c = &chunk.chunk;
        self.customers += c.customers.len() as u64;
        self.coverage += c.coverage.len() as u64;
        self.holdings += c.holdings.len() as u64;
        self.transactions += chunk.txs.len() as u64;
        self.interactions += c.interactions.len() as u64;
        self.relationships += c.relationships.len() as u64;
        self.consents += c.consents.len() as u64;
        self.corporate_values += c.corporate_values.len() as u64;
    }
}

/// A generator for one configuration: the organisation and the calendar built once, chunks on
/// demand. It is `Sync`, so chunks may be generated on several threads.
pub struct Generator {
    ctx: context::Context,
}

impl Generator {
    /// Builds the organisation and the calendar of a configuration.
    pub fn new(config: &DemoConfig) -> Self {
        Self {
            ctx: context::Context::new(config),
        }
    }

    /// The organisation: branches, staff and products.
    pub fn organisation(&self) -> &OrgData {
        &self.ctx.org.data
    }

    /// The number of chunks the configuration makes.
    pub fn chunk_count(&self) -> u64 {
        let per = self.ctx.config.chunk_customers.max(1) as u64;
        self.ctx.config.customers.div_ceil(per)
    }

    /// Chunk number `index` (from 0): the same for the same configuration, whichever other
    /// chunks are generated and in whatever order.
    pub fn chunk(&self, index: u64) -> DemoChunk {
        chunk::generate(&self.ctx, index).into_chunk()
    }

    fn raw_chunk(&self, index: u64) -> chunk::RawChunk {
        chunk::generate(&self.ctx, index)
    }
}

/// The organisation of the bank of a configuration.
pub fn organisation(config: &DemoConfig) -> OrgData {
    org::build(config).data
}

/// The customers of a configuration, chunk after chunk; one chunk is in memory at a time.
pub fn chunks(config: &DemoConfig) -> impl Iterator<Item = DemoChunk> + use<> {
    let generator = Generator::new(config);
    (0..generator.chunk_count()).map(move |i| generator.chunk(i))
}

#[cfg(test)]
mod tests;
