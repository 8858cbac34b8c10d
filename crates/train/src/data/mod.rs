//! Training data: webdataset shards ([`shards`], pure), who trains which samples ([`plan`],
//! pure), and streaming shards from storage into batches ([`loader`], effects).

pub mod loader;
pub mod plan;
pub mod shards;
