//! The `fincrm` binary: one program, several roles (see `docs/ARCHITECTURE.md`).

mod auth;
mod config;
mod keys;
mod progress;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use config::Config;
use fincrm_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The process's allocator (Rust's allocations; SQLite's own go through libc). Measured under
/// the API benchmark, where glibc's malloc took about 14 % of the server's CPU: see the README.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// fincrm — customer relationship management for banks and insurers (金融客户关系管理).
#[derive(Parser)]
#[command(name = "fincrm", version, about)]
struct Cli {
    /// Configuration file (TOML); see `fincrm config example`.
    #[arg(long, global = true, env = "FINCRM_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: `sqlite://fincrm.db` (default) or `postgres://…`. Overrides the config file
    /// and `FINCRM_DATABASE_URL`.
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the demo bank (deterministic) into the database, or as CSV files with --out.
    Demo(DemoArgs),
    /// Import a core-banking extract (a directory of CSV files) through a mapping.
    Import(ImportArgs),
    /// Apply database migrations.
    Migrate,
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Analytics for analysts (no database needed for `fit`).
    #[command(subcommand)]
    Analytics(AnalyticsCommand),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Value-tier and lifecycle rules (versioned; every change is audited).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The tamper-evident audit trail: verify the hash chain, print checkpoints.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Local users: set a password.
    #[command(subcommand)]
    Users(auth::UsersCommand),
    /// API tokens for integrations: create (shown once), list, revoke.
    #[command(subcommand)]
    Tokens(auth::TokensCommand),
    /// Field-encryption keys: create a key file, re-encrypt under the active key.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the whole hash chain: prints `ok: …` (exit 0) or the first broken link (exit 1).
    Verify {
        /// A checkpoint printed earlier by `fincrm audit checkpoint` ("SEQ HASH"): the chain must
        /// still hold that record with that hash (catches a cut-off tail or a rewrite).
        #[arg(long, value_name = "SEQ HASH")]
        checkpoint: Option<fincrm_store::audit::Checkpoint>,
    },
    /// Print the chain's head as `SEQ HASH`, to keep outside the database.
    Checkpoint,
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Number of customers.
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// Seed: the same seed gives the same bank.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Mean transactions per customer over the history.
    #[arg(long, default_value_t = 20.0)]
    transactions_per_customer: f64,
    /// Write fincrm's plain CSV files into this directory instead of the database.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Serve the API once the demo bank is loaded.
    #[arg(long, conflicts_with = "out")]
    serve: bool,
    /// Address to serve on (with --serve).
    #[arg(long)]
    listen: Option<String>,
}

#[derive(clap::Args)]
struct ImportArgs {
    /// Directory holding the extract's files.
    dir: PathBuf,
    /// Mapping file (TOML); without it, fincrm's own CSV layout is read.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Validate and report without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Where reject files and quality.json go.
    #[arg(long, default_value = "import-report")]
    report_dir: PathBuf,
    /// Source records per batch (one transaction each).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    listen: Option<String>,
    /// Run the analytics every night at this Beijing time (HH:MM), for the day before. Safe with
    /// several `serve` processes: only one starts each day's run.
    #[arg(long, value_name = "HH:MM")]
    nightly_analytics: Option<chrono::NaiveTime>,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Print the rules in force (`tiers` or `lifecycle`) as JSON, with their version.
    Show {
        /// `tiers` or `lifecycle`.
        kind: String,
    },
    /// Save a new version of the rules from a TOML or JSON file.
    Set {
        /// `tiers` or `lifecycle`.
        kind: String,
        /// The rules file.
        file: PathBuf,
        /// Who makes the change (recorded in the audit trail).
        #[arg(long)]
        actor: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
}

#[derive(Subcommand)]
enum AnalyticsCommand {
    /// Fit a customer-base model to a transaction CSV (no database needed).
    Fit(FitCli),
    /// Score every customer in the database: RFM, P(alive), CLV, tier, lifecycle stage.
    Run(RunCli),
}

#[derive(clap::Args)]
struct RunCli {
    /// The day the scores describe (default: yesterday, Beijing time).
    #[arg(long)]
    as_of: Option<chrono::NaiveDate>,
    /// Continue a run that was started and did not complete.
    #[arg(long)]
    resume: bool,
    /// Customers per page.
    #[arg(long, default_value_t = 20_000)]
    page_size: i64,
}

#[derive(clap::Args)]
struct FitCli {
    /// Transaction CSV file.
    #[arg(long)]
    transactions: PathBuf,
    /// Column holding the customer id.
    #[arg(long)]
    customer_col: String,
    /// Column holding the transaction date.
    #[arg(long)]
    date_col: String,
    /// Column holding the amount (needed for Gamma-Gamma and CLV).
    #[arg(long)]
    amount_col: Option<String>,
    /// Date format (chrono strftime); default: ISO dates, %Y%m%d or timestamps.
    #[arg(long)]
    date_format: Option<String>,
    /// Last day of the calibration period (YYYY-MM-DD).
    #[arg(long)]
    calibration_end: chrono::NaiveDate,
    /// Time unit of the model: day, week or month.
    #[arg(long)]
    period: fincrm_analytics_batch::Period,
    /// Model to fit: bgnbd, pnbd, gamma-gamma or bgbb.
    #[arg(long)]
    model: fincrm_analytics_batch::Model,
    /// Predict purchases over this many periods.
    #[arg(long)]
    predict: Option<f64>,
    /// Write per-customer predictions to this CSV.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FINCRM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Opens the store a database URL names, running migrations.
async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    Ok(open_stores(url).await?.store)
}

/// One database seen through each of its ports: the adapter is opened once and cloned (its pools
/// are shared), so `fincrm serve` runs one SQLite writer pool, not one per port.
struct Stores {
    store: Arc<dyn Store>,
    audit: Arc<dyn fincrm_store::AuditStore>,
    auth: Arc<dyn fincrm_store::AuthStore>,
}

fn ports<S>(store: S) -> Stores
where
    S: Store + fincrm_store::AuditStore + fincrm_store::AuthStore + Clone + 'static,
{
    Stores {
        store: Arc::new(store.clone()),
        audit: Arc::new(store.clone()),
        auth: Arc::new(store),
    }
}

/// Opens the database a URL names, running migrations, as its three ports.
pub(crate) async fn open_stores(url: &str) -> Result<Stores> {
    let redacted = config::redact_url(url);
    // Personal information is sealed when FINCRM_KEY_FILE / FINCRM_KEYS is set (docs/KEYS.md).
    let keyring = keys::keyring_from_env()?;
    let stores = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = fincrm_store_pg::PgStore::connect(url)
            .await
            .with_context(|| format!("connecting to {redacted}"))?;
        ports(match keyring {
            Some(k) => store.with_keyring(k),
            None => store,
        })
    } else if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let store = fincrm_store_sqlite::SqliteStore::open(Path::new(path))
            .await
            .with_context(|| format!("opening {redacted}"))?;
        ports(match keyring {
            Some(k) => store.with_keyring(k),
            None => store,
        })
    } else {
        bail!("unsupported database URL {redacted:?}: use sqlite://FILE or postgres://…");
    };
    stores
        .store
        .migrate()
        .await
        .with_context(|| format!("migrating {redacted}"))?;
    Ok(stores)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[expect(clippy::print_stdout, reason = "the CLI's output is its interface")]
async fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(db) = cli.database {
        config.database = db;
    }
    tracing::debug!(?config, "configuration");
    match cli.command {
        Command::Config(ConfigCommand::Example) => print!("{}", config::EXAMPLE),
        Command::Rules(cmd) => rules(&config, cmd).await?,
        Command::Migrate => {
            open_store(&config.database).await?;
            tracing::info!(database = %config::redact_url(&config.database), "migrations applied");
        }
        Command::Serve(args) => {
            let stores = open_stores(&config.database).await?;
            auth::bootstrap_admin(&config.database).await?;
            if let Some(at) = args.nightly_analytics {
                tokio::spawn(nightly_analytics(Arc::clone(&stores.store), at));
            }
            serve(
                stores,
                args.listen.as_deref().unwrap_or(&config.listen),
                &config.trusted_proxies,
                config.auth.auth_config()?,
            )
            .await?;
        }
        Command::Analytics(AnalyticsCommand::Run(args)) => {
            let store = open_store(&config.database).await?;
            let mut options = fincrm_service::analytics::RunOptions::new(
                args.as_of.unwrap_or_else(yesterday_in_beijing),
            );
            options.resume = args.resume;
            options.page_size = args.page_size.max(1);
            let report = fincrm_service::analytics::run(store.as_ref(), &options, &RunLog).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Demo(args) => demo(&config, args).await?,
        Command::Import(args) => return import(&config, args).await,
        Command::Audit(cmd) => return audit(&config, cmd).await,
        Command::Users(cmd) => auth::users(&config.database, cmd).await?,
        Command::Tokens(cmd) => auth::tokens(&config.database, cmd).await?,
        Command::Keys(cmd) => keys::run(cmd, async || open_store(&config.database).await).await?,
        Command::Analytics(AnalyticsCommand::Fit(args)) => {
            let json = args.json;
            let report = fincrm_analytics_batch::fit(&fit_args(args))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "model {} on {} customers: log-likelihood {:.6}",
                    report.model, report.customers, report.loglik
                );
                for (name, value) in &report.params {
                    let se = report
                        .std_errors
                        .get(name)
                        .map(|s| format!(" (s.e. {s:.6})"))
                        .unwrap_or_default();
                    println!("  {name} = {value:.6}{se}");
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn fit_args(a: FitCli) -> fincrm_analytics_batch::FitArgs {
    let mut args = fincrm_analytics_batch::FitArgs::new(a.transactions, a.calibration_end);
    args.customer_col = a.customer_col;
    args.date_col = a.date_col;
    args.amount_col = a.amount_col;
    args.date_format = a.date_format;
    args.period = a.period;
    args.model = a.model;
    args.predict = a.predict;
    args.out = a.out;
    args
}

fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

fn yesterday_in_beijing() -> chrono::NaiveDate {
    let today = chrono::Utc::now().with_timezone(&beijing()).date_naive();
    today.pred_opt().unwrap_or(today)
}

struct RunLog;

impl fincrm_service::analytics::RunProgress for RunLog {
    fn progressed(&self, phase: &'static str, done: usize) {
        if done % 100_000 < 20_000 {
            tracing::info!(phase, customers = done, "analytics progress");
        }
    }
}

/// Sleeps until `at` Beijing time each day and runs the analytics for the day before. A run
/// another process started already is skipped (the run id is the lock).
async fn nightly_analytics(store: Arc<dyn Store>, at: chrono::NaiveTime) {
    loop {
        let now = chrono::Utc::now().with_timezone(&beijing());
        let mut next = now.date_naive().and_time(at);
        if next <= now.naive_local() {
            next += chrono::Duration::days(1);
        }
        let wait = (next - now.naive_local()).to_std().unwrap_or_default();
        tracing::info!(next_run = %next, "nightly analytics scheduled (Beijing time)");
        tokio::time::sleep(wait).await;
        let options = fincrm_service::analytics::RunOptions::new(yesterday_in_beijing());
        match fincrm_service::analytics::run(store.as_ref(), &options, &RunLog).await {
            Ok(r) if r.already_completed => {
                tracing::info!(run_id = %r.run_id, "nightly analytics already done");
            }
            Ok(r) => {
                tracing::info!(run_id = %r.run_id, customers = r.customers, "nightly analytics completed");
            }
            Err(e) => tracing::error!(error = %e, "nightly analytics failed"),
        }
    }
}

async fn serve(
    stores: Stores,
    listen: &str,
    trusted_proxies: &[std::net::IpAddr],
    auth_config: fincrm_service::auth::AuthConfig,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving; health at /health, API at /api/v1");
    // Views, reveals and PI lookups each append an audit record: group-commit them.
    let audit = fincrm_service::audit_batch::group_commit(stores.audit);
    let mut state = fincrm_http::AppState::new(
        stores.store,
        audit,
        Arc::new(fincrm_service::auth::Auth::new(stores.auth, auth_config)),
    );
    state.edge = Arc::new(fincrm_http::edge::EdgeSettings {
        trusted_proxies: trusted_proxies.to_vec(),
        ..fincrm_http::edge::EdgeSettings::default()
    });
    fincrm_http::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so requests in flight finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

#[expect(clippy::print_stdout, reason = "the CLI's output is its interface")]
async fn demo(config: &Config, args: DemoArgs) -> Result<()> {
    let demo = fincrm_demo::DemoConfig {
        customers: args.customers,
        seed: args.seed,
        transactions_per_customer: args.transactions_per_customer,
        ..fincrm_demo::DemoConfig::default()
    };
    let started = std::time::Instant::now();
    if let Some(dir) = args.out {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let summary =
            tokio::task::spawn_blocking(move || fincrm_demo::write_csv(&demo, &dir)).await??;
        println!("{summary:#?}");
        tracing::info!(
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "demo CSV written"
        );
        return Ok(());
    }
    let stores = open_stores(&config.database).await?;
    let progress = DemoBar::new(args.customers);
    let counts = fincrm_service::demo::load(stores.store.as_ref(), &demo, &progress).await?;
    progress.finish();
    println!("{}", serde_json::to_string_pretty(&counts)?);
    tracing::info!(duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), database = %config::redact_url(&config.database), "demo bank loaded");
    if args.serve {
        auth::bootstrap_admin(&config.database).await?;
        serve(
            stores,
            args.listen.as_deref().unwrap_or(&config.listen),
            &config.trusted_proxies,
            config.auth.auth_config()?,
        )
        .await?;
    }
    Ok(())
}

struct DemoBar(Option<indicatif::ProgressBar>);

impl DemoBar {
    fn new(total: u64) -> Self {
        use std::io::IsTerminal;
        Self(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "demo [{bar:30}] {pos}/{len} customers {per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        }))
    }
    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl fincrm_service::demo::DemoProgress for DemoBar {
    fn customers_written(&self, customers: u64) {
        if let Some(b) = &self.0 {
            b.set_position(customers);
        } else {
            tracing::info!(customers, "demo progress");
        }
    }
}

#[expect(clippy::print_stdout, reason = "the CLI's output is its interface")]
async fn import(config: &Config, args: ImportArgs) -> Result<std::process::ExitCode> {
    use fincrm_service::import::{ImportOptions, Mapping, import, plain_mapping};
    let mapping = match &args.mapping {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading mapping {}", path.display()))?;
            Mapping::from_toml(&text).with_context(|| format!("mapping {}", path.display()))?
        }
        None => plain_mapping(),
    };
    if !args.dir.is_dir() {
        bail!("{} is not a directory of extract files", args.dir.display());
    }
    let store = open_store(&config.database).await?;
    let options = ImportOptions {
        batch_size: args.batch_size.unwrap_or(config.import.batch_size),
        dry_run: args.dry_run,
        report_dir: args.report_dir,
    };
    let progress = progress::ImportProgress::new();
    let report = import(store.as_ref(), &mapping, &args.dir, &options, &progress).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        eprint!("{}", report.quality_text());
        println!(
            "{}{} records loaded, {} rejected{}; report in {}",
            if report.dry_run { "dry run: " } else { "" },
            report.loaded(),
            report.rejected(),
            report
                .duplicate_candidates
                .map(|d| format!(", {d} duplicate candidates"))
                .unwrap_or_default(),
            options.report_dir.display()
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Opens an existing database's stores: like [`open_stores`], but a SQLite file that does not
/// exist is an error, so a mistyped path never verifies as an empty audit chain or creates an
/// empty database for a credential command.
pub(crate) async fn open_existing_stores(url: &str) -> Result<Stores> {
    let sqlite_path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    if let Some(path) = sqlite_path.filter(|p| !Path::new(p).exists()) {
        bail!(
            "{} does not exist",
            config::redact_url(&format!("sqlite://{path}"))
        );
    }
    open_stores(url).await
}

#[expect(clippy::print_stdout, reason = "the CLI's output is its interface")]
async fn audit(config: &Config, cmd: AuditCommand) -> Result<std::process::ExitCode> {
    use fincrm_store::audit::{GENESIS_HASH, VERIFY_PAGE, verify};
    let store = open_existing_stores(&config.database).await?.audit;
    match cmd {
        AuditCommand::Checkpoint => {
            let (seq, hash) = store
                .head()
                .await?
                .unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
            println!("{seq} {hash}");
        }
        AuditCommand::Verify { checkpoint } => {
            match verify(store.as_ref(), checkpoint, VERIFY_PAGE).await? {
                Ok(s) => println!(
                    "ok: {} records, head seq {} hash {}",
                    s.records, s.head_seq, s.head_hash
                ),
                Err(broken) => {
                    println!("{broken}");
                    return Ok(std::process::ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[expect(clippy::print_stdout, reason = "the CLI's output is its interface")]
async fn rules(config: &Config, cmd: RulesCommand) -> Result<()> {
    use fincrm_service::rules;
    let store = open_store(&config.database).await?;
    match cmd {
        RulesCommand::Show { kind } => {
            let (version, body) = match kind.as_str() {
                "tiers" => {
                    let (v, r) = rules::tier_rules(store.as_ref()).await?;
                    (v, serde_json::to_value(r)?)
                }
                "lifecycle" => {
                    let (v, r) = rules::lifecycle_rules(store.as_ref()).await?;
                    (v, serde_json::to_value(r)?)
                }
                other => bail!("unknown rules {other:?}: use tiers or lifecycle"),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "kind": kind, "version": version, "rules": body })
                )?
            );
        }
        RulesCommand::Set { kind, file, actor } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let version = match kind.as_str() {
                "tiers" => rules::save_tier_rules(store.as_ref(), &text, &actor).await?,
                "lifecycle" => rules::save_lifecycle_rules(store.as_ref(), &text, &actor).await?,
                other => bail!("unknown rules {other:?}: use tiers or lifecycle"),
            };
            println!("saved {kind} rules version {version}");
        }
    }
    Ok(())
}
