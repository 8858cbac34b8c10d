//! `check`, the app's verdict on a proposed block before anyone votes for it: a transaction this
//! node never admitted must carry a valid signature, or the whole block is refused.

use std::sync::Arc;

use stratus_ledger::testkit::DENOM;
use stratus_node::app::NodeApp;
use stratus_node::consensus::{BlockApp, Certificate};
use stratus_types::coin::Coin;
use stratus_types::tx::Msg;

use crate::{actors, init_home};

fn app(dir: &std::path::Path, funded: &[stratus_ledger::testkit::Actor]) -> NodeApp {
    init_home(dir, funded, |_| {});
    let home = stratus_node::config::Home::new(dir);
    let store = Arc::new(stratus_store::Store::open(&home.store_path()).unwrap());
    store.init(&home.load_genesis().unwrap()).unwrap();
    NodeApp::open(store, home.load_config().unwrap(), None).unwrap()
}

#[test]
fn a_peer_block_with_a_forged_signature_is_refused_and_a_valid_one_commits() {
    let mut a = actors(2);
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), &a);
    let to = a[1].address;
    let valid = a[0].tx(vec![Msg::Send { to, amount: Coin::new(5, DENOM) }]);

    // A peer's proposal: its transactions never passed this node's mempool.
    let mut block = app.build(app.next_height(), 10);
    block.txs = vec![valid.clone()];
    assert!(app.check(&block).is_ok(), "a valid foreign transaction passes");

    let mut forged = valid.clone();
    forged.signature[0] ^= 1;
    let mut bad = block.clone();
    bad.txs = vec![forged.clone()];
    let err = app.check(&bad).unwrap_err().to_string();
    assert!(err.contains("invalid signature") && err.contains(&hex::encode(forged.hash())), "{err}");

    // A signature over another body (the amount changed after signing) is as forged.
    let mut altered = valid.clone();
    altered.body.msgs = vec![Msg::Send { to, amount: Coin::new(5_000_000, DENOM) }];
    bad.txs = vec![valid.clone(), altered];
    assert!(app.check(&bad).unwrap_err().to_string().contains("invalid signature"));

    // A block from the future (a proposer's clock, or a lie) is refused.
    let mut future = block.clone();
    future.header.time_ms = stratus_node::consensus::now_ms() + 3_600_000;
    let err = app.check(&future).unwrap_err().to_string();
    assert!(err.contains("ahead of this node's clock"), "{err}");

    let certificate = Certificate::Bft { round: 0, signers: vec![[7; 32]], encoded: b"quorum".to_vec() };
    app.commit(block.clone(), certificate.clone()).unwrap();
    assert_eq!(app.next_height(), 2, "the valid block executed");
    app.flush().unwrap();
    let decided = app.decided(1, 5).unwrap();
    assert_eq!(decided, vec![(block, Some(certificate))], "the block is kept with the certificate that decided it");
}
