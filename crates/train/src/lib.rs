//! The training engine (issue 11): elastic, low-communication data-parallel training of a
//! decoder-only transformer language model on candle (CPU by default, `cuda` for GPUs).
//!
//! - Pure: [`model`], [`inner`] (AdamW + clipping), [`schedule`], [`outer`] (DiLoCo's
//!   pseudo-gradients, int8 compression, outer Nesterov), [`data::plan`] (who trains which
//!   samples), [`data::shards`] (webdataset tars), [`membership`] (quorum and deadline),
//!   [`job`] (the job file), [`model_file`] (a model as one safetensors file, and its score).
//! - Effects: [`storage`] (S3 or a directory), [`data::loader`], [`checkpoint`], [`wire`] (TCP
//!   frames, simulated links), [`coordinator`], [`worker`], [`metrics`] (JSON lines, Prometheus).

pub mod checkpoint;
pub mod coordinator;
pub mod data;
pub mod engine;
pub mod inner;
pub mod job;
pub mod membership;
pub mod metrics;
pub mod model;
pub mod model_file;
pub mod outer;
pub mod params;
pub mod schedule;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod wire;
pub mod worker;
