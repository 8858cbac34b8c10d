//! The provider: the other side of the market. A GPU owner runs `stratus provider run` and from
//! then on the daemon ([`daemon`]) bids on orders it can serve ([`bidengine`], [`inventory`],
//! [`pricing`]), records every decision ([`decisions`]), accepts tenants' manifests over an
//! authenticated HTTPS gateway ([`gateway`], [`tls`], [`manifest_check`]), runs workloads through
//! a [`runtime`], and withdraws its earnings.

pub mod bidengine;
pub mod config;
pub mod daemon;
pub mod decisions;
pub mod detect;
pub mod gateway;
pub mod inventory;
pub mod manifest_check;
pub mod packing;
pub mod pricing;
pub mod runtime;
pub mod tls;
