//! Progress: a bar with rows/s and ETA on a terminal, plain log lines otherwise.

use fincrm_service::import::{FileReport, Progress};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shows import progress on stderr.
pub struct ImportProgress {
    bar: Option<ProgressBar>,
    /// When the file started, and when the last log line was written.
    state: Mutex<(Instant, Instant)>,
}

impl ImportProgress {
    /// A bar when stderr is a terminal, log lines every 5 s when not.
    pub fn new() -> Self {
        let now = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            state: Mutex::new((now, now)),
        }
    }
}

impl Progress for ImportProgress {
    fn file_started(&self, file: &str, bytes: u64) {
        if let Ok(mut s) = self.state.lock() {
            *s = (Instant::now(), Instant::now());
        }
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_length(bytes);
            bar.set_prefix(file.to_owned());
        } else {
            tracing::info!(file, bytes, "loading");
        }
    }

    fn advanced(&self, bytes: u64, records: u64) {
        let Ok(mut s) = self.state.lock() else { return };
        let rate = records as f64 / s.0.elapsed().as_secs_f64().max(1e-3);
        match &self.bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{records} rows, {rate:.0} rows/s"));
            }
            None => {
                if s.1.elapsed() >= Duration::from_secs(5) {
                    s.1 = Instant::now();
                    tracing::info!(records, bytes, rows_per_s = rate.round(), "import progress");
                }
            }
        }
    }

    fn file_finished(&self, report: &FileReport) {
        let elapsed = self.state.lock().map(|s| s.0.elapsed()).unwrap_or_default();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let rate = report.records as f64 / elapsed.as_secs_f64().max(1e-3);
        tracing::info!(
            file = %report.file,
            records = report.records,
            loaded = report.loaded,
            rejected = report.rejected,
            resumed_batches = report.resumed_batches,
            duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            rows_per_s = rate.round(),
            "file loaded"
        );
    }
}
