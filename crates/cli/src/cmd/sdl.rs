//! `stratus sdl check|groups|manifest|hash`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use stratus_sdl::{CheckReport, Parsed, ReportedDiagnostic};

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

/// One line of `sdl check --json`: the file, then the sdl crate's report.
#[derive(Serialize)]
struct CheckLine<'a> {
    file: &'a str,
    #[serde(flatten)]
    report: CheckReport,
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
                    let error = ReportedDiagnostic { line: 0, column: 0, message: format!("{e:#}") };
                    let report = CheckReport { valid: false, errors: vec![error], warnings: vec![] };
                    let line = CheckLine { file: &name, report };
                    writeln!(out, "{}", serde_json::to_string(&line)?)?;
                } else {
                    writeln!(out, "{name}: {e:#}")?;
                }
                continue;
            }
        };
        all_valid &= parsed.is_valid();
        if args.json {
            let line = CheckLine { file: &name, report: parsed.report() };
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
