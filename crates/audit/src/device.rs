//! One enabled audit device: the hash chain (when on) in front of its sink.
//!
//! With the chain on, writes to one device go through one lock, so the order
//! of seq/prev is the order on the sink. Per entry the device allocates the
//! line (entry + chain member), hashes it and hands it to the sink; storage
//! is written only with marks (every `checkpoint_entries` entries or
//! `checkpoint_interval`, on SIGHUP and on close), see [`crate::chain`].
//!
//! # Batches
//!
//! Holding the lock across each sink write would let one entry at a time
//! through. Instead a writer queues its entry and waits for its answer; the
//! writer that finds no drain running starts one (a task of its own, so a
//! writer that gives up waiting cannot stop it halfway). The drain takes
//! the lock and, while entries are queued, chains all of them and hands
//! them to the sink as one batch ([`Sink::write_batch`]), then answers each.
//! If a batch is not written the chain goes back to where it stood before
//! it, so the next line continues from the last line written. At most
//! [`QUEUE_MAX`] entries wait (a hung sink fails the rest at once).

use crate::chain::{Chain, ChainState, now_rfc3339};
use crate::sink::{Sink, SinkError};
use std::sync::{Arc, Weak};
use tokio::sync::{Mutex, oneshot};

/// An entry waiting for the drain, and where its answer goes.
type Queued = (Vec<u8>, oneshot::Sender<Result<(), SinkError>>);

/// Most entries one chained device holds waiting for its sink.
pub const QUEUE_MAX: usize = 4096;

#[derive(Default)]
struct Queue {
    entries: Vec<Queued>,
    /// A drain task is running (it clears this when it finds the queue empty).
    draining: bool,
}

pub struct Device {
    sink: Arc<dyn Sink>,
    chain: Option<Arc<Chained>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

struct Chained {
    sink: Arc<dyn Sink>,
    state: Mutex<Chain>,
    queue: std::sync::Mutex<Queue>,
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
            queue: std::sync::Mutex::default(),
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
        let (reply, answer) = oneshot::channel();
        let start_drain = {
            let mut q = c.queued();
            if q.entries.len() >= QUEUE_MAX {
                return Err(SinkError::Write(format!(
                    "audit device queue full ({QUEUE_MAX} entries waiting for the sink)"
                )));
            }
            q.entries.push((entry.to_vec(), reply));
            !std::mem::replace(&mut q.draining, true)
        };
        if start_drain {
            tokio::spawn(c.clone().drain());
        }
        answer
            .await
            .unwrap_or_else(|_| Err(SinkError::Write("audit entry dropped before it was written".into())))
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
    /// The queue (a panic elsewhere while it was held leaves it usable).
    fn queued(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write batches until the queue is empty.
    async fn drain(self: Arc<Self>) {
        let mut chain = self.state.lock().await;
        loop {
            // Let the other tasks of this worker queue their entries first: a batch of many
            // costs one hand-off to the sink (a thread wake for a file), a batch of one the same.
            tokio::task::yield_now().await;
            let batch = {
                let mut q = self.queued();
                if q.entries.is_empty() {
                    q.draining = false;
                    return;
                }
                std::mem::take(&mut q.entries)
            };
            self.write_batch(&mut chain, batch).await;
        }
    }

    /// Chain and write `batch` (under the lock), answering each entry.
    async fn write_batch(&self, chain: &mut Chain, batch: Vec<Queued>) {
        if !chain.started {
            // The resume line takes the entries' prefix, so every line of the device looks alike.
            chain.note_prefix(&batch[0].0);
            if let Err(e) = self.write_mark(chain, "resume").await {
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
                return;
            }
            chain.started = true;
        }
        let before = chain.position();
        let mut lines = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for (entry, reply) in batch {
            match chain.splice(&entry) {
                Ok(line) => {
                    chain.advance(&line);
                    lines.push(line);
                    replies.push(reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        if lines.is_empty() {
            return;
        }
        let written = self.sink.write_batch(&lines).await;
        if written.is_err() {
            chain.restore(before);
        } else {
            chain.unsigned += lines.len() as u64;
        }
        for reply in replies {
            let _ = reply.send(written.clone());
        }
        if written.is_ok() && chain.unsigned >= chain.options.checkpoint_entries {
            // The entries are written; a failed checkpoint is retried with the
            // next batch (and that batch's write reports the sink's state).
            if let Err(e) = self.write_mark(chain, "checkpoint").await {
                tracing::warn!(error = %e, "audit checkpoint not written");
            }
        }
    }

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
