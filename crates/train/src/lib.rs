//! The training engine (issue 11), first slice: a decoder-only transformer language model of
//! configurable size on candle (CPU by default, `cuda` feature for GPUs), and its inner optimiser
//! — AdamW with linear warm-up, cosine decay and global-norm gradient clipping — and DiLoCo's pure
//! parts ([`outer`]): pseudo-gradients, int8 block compression, the outer Nesterov step. The
//! exchange, data shards, checkpoints and membership come next; they meet this crate at
//! [`model::Lm`]'s parameters, [`inner::InnerOptimizer::step`] and [`outer::Outer::step`].

pub mod inner;
pub mod model;
pub mod outer;
pub mod schedule;
