//! Compatibility tests against the shared Akash corpus (`../shared/corpus`, see its README):
//! real-world templates with expected verdicts and manifest hashes, and the reference parser's
//! fixtures with exact expected JSON.
//!
//! Every disagreement with the reference data must be listed, with its reason, in
//! `tests/known-differences.tsv`; an unlisted difference fails, and so does a listed one that no
//! longer happens (so the list stays true).

mod awesome;
mod corpus;
mod limits;
mod reference;
