//! `stratus sdl check|groups|manifest|hash`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use stratus_sdl::{Diagnostic, Parsed};

use crate::flags::{SdlCheck, SdlCommand};

pub fn run(cmd: SdlCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SdlCommand::Check(args) => check(&args),
        SdlCommand::Groups(f) => emit(&f.file, |sdl| Ok(serde_json::to_string_pretty(&sdl.groups)?)),
        SdlCommand::Manifest(f) => emit(&f.file, |sdl| Ok(serde_json::to_string_pretty(&sdl.manifest)?)),
        SdlCommand::Hash(f) => emit(&f.file, |sdl| Ok(sdl.version_hex())),
    }
}

fn load(file: &Path) -> anyhow::Result<Parsed> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(stratus_sdl::parse(&bytes))
}

/// One line of `sdl check --json`, fields in the documented order.
#[derive(Serialize)]
struct CheckLine<'a> {
    file: &'a str,
    valid: bool,
    errors: Vec<JsonDiagnostic>,
    warnings: Vec<JsonDiagnostic>,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    line: u32,
    column: u32,
    message: String,
}

impl JsonDiagnostic {
    fn from(d: &Diagnostic) -> JsonDiagnostic {
        JsonDiagnostic { line: d.pos.line, column: d.pos.column, message: d.text() }
    }
}

fn check(args: &SdlCheck) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut all_valid = true;
    for file in &args.files {
        let name = file.display().to_string();
        let parsed = match load(file) {
            Ok(p) => p,
            Err(e) => {
                all_valid = false;
                if args.json {
                    let error = JsonDiagnostic { line: 0, column: 0, message: format!("{e:#}") };
                    let line = CheckLine { file: &name, valid: false, errors: vec![error], warnings: vec![] };
                    writeln!(out, "{}", serde_json::to_string(&line)?)?;
                } else {
                    writeln!(out, "{name}: {e:#}")?;
                }
                continue;
            }
        };
        all_valid &= parsed.is_valid();
        if args.json {
            let line = CheckLine {
                file: &name,
                valid: parsed.is_valid(),
                errors: parsed.errors().map(JsonDiagnostic::from).collect(),
                warnings: parsed.warnings().map(JsonDiagnostic::from).collect(),
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        } else {
            for d in &parsed.diagnostics {
                writeln!(out, "{}", d.render(&name))?;
            }
            if parsed.is_valid() {
                writeln!(out, "ok {name}")?;
            }
        }
    }
    Ok(if all_valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints what a valid SDL produces, or its diagnostics (exit 1).
fn emit(file: &Path, render: impl FnOnce(&stratus_sdl::Sdl) -> anyhow::Result<String>) -> anyhow::Result<ExitCode> {
    let parsed = load(file)?;
    let name = file.display().to_string();
    for d in &parsed.diagnostics {
        eprintln!("{}", d.render(&name));
    }
    match &parsed.sdl {
        Some(sdl) => {
            println!("{}", render(sdl)?);
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::from(1)),
    }
}
