//! The provider: the other side of the market. A GPU owner runs `stratus provider run` and from
//! then on the daemon ([`effects::daemon`]) bids on orders it can serve, accepts tenants'
//! manifests over an authenticated HTTPS gateway, runs workloads through a [`runtime`], and
//! withdraws its earnings.
//!
//! The folders say what kind of code lives where:
//! - [`pure`]: decisions as plain functions of plain data — inventory and placement, the bid
//!   engine, pricing, manifest checks, the decision log, and the reconcile plan. No I/O, no clock
//!   (time comes in as an argument), unit-tested without processes or sockets.
//! - [`effects`]: what talks to the world — the daemon (ledger queries and transactions), the
//!   gateway and its TLS, the provider's own lease store, host detection.
//! - [`runtime`]: the boundary to what runs workloads (`Runtime`), and its backends.

pub mod config;
pub mod effects;
pub mod pure;
pub mod runtime;
