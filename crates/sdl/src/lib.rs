//! Akash-compatible Stack Definition Language: SDL text in, GroupSpecs + Manifest + version out.
//!
//! Pure: no I/O, no clock. Parsing never panics and never stops at the first problem: it returns
//! every diagnostic it can find, each with a line and column. The accept/reject verdict and the
//! outputs follow Akash's Go parser (`chain-sdk/go/sdl`), including its quirks, because a template
//! that deploys on Akash must deploy here with the same manifest hash. Where we knowingly differ,
//! `docs/sdl-compatibility.md` says so.
//!
//! Pipeline, and why in this order: YAML tree (`yaml`) → typed model with Go's decoding rules
//! (`model`, `resources`, `decode`) → cross references (`validate`) → groups and manifest
//! (`build`) → ledger limits and manifest rules (`checks`). Each stage runs only if the previous
//! one found no error, so one mistake does not cascade into many.

mod build;
mod checks;
mod decode;
mod diag;
mod fast;
mod gocompat;
mod model;
mod resources;
pub use stratus_types::units;
mod validate;
mod yaml;

pub use checks::{
    MAX_UNIT_COUNT, MAX_UNIT_CPU, MAX_UNIT_GPU, MAX_UNIT_MEMORY, MAX_UNIT_PRICE, MAX_UNIT_STORAGE, MIN_UNIT_CPU,
    MIN_UNIT_MEMORY, MIN_UNIT_STORAGE,
};
pub use diag::{CheckReport, Diagnostic, Pos, ReportedDiagnostic, Severity};
pub use model::SdlVersion;
pub use yaml::MAX_INPUT_BYTES;

use stratus_types::group::GroupSpec;
use stratus_types::manifest::{Manifest, manifest_version};

/// A valid SDL and everything derived from it.
#[derive(Clone, Debug)]
pub struct Sdl {
    pub version: SdlVersion,
    /// One per placement, sorted by name: what the ledger opens orders for.
    pub groups: Vec<GroupSpec>,
    /// What providers run.
    pub manifest: Manifest,
    /// sha256 of the manifest (Akash's deployment version); stored on the ledger.
    pub manifest_version: [u8; 32],
    /// `reclamation.min_window`, if set.
    pub reclamation_window_secs: Option<u64>,
}

impl Sdl {
    pub fn version_hex(&self) -> String {
        hex::encode(self.manifest_version)
    }
}

/// The outcome of parsing: the SDL when there is no error, and all diagnostics in file order.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub sdl: Option<Sdl>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning)
    }

    pub fn is_valid(&self) -> bool {
        self.sdl.is_some()
    }

    pub fn report(&self) -> CheckReport {
        CheckReport {
            valid: self.is_valid(),
            errors: self.errors().map(ReportedDiagnostic::from).collect(),
            warnings: self.warnings().map(ReportedDiagnostic::from).collect(),
        }
    }
}

/// Parses an SDL file's bytes.
pub fn parse(bytes: &[u8]) -> Parsed {
    let fail = |pos: Pos, message: String| Parsed {
        sdl: None,
        diagnostics: vec![Diagnostic { severity: Severity::Error, pos, path: String::new(), message }],
    };
    if bytes.len() > MAX_INPUT_BYTES {
        return fail(
            Pos::new(1, 1),
            format!("file is {} bytes; an SDL may be at most {MAX_INPUT_BYTES} bytes", bytes.len()),
        );
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = valid.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            return fail(Pos::new(line, column), "file is not valid UTF-8 text".to_string());
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    parse_str(text)
}

/// Parses SDL text.
pub fn parse_str(text: &str) -> Parsed {
    // Plain block YAML takes the fast reader; everything else the full parser.
    let doc = match fast::parse(text).map_or_else(|| yaml::Doc::parse(text), Ok) {
        Ok(doc) => doc,
        Err(e) => {
            return Parsed {
                sdl: None,
                diagnostics: vec![Diagnostic {
                    severity: Severity::Error,
                    pos: e.pos,
                    path: String::new(),
                    message: format!("YAML syntax error: {}", e.message),
                }],
            };
        }
    };
    let mut decoder = decode::Decoder::new(&doc);
    let decoded = model::decode_document(&doc, &mut decoder);
    let mut sink = decoder.sink;
    let sdl = decoded.and_then(|(version, model)| {
        if sink.error_count() > 0 {
            return None;
        }
        validate::validate(version, &model, &mut sink);
        if sink.error_count() > 0 {
            return None;
        }
        let built = build::build(version, &model, &mut sink);
        if sink.error_count() > 0 {
            return None;
        }
        checks::check_groups(&built.groups, &built.origins, &model, &mut sink);
        if sink.error_count() > 0 {
            return None;
        }
        checks::check_manifest(&built.manifest, &model, &mut sink);
        if sink.error_count() > 0 {
            return None;
        }
        let reclamation_window_secs = model.reclamation.as_ref().and_then(|r| r.window_seconds().ok());
        Some(Sdl {
            version,
            manifest_version: manifest_version(&built.manifest),
            groups: built.groups,
            manifest: built.manifest,
            reclamation_window_secs,
        })
    });
    let mut diagnostics = sink.items;
    diagnostics.sort_by_key(|d| (d.pos, d.severity));
    Parsed { sdl, diagnostics }
}

#[cfg(test)]
mod tests;
