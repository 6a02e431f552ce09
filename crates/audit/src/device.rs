//! One enabled audit device: the hash chain (when on) in front of its sink.
//!
//! With the chain on, writes to one device go through one lock, so the order
//! of seq/prev is the order on the sink. Per entry the device allocates the
//! line (entry + chain member), hashes it and hands it to the sink; storage
//! is written only with marks (every `checkpoint_entries` entries or
//! `checkpoint_interval`, on SIGHUP and on close), see [`crate::chain`].

use crate::chain::{Chain, ChainState, now_rfc3339};
use crate::sink::{Sink, SinkError};
use std::sync::{Arc, Weak};
use tokio::sync::Mutex;

pub struct Device {
    sink: Arc<dyn Sink>,
    chain: Option<Arc<Chained>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

struct Chained {
    sink: Arc<dyn Sink>,
    state: Mutex<Chain>,
}

impl Device {
    /// A device without a chain (`chain="false"`): plain Vault lines.
    pub fn new(sink: Arc<dyn Sink>) -> Device {
        Device {
            sink,
            chain: None,
            ticker: None,
        }
    }

    /// A chained device continuing from `state.resume`. Its first write is
    /// preceded by a signed `resume` line. Inside a tokio runtime a task
    /// writes a checkpoint every `checkpoint_interval` while entries are
    /// unsigned; it ends with the device.
    pub fn with_chain(sink: Arc<dyn Sink>, state: ChainState) -> Device {
        let every = state.options.checkpoint_interval;
        let chained = Arc::new(Chained {
            sink: sink.clone(),
            state: Mutex::new(Chain::new(state)),
        });
        let ticker = tokio::runtime::Handle::try_current()
            .ok()
            .map(|rt| rt.spawn(tick(Arc::downgrade(&chained), every)));
        Device {
            sink,
            chain: Some(chained),
            ticker,
        }
    }

    pub fn chained(&self) -> bool {
        self.chain.is_some()
    }

    /// Write one entry (a JSON object, no newline; bytes before its first
    /// `{` are a prefix, kept and not hashed).
    pub async fn write(&self, entry: &[u8]) -> Result<(), SinkError> {
        let Some(c) = &self.chain else {
            return self.sink.write(entry).await;
        };
        let mut chain = c.state.lock().await;
        if !chain.started {
            // The resume line takes the entries' prefix, so every line of the device looks alike.
            chain.note_prefix(entry);
            c.write_mark(&mut chain, "resume").await?;
            chain.started = true;
        }
        let line = chain.splice(entry)?;
        c.sink.write(&line).await?;
        chain.advance(&line);
        chain.unsigned += 1;
        if chain.unsigned >= chain.options.checkpoint_entries {
            // The entry is written; a failed checkpoint is retried with the
            // next entry (and that entry's write reports the sink's state).
            if let Err(e) = c.write_mark(&mut chain, "checkpoint").await {
                tracing::warn!(error = %e, "audit checkpoint not written");
            }
        }
        Ok(())
    }

    /// SIGHUP: reopen the sink, then start the new file with a checkpoint
    /// so it can be verified on its own.
    pub async fn reopen(&self) -> Result<(), SinkError> {
        let Some(c) = &self.chain else {
            return self.sink.reopen().await;
        };
        let mut chain = c.state.lock().await;
        c.sink.reopen().await?;
        if chain.started {
            c.write_mark(&mut chain, "checkpoint").await?;
        }
        Ok(())
    }

    /// Sign what is unsigned, then close the sink.
    pub async fn close(&self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if let Some(c) = &self.chain {
            let mut chain = c.state.lock().await;
            if chain.started
                && chain.unsigned > 0
                && let Err(e) = c.write_mark(&mut chain, "checkpoint").await
            {
                tracing::warn!(error = %e, "final audit checkpoint not written");
            }
        }
        self.sink.close().await
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

impl Chained {
    /// Write a mark line and store where the chain now stands.
    async fn write_mark(&self, chain: &mut Chain, kind: &'static str) -> Result<(), SinkError> {
        let (line, checkpoint) = chain.mark(kind, &now_rfc3339());
        self.sink.write(&line).await?;
        let point = chain.marked(&line, checkpoint);
        if let Err(e) = chain.store.save(&point).await {
            metrics::counter!("vault.audit.chain.store_failure").increment(1);
            tracing::error!(error = %e, seq = point.next_seq, "audit chain position not stored; a restart resumes from the previous mark");
        }
        Ok(())
    }
}

/// Every `every`, a checkpoint if entries are unsigned and the last mark is
/// at least `every` old.
async fn tick(device: Weak<Chained>, every: std::time::Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(c) = device.upgrade() else { return };
        let mut chain = c.state.lock().await;
        if chain.started
            && chain.unsigned > 0
            && chain.last_mark.elapsed() >= every.mul_f32(0.95)
            && let Err(e) = c.write_mark(&mut chain, "checkpoint").await
        {
            tracing::warn!(error = %e, "timed audit checkpoint not written");
        }
    }
}
