//! The execution context of one block: pending state, the events so far, the height and params.
//! Module logic (`bank`, `escrow`, `market`, …) is written as methods on [`Exec`].

use stratus_types::address::Address;
use stratus_types::block::BlockEvent;
use stratus_types::event::Event;
use stratus_types::params::Params;

use crate::error::LedgerError;
use crate::keys;
use crate::state::{Checkpoint, State};

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// The escrow module's account: holds deployment deposits and bid deposits.
pub fn escrow_module() -> Address {
    Address::module("escrow")
}

/// Where take-rate shares and transaction fees go.
pub fn community_pool() -> Address {
    Address::module("community-pool")
}

pub struct Exec<'b> {
    pub st: State<'b>,
    pub events: Vec<BlockEvent>,
    pub height: u64,
    pub params: Params,
    /// Index in the block of the transaction being executed; `None` during end-of-block work.
    pub tx_index: Option<u32>,
    /// The app hash the block builds on (the arena assigns validators by it).
    pub prev_app_hash: [u8; 32],
}

/// A point to roll a failed transaction back to.
pub struct Mark {
    state: Checkpoint,
    events: usize,
}

impl<'b> Exec<'b> {
    pub fn new(st: State<'b>, height: u64, params: Params) -> Exec<'b> {
        Exec { st, events: Vec::new(), height, params, tx_index: None, prev_app_hash: [0; 32] }
    }

    pub fn emit(&mut self, event: Event) {
        self.events.push(BlockEvent { tx: self.tx_index, event });
    }

    pub fn mark(&mut self) -> Mark {
        Mark { state: self.st.checkpoint(), events: self.events.len() }
    }

    pub fn rollback(&mut self, mark: Mark) {
        self.st.rollback(mark.state);
        self.events.truncate(mark.events);
    }

    pub fn load_params(st: &mut State<'_>) -> Result<Params> {
        st.get(keys::PARAMS)?.ok_or_else(|| LedgerError::Corrupt { key: "params".into(), detail: "missing".into() })
    }

    pub fn require(&self, expected: Address, got: Address) -> Result<()> {
        if expected == got { Ok(()) } else { Err(LedgerError::Unauthorized { expected, got }) }
    }

    pub fn check_denom(&self, denom: &str) -> Result<()> {
        if self.params.denoms.iter().any(|d| d == denom) {
            Ok(())
        } else {
            Err(LedgerError::DenomNotAllowed(denom.to_string(), self.params.denoms.join(", ")))
        }
    }
}
