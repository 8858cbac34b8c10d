//! The embedded single-node engine: every `block_time`, build a block, check it, sign its id
//! with the node's validator key and commit it with that signature as its certificate.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use tokio::sync::watch;

use crate::{BlockApp, Certificate, ConsensusEngine, EngineStatus, block_id, now_ms};

pub struct SoloEngine {
    pub block_time: Duration,
    /// The node's validator key.
    pub key: SigningKey,
}

impl ConsensusEngine for SoloEngine {
    async fn run(self, app: Arc<dyn BlockApp>, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let validator = self.key.verifying_key().to_bytes();
        app.report(EngineStatus {
            engine: "solo".into(),
            validator: Some(stratus_types::address::Address::from_public_key(&validator).to_string()),
            height: app.next_height(),
            ..EngineStatus::default()
        });
        let key = Arc::new(self.key);
        let mut tick = tokio::time::interval(self.block_time);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once; the first block should wait one block time.
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            let app = Arc::clone(&app);
            let key = Arc::clone(&key);
            // Building, executing and the durable commit block on CPU and disk.
            tokio::task::spawn_blocking(move || {
                let height = app.next_height();
                let block = app.build(height, now_ms());
                app.check(&block)?;
                let signature = key.sign(&block_id(&block)).to_bytes().to_vec();
                // The write overlaps the next block's execution; waiters hear once it is durable.
                app.commit(block, Certificate::Solo { validator, signature })
            })
            .await??;
        }
        tokio::task::spawn_blocking(move || app.flush()).await?
    }
}
