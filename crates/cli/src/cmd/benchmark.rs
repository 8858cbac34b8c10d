//! `stratus provider benchmark`: this machine's figures (`stratus_hw::bench`) plus training
//! tokens per second on the training engine's reference model, as a table or one JSON record.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, anyhow};
use stratus_hw::bench::BenchOptions;
use stratus_hw::record::{BenchmarkRecord, ComputeDevice, TrainingFigures};

use crate::cmd::ctx::{Ctx, table};
use crate::flags::ProviderBenchmark;

/// The reference task (`examples/train-lm.toml`): its model is what the training figure trains.
const REFERENCE_JOB: &str = include_str!("../../../../examples/train-lm.toml");

/// The provider config `--config` or `--provider` (a devnet's) names, loaded once: its data
/// directory is where storage is measured, its key what `--publish` signs with by default.
fn provider_config(ctx: &Ctx, a: &ProviderBenchmark) -> anyhow::Result<Option<stratus_provider::config::Loaded>> {
    let path = match (&a.config, &a.provider) {
        (Some(c), _) => c.clone(),
        (None, Some(name)) => {
            let path = ctx.home.join("providers").join(name).join("provider.toml");
            if !path.exists() {
                anyhow::bail!(
                    "--provider {name}: no {} (the devnet's providers are in --home's providers/ directory)",
                    path.display()
                );
            }
            path
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(stratus_provider::config::ProviderConfig::load(&path)?))
}

/// Tokens per second of training steps on the reference model (batch × context tokens a step).
fn training_figures(steps: u64) -> anyhow::Result<TrainingFigures> {
    let (engine_job, _) = stratus_supercloud::cluster::split("examples/train-lm.toml", REFERENCE_JOB)
        .map_err(|e| anyhow!("the reference job: {e}"))?;
    let job = stratus_train::job::Job::parse("examples/train-lm.toml", &engine_job)?;
    let mut engine = stratus_train::engine::Engine::new(&job)?;
    let span = job.model.context + 1;
    let text: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    engine.train_on_text(&text, job.data.batch, 2, 0)?; // warm-up
    let t = Instant::now();
    engine.train_on_text(&text, job.data.batch, steps, 1)?;
    let tokens = steps as f64 * (job.data.batch * (span - 1)) as f64;
    let m = &job.model;
    Ok(TrainingFigures {
        model: format!("byte LM: {} layers × {} wide, {} heads, context {}", m.layers, m.width, m.heads, m.context),
        tokens_per_s: tokens / t.elapsed().as_secs_f64(),
        steps,
    })
}

fn show(r: &BenchmarkRecord, gpu_note: &str) -> String {
    let f = |v: f64| format!("{v:.3}");
    let mut rows: Vec<Vec<String>> = r
        .gpus
        .iter()
        .map(|g| {
            vec![
                format!("gpu {} ({})", g.index, g.model),
                f(g.compute.tflops_fp32),
                f(g.compute.tflops_fp16),
                f(g.compute.tflops_bf16),
                format!("{:.1}", g.compute.memory_gbs),
                format!("{:.1}", g.host_to_device_gbs),
                format!("{:.1}", g.device_to_host_gbs),
            ]
        })
        .collect();
    rows.push(vec![
        "cpu".into(),
        f(r.cpu.tflops_fp32),
        f(r.cpu.tflops_fp16),
        f(r.cpu.tflops_bf16),
        format!("{:.1}", r.cpu.memory_gbs),
        "-".into(),
        "-".into(),
    ]);
    let h = &r.hardware;
    let mut out = format!(
        "{} ({} threads, {:.1} GiB){}\n",
        h.cpu_model,
        h.cpu_threads,
        h.memory_bytes as f64 / f64::from(1u32 << 30),
        if r.device == ComputeDevice::Cpu { format!(" — CPU figures only: {gpu_note}") } else { String::new() }
    );
    out.push_str(&table(
        &["device", "fp32 TFLOPS", "fp16", "bf16", "memory GB/s", "host→dev GB/s", "dev→host GB/s"],
        &rows,
    ));
    out.push_str(&format!(
        "\n/dev/shm {:.1} GiB; storage in {}: write {:.0} MB/s, read {:.0} MB/s",
        r.shm_bytes as f64 / f64::from(1u32 << 30),
        r.storage.path,
        r.storage.write_mbs,
        r.storage.read_mbs
    ));
    if let Some(t) = &r.training {
        out.push_str(&format!("\ntraining: {:.0} tokens/s ({}, {} steps)", t.tokens_per_s, t.model, t.steps));
    }
    out
}

pub fn benchmark(ctx: &Ctx, a: &ProviderBenchmark) -> anyhow::Result<ExitCode> {
    let config = provider_config(ctx, a)?;
    // Storage is measured where volumes live: the provider's data directory.
    let dir = config.as_ref().map_or_else(std::env::temp_dir, |c| c.data_dir.clone());
    let options = if a.quick { BenchOptions::quick() } else { BenchOptions::full() };
    let driver = stratus_hw::nvml::Telemetry::open();
    let gpu_note = match &driver {
        Ok(_) if cfg!(feature = "cuda") => String::new(),
        Ok(_) => "this build has no CUDA (build with --features cuda)".to_string(),
        Err(why) => why.clone(),
    };
    if !gpu_note.is_empty() {
        eprintln!("{gpu_note}");
    }
    let started = Instant::now();
    let mut record = stratus_hw::bench::run(&dir, &options, driver.as_ref().ok(), |what| {
        eprintln!("[{:>5.1} s] {what}", started.elapsed().as_secs_f64());
    })
    .map_err(|e| anyhow!(e))?;
    eprintln!("[{:>5.1} s] training steps on the reference model", started.elapsed().as_secs_f64());
    record.training = Some(training_figures(if a.quick { 4 } else { 20 }).context("the training figure")?);
    ctx.print(&record, || show(&record, &gpu_note))?;
    if a.publish {
        let signer = match (&ctx.from, config.map(|c| c.raw.key)) {
            (Some(from), _) => from.clone(),
            (None, Some(key)) => key,
            (None, None) => {
                anyhow::bail!("--publish: which provider signs? pass --from KEY (or --provider / --config)")
            }
        };
        let signing = Ctx {
            from: Some(signer),
            home: ctx.home.clone(),
            node: ctx.node.clone(),
            output: ctx.output,
            fee: ctx.fee.clone(),
        };
        crate::cmd::ctx::block_on(super::benchmarks::publish(&signing, stratus_hw::record::ledger_figures(&record)))??;
    }
    if let Some(addr) = &a.serve {
        let board = super::status_board::StatusBoard::default();
        board.patch(serde_json::to_value(&record)?);
        crate::cmd::ctx::block_on(async {
            super::status_board::serve(Some(addr), &board)?;
            eprintln!("serving the record at http://{addr}/");
            std::future::pending::<anyhow::Result<()>>().await
        })??;
    }
    Ok(ExitCode::SUCCESS)
}
