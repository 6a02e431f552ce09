//! Webhook deliveries. Each webhook of each rule has its own task and its
//! own bounded queue, so a webhook that hangs or fails delays only its own
//! alerts: the rule task hands alerts over with `try_send` (a full queue
//! drops the alert and counts `coffer.alerts.dropped{queue="deliveries"}`).
//! A task sends at most `per_minute` alerts a minute (evenly spaced), bounds
//! each attempt by the webhook's `timeout`, and retries a failed attempt
//! (transport error, timeout, 429 or 5xx) with exponential backoff, up to
//! `max_attempts` attempts. The URL is never logged: messages name the rule
//! and the URL's scheme and host.

use super::format;
use super::rule::Webhook;
use super::window::Alert;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Alerts waiting for one webhook; more are dropped (and counted).
pub const DELIVERY_QUEUE: usize = 64;
/// First retry delay; doubled each attempt, at most [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The HTTP client every delivery uses: no redirects (a webhook answers
/// itself), a connect timeout, no cookies.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("coffer-alerts/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// One webhook's queue (its task ends when this is dropped and the queue is drained).
pub struct Destination {
    tx: mpsc::Sender<Arc<Alert>>,
}

impl Destination {
    pub fn spawn(client: reqwest::Client, rule: &str, hook: &Webhook) -> Destination {
        let (tx, rx) = mpsc::channel(DELIVERY_QUEUE);
        tokio::spawn(run(client, rule.to_string(), hook.clone(), rx));
        Destination { tx }
    }

    /// Queue an alert without waiting.
    pub fn send(&self, alert: Arc<Alert>) {
        if self.tx.try_send(alert).is_err() {
            metrics::counter!("coffer.alerts.dropped", "queue" => "deliveries").increment(1);
        }
    }
}

async fn run(
    client: reqwest::Client,
    rule: String,
    hook: Webhook,
    mut rx: mpsc::Receiver<Arc<Alert>>,
) {
    let spacing = Duration::from_secs(60) / hook.per_minute.max(1);
    let mut next_allowed = Instant::now();
    let shown = hook.redacted_url();
    while let Some(alert) = rx.recv().await {
        tokio::time::sleep_until(next_allowed).await;
        next_allowed = Instant::now() + spacing;
        let body = format::body(&alert, hook.format);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match deliver(&client, &hook, bytes).await {
            Ok(attempts) => {
                metrics::counter!("coffer.alerts.delivered").increment(1);
                tracing::debug!(rule = %rule, destination = %shown, attempts, "alert delivered");
            }
            Err(why) => {
                metrics::counter!("coffer.alerts.delivery_failed").increment(1);
                tracing::warn!(rule = %rule, destination = %shown, attempts = hook.max_attempts, error = %why, "alert delivery failed; given up");
            }
        }
    }
}

/// Post the body until the webhook takes it or the attempts run out: the
/// number of attempts it took, or the last failure (without the URL).
async fn deliver(client: &reqwest::Client, hook: &Webhook, body: Vec<u8>) -> Result<u32, String> {
    let timeout = Duration::from_secs(hook.timeout_secs);
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=hook.max_attempts {
        let req = client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(body.clone());
        let outcome = tokio::time::timeout(timeout + Duration::from_secs(1), req.send()).await;
        match outcome {
            Ok(Ok(resp)) if resp.status().is_success() => return Ok(attempt),
            Ok(Ok(resp)) => {
                let s = resp.status();
                last = format!("status {}", s.as_u16());
                // A 4xx other than 429 will not change by retrying.
                if s.is_client_error() && s.as_u16() != 429 {
                    return Err(last);
                }
            }
            // reqwest's error text includes the URL: strip it.
            Ok(Err(e)) => last = e.without_url().to_string(),
            Err(_) => last = format!("no answer within {}s", timeout.as_secs()),
        }
        if attempt < hook.max_attempts {
            metrics::counter!("coffer.alerts.delivery_retries").increment(1);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    Err(last)
}
