//! `stratus bench ...`: throughput measurements that print `key=value` lines, the last one the
//! headline figure, so scripts under `bench/` can compare against baselines measured in the same run.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::flags::BenchSdl;

/// The same work the TS SDK comparison times: parse YAML, validate, build groups and manifest,
/// hash the manifest.
pub fn sdl(args: &BenchSdl) -> anyhow::Result<ExitCode> {
    let files: Vec<Vec<u8>> = args
        .files
        .iter()
        .map(|f| std::fs::read(f).with_context(|| format!("cannot read {}", f.display())))
        .collect::<anyhow::Result<_>>()?;
    let mut valid = 0usize;
    for f in &files {
        valid += usize::from(stratus_sdl::parse(f).is_valid());
    }
    let start = Instant::now();
    let mut parsed = 0u64;
    while start.elapsed().as_secs_f64() < args.seconds {
        for f in &files {
            std::hint::black_box(stratus_sdl::parse(std::hint::black_box(f)));
        }
        parsed += files.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("sdl_files={} sdl_valid={valid} parsed={parsed} seconds={secs:.3}", files.len());
    println!("files_per_s={:.1}", parsed as f64 / secs);
    Ok(ExitCode::SUCCESS)
}
