//! `GET /events`: committed events as server-sent events.
//!
//! Each block's matching events are sent in order, then a `block` mark whose SSE `id` is the
//! height. A stream starts at `from_height` (or after the `Last-Event-ID` a reconnecting client
//! sends; default: the next block), first replaying stored blocks, then following new ones. When
//! a slow client falls behind the live feed it is caught up from the store, so nothing is skipped
//! and nothing is sent twice.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use stratus_types::address::Address;
use stratus_types::api::{BlockMark, StreamedEvent};
use stratus_types::block::BlockEvent;
use stratus_types::event::Event;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::api::{ApiErr, AppState};

/// Which events a stream carries (block marks always).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub kinds: Option<Vec<String>>,
    pub owner: Option<Address>,
    pub provider: Option<Address>,
}

impl EventFilter {
    pub fn matches(&self, e: &Event) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.iter().any(|k| k == e.kind()))
            && self.owner.as_ref().is_none_or(|o| e.owner().as_ref() == Some(o))
            && self.provider.as_ref().is_none_or(|p| e.provider().as_ref() == Some(p))
    }
}

fn bad(m: String) -> ApiErr {
    ApiErr::bad_request(m)
}

fn parse_request(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<(EventFilter, Option<u64>), ApiErr> {
    let mut f = EventFilter::default();
    let mut from = None;
    for (name, value) in q {
        match name.as_str() {
            "kinds" => {
                let kinds: Vec<String> =
                    value.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
                if let Some(unknown) = kinds.iter().find(|k| !Event::KINDS.contains(&k.as_str())) {
                    return Err(bad(format!(
                        "kinds: {unknown:?} is not an event kind (kinds: {})",
                        Event::KINDS.join(", ")
                    )));
                }
                f.kinds = Some(kinds);
            }
            "owner" => f.owner = Some(value.parse().map_err(|e| bad(format!("owner {value:?}: {e}")))?),
            "provider" => f.provider = Some(value.parse().map_err(|e| bad(format!("provider {value:?}: {e}")))?),
            "from_height" => {
                from = Some(value.parse().map_err(|_| bad(format!("from_height {value:?} is not a height")))?);
            }
            other => {
                return Err(bad(format!(
                    "unknown query parameter {other:?}; /events takes kinds, owner, provider, from_height"
                )));
            }
        }
    }
    // A reconnecting EventSource repeats its URL and says where it stopped.
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        let last: u64 = last.trim().parse().map_err(|_| bad(format!("Last-Event-ID {last:?} is not a height")))?;
        from = Some(last + 1);
    }
    Ok((f, from))
}

fn sse_events(height: u64, events: &[BlockEvent], mark: &BlockMark, filter: &EventFilter) -> Vec<SseEvent> {
    let mut out = Vec::new();
    for e in events.iter().filter(|e| filter.matches(&e.event)) {
        let streamed = StreamedEvent::from_block(height, e);
        if let Ok(ev) = SseEvent::default().event(e.event.kind()).json_data(&streamed) {
            out.push(ev);
        }
    }
    if let Ok(ev) = SseEvent::default().event("block").id(height.to_string()).json_data(mark) {
        out.push(ev);
    }
    out
}

/// Sends stored blocks `next..=upto`; returns the next height to send, or `None` when the
/// client is gone.
async fn replay(
    app: &AppState,
    mut next: u64,
    upto: u64,
    filter: &EventFilter,
    out: &mpsc::Sender<SseEvent>,
) -> Option<u64> {
    while next <= upto {
        let end = upto.min(next + 63);
        let store = Arc::clone(app.store());
        let from = next;
        let loaded = tokio::task::spawn_blocking(move || {
            let snap = store.snapshot().ok()?;
            let mut blocks = Vec::new();
            for h in from..=end {
                let record = snap.record(h).ok()??;
                let time_ms = snap.block(h).ok()??.header.time_ms;
                blocks.push((BlockMark { height: h, time_ms, app_hash: record.app_hash }, record.events));
            }
            Some(blocks)
        })
        .await
        .ok()??;
        for (mark, events) in loaded {
            for ev in sse_events(mark.height, &events, &mark, filter) {
                out.send(ev).await.ok()?;
            }
            next = mark.height + 1;
        }
    }
    Some(next)
}

async fn feed(app: AppState, filter: EventFilter, from: u64, out: mpsc::Sender<SseEvent>) {
    let mut closing = app.watch_closing();
    tokio::select! {
        () = follow(&app, &filter, from, &out) => {}
        _ = closing.wait_for(|c| *c) => {}
    }
}

async fn follow(app: &AppState, filter: &EventFilter, from: u64, out: &mpsc::Sender<SseEvent>) {
    // Subscribe before reading the store, so no block falls between the two.
    let mut live = app.subscribe();
    let mut next = from.max(1);
    loop {
        let head = app.head().height;
        match replay(app, next, head, filter, out).await {
            Some(n) => next = n,
            None => return,
        }
        loop {
            match live.recv().await {
                Ok(block) if block.mark.height < next => continue,
                Ok(block) if block.mark.height == next => {
                    for ev in sse_events(next, &block.events, &block.mark, filter) {
                        if out.send(ev).await.is_err() {
                            return;
                        }
                    }
                    next += 1;
                }
                // A gap (or falling behind): catch up from the store.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

pub async fn stream(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiErr> {
    let (filter, from) = parse_request(&q, &headers)?;
    let from = from.unwrap_or_else(|| app.head().height + 1);
    let (send, recv) = mpsc::channel(256);
    tokio::spawn(feed(app, filter, from, send));
    Ok(Sse::new(ReceiverStream::new(recv).map(Ok)).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use stratus_types::coin::Coin;
    use stratus_types::market::{DeploymentId, OrderId};

    use super::*;

    #[test]
    fn filter_by_kind_owner_and_provider() {
        let alice = Address([1; 20]);
        let bob = Address([2; 20]);
        let created = Event::DeploymentCreated { id: DeploymentId { owner: alice, dseq: 1 }, version: [0; 32] };
        let order = Event::OrderCreated { id: OrderId { owner: alice, dseq: 1, gseq: 1, oseq: 1 } };
        let send = Event::Transfer { from: bob, to: alice, amount: Coin::new(1, "uact") };
        let all = EventFilter::default();
        assert!(all.matches(&created) && all.matches(&send));
        let kinds = EventFilter { kinds: Some(vec!["order_created".into()]), ..EventFilter::default() };
        assert!(kinds.matches(&order) && !kinds.matches(&created));
        let owner = EventFilter { owner: Some(alice), ..EventFilter::default() };
        assert!(owner.matches(&created) && owner.matches(&order));
        let other = EventFilter { owner: Some(bob), ..EventFilter::default() };
        assert!(!other.matches(&created));
        let provider = EventFilter { provider: Some(bob), ..EventFilter::default() };
        assert!(!provider.matches(&created), "deployment events concern no provider");
    }

    #[test]
    fn request_parsing_rejects_unknown_kinds_and_honours_last_event_id() {
        let mut q = HashMap::new();
        q.insert("kinds".to_string(), "lease_created,nope".to_string());
        assert!(parse_request(&q, &HeaderMap::new()).is_err());
        let mut q = HashMap::new();
        q.insert("from_height".to_string(), "5".to_string());
        let (_, from) = parse_request(&q, &HeaderMap::new()).unwrap();
        assert_eq!(from, Some(5));
        let mut headers = HeaderMap::new();
        headers.insert("last-event-id", "9".parse().unwrap());
        let (_, from) = parse_request(&q, &headers).unwrap();
        assert_eq!(from, Some(10));
    }
}
