//! Loading the demo bank into a store: the generator's chunks, written as they are made.

use fincrm_demo::{DemoChunk, DemoConfig};
use fincrm_store::{Store, StoreError, TableCounts, tables};

/// Progress of a demo load.
pub trait DemoProgress: Send + Sync {
    /// `customers` of the configured total are written.
    fn customers_written(&self, customers: u64);
}

impl DemoProgress for () {
    fn customers_written(&self, _: u64) {}
}

/// Generates the demo bank of `config` and writes it into `store`, one chunk per transaction.
///
/// Chunks are generated on a blocking thread while the previous one is written, and memory
/// stays bounded by two chunks. Loading the same configuration again changes nothing (the
/// generator is deterministic and writes are upserts).
pub async fn load(
    store: &dyn Store,
    config: &DemoConfig,
    progress: &dyn DemoProgress,
) -> Result<TableCounts, StoreError> {
    let org = fincrm_demo::organisation(config);
    store
        .write(
            None,
            &[
                tables::branches(&org.branches),
                tables::staff(&org.staff),
                tables::products(&org.products),
            ],
        )
        .await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<DemoChunk>(1);
    let generator_config = config.clone();
    let generator = tokio::task::spawn_blocking(move || {
        for chunk in fincrm_demo::chunks(&generator_config) {
            if tx.blocking_send(chunk).is_err() {
                break;
            }
        }
    });
    let mut written = 0u64;
    while let Some(chunk) = rx.recv().await {
        written += chunk.customers.len() as u64;
        store
            .write(
                None,
                &[
                    tables::customers(&chunk.customers),
                    tables::coverage(&chunk.coverage),
                    tables::holdings(&chunk.holdings),
                    tables::transactions(&chunk.transactions),
                    tables::interactions(&chunk.interactions),
                    tables::relationships(&chunk.relationships),
                    tables::consents(&chunk.consents),
                    tables::corporate_values(&chunk.corporate_values),
                ],
            )
            .await?;
        progress.customers_written(written);
    }
    generator
        .await
        .map_err(|e| StoreError::Other(anyhow::anyhow!("demo generator failed: {e}")))?;
    store.detect_duplicates().await?;
    store.refresh_statistics().await?;
    store.counts().await
}
