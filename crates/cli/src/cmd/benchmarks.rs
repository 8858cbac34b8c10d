//! The market's benchmark records: `stratus provider benchmark --publish` puts this machine's on
//! the ledger, `stratus benchmarks` shows everyone's (with who attested them, and a chart), and
//! `stratus audit benchmark PROVIDER` reruns the benchmark as a lease on that provider and signs
//! its figures as attributes only when they agree.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use stratus_types::address::Address;
use stratus_types::benchmark::{BenchmarkFigures, BenchmarkRecord, CPU_MODEL, attributes};
use stratus_types::market::BidState;
use stratus_types::tx::Msg;

use crate::cmd::ctx::{Ctx, Failed, client_error, table};
use crate::flags::{AuditBenchmark, BenchmarksArgs};

fn tflops(milli: u64) -> f64 {
    milli as f64 / 1000.0
}

/// Publishes `figures` as the signer (a registered provider).
pub async fn publish(ctx: &Ctx, figures: Vec<BenchmarkFigures>) -> anyhow::Result<()> {
    let models: Vec<String> = figures.iter().map(|f| f.gpu_model.clone()).collect();
    let msgs = figures.into_iter().map(|figures| Msg::PublishBenchmark { figures }).collect();
    let r = ctx.broadcast(msgs).await?;
    eprintln!("published the {} figures at height {}", models.join(", "), r.height.unwrap_or(0));
    Ok(())
}

/// Auditors whose signed attributes carry this record's figures.
fn attested_by(record: &BenchmarkRecord, audits: &[stratus_types::market::AuditedAttributes]) -> Vec<Address> {
    let want = attributes(&record.figures);
    audits
        .iter()
        .filter(|a| a.provider == record.provider && want.iter().all(|w| a.attributes.contains(w)))
        .map(|a| a.auditor)
        .collect()
}

pub async fn show(ctx: &Ctx, a: &BenchmarksArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.client();
    let mut records = client.benchmarks(a.gpu.as_deref()).await.map_err(client_error)?;
    records.sort_by(|x, y| {
        (x.figures.gpu_model.as_str(), std::cmp::Reverse(x.figures.tflops_bf16_milli))
            .cmp(&(y.figures.gpu_model.as_str(), std::cmp::Reverse(y.figures.tflops_bf16_milli)))
    });
    let mut providers: Vec<Address> = records.iter().map(|r| r.provider).collect();
    providers.dedup();
    let mut audits = Vec::new();
    for p in &providers {
        audits.extend(client.audits(p).await.map_err(client_error)?);
    }
    // When each record was published: its block's time.
    let mut dates = std::collections::BTreeMap::new();
    for r in &records {
        if let std::collections::btree_map::Entry::Vacant(e) = dates.entry(r.height) {
            e.insert(client.block(r.height).await.map_err(client_error)?.time_ms);
        }
    }
    let date = |r: &BenchmarkRecord| dates.get(&r.height).map_or_else(String::new, |ms| utc_minute(*ms));
    let rows: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            serde_json::json!({"provider": r.provider, "gpu_model": r.figures.gpu_model, "height": r.height,
                               "published_at": date(r), "figures": r.figures,
                               "attested_by": attested_by(r, &audits)})
        })
        .collect();
    if let Some(out) = &a.chart {
        let bars: Vec<(String, String, f64)> = records
            .iter()
            .map(|r| {
                let short = r.provider.to_string();
                (
                    r.figures.gpu_model.clone(),
                    format!("…{}", &short[short.len().saturating_sub(6)..]),
                    tflops(r.figures.tflops_bf16_milli),
                )
            })
            .collect();
        crate::cmd::chart::draw_bars(&bars, "bf16 matmul throughput by GPU model and provider", "TFLOPS (bf16)", out)?;
        eprintln!("chart: {}", out.display());
    }
    ctx.print(&rows, || {
        let lines: Vec<Vec<String>> = records
            .iter()
            .map(|r| {
                let f = &r.figures;
                let by = attested_by(r, &audits);
                vec![
                    r.provider.to_string(),
                    if f.gpu_model == CPU_MODEL {
                        "cpu (no GPU)".into()
                    } else {
                        format!("{}× {}", f.gpus, f.gpu_model)
                    },
                    format!("{:.3}", tflops(f.tflops_fp32_milli)),
                    format!("{:.3}", tflops(f.tflops_fp16_milli)),
                    format!("{:.3}", tflops(f.tflops_bf16_milli)),
                    format!("{:.1}", tflops(f.memory_gbs_milli)),
                    f.training_tokens_per_s.to_string(),
                    date(r),
                    if by.is_empty() {
                        "-".into()
                    } else {
                        by.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    },
                ]
            })
            .collect();
        table(
            &[
                "provider",
                "gpu",
                "fp32 TFLOPS",
                "fp16",
                "bf16",
                "memory GB/s",
                "train tok/s",
                "published",
                "attested by",
            ],
            &lines,
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `2026-12-06 12:34 UTC` for milliseconds since the epoch (the civil-from-days algorithm).
fn utc_minute(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

/// The SDL an auditor deploys: the provider's `stratus/bench` image (this binary's benchmark,
/// serving its record on port 8080), one GPU of the model when it is not the CPU's record.
fn audit_sdl(gpu_model: &str) -> String {
    let gpu = if gpu_model == CPU_MODEL {
        String::new()
    } else {
        format!(
            "        gpu:\n          units: 1\n          attributes:\n            vendor:\n              nvidia:\n                - model: {gpu_model}\n"
        )
    };
    format!(
        r#"---
version: "2.0"
services:
  bench:
    image: stratus/bench:1
    expose:
      - port: 8080
        as: 80
        to:
          - global: true
profiles:
  compute:
    bench:
      resources:
        cpu:
          units: 1
        memory:
          size: 1Gi
        storage:
          size: 1Gi
{gpu}  placement:
    audit:
      pricing:
        bench:
          denom: uact
          amount: 1000000
deployment:
  bench:
    audit:
      profile: bench
      count: 1
"#
    )
}

/// Relative differences past `tolerance` between what was published and what the auditor saw.
fn disagreements(published: &BenchmarkFigures, measured: &BenchmarkFigures, tolerance: f64) -> Vec<String> {
    let pairs = [
        ("tflops-fp32", published.tflops_fp32_milli, measured.tflops_fp32_milli),
        ("tflops-fp16", published.tflops_fp16_milli, measured.tflops_fp16_milli),
        ("tflops-bf16", published.tflops_bf16_milli, measured.tflops_bf16_milli),
        ("training-tokens-per-s", published.training_tokens_per_s, measured.training_tokens_per_s),
    ];
    pairs
        .iter()
        .filter_map(|(what, p, m)| {
            let off = (*p as f64 - *m as f64).abs() / (*p).max(1) as f64;
            (off > tolerance).then(|| format!("{what}: published {p}, measured {m} ({:.0}% off)", off * 100.0))
        })
        .collect()
}

async fn get_json(uri: &str) -> Option<serde_json::Value> {
    let url = if uri.starts_with("http") { uri.to_string() } else { format!("http://{uri}") };
    let r = reqwest::Client::new().get(url).timeout(Duration::from_secs(5)).send().await.ok()?;
    r.json().await.ok()
}

/// Leases the benchmark on `provider` and returns its record (closing the deployment after).
async fn run_on(ctx: &Ctx, provider: Address, gpu_model: &str, timeout: Duration) -> anyhow::Result<serde_json::Value> {
    let client = ctx.client();
    let owner = ctx.signer_address()?;
    let text = audit_sdl(gpu_model);
    let sdl = crate::cmd::market::parse_sdl("the audit SDL", text.as_bytes())?;
    let dseq = crate::cmd::market::free_dseq(ctx, owner).await?;
    let deposit = stratus_types::coin::Coin::new(5_000_000, "uact");
    let msg = Msg::CreateDeployment { dseq, groups: sdl.groups, version: sdl.manifest_version, deposit, gang: false };
    ctx.broadcast(vec![msg]).await?;
    crate::cmd::tenant::keep_sdl(ctx, &owner, dseq, text.as_bytes())?;
    eprintln!("deployment {dseq}: waiting for {provider}'s bid");
    let result = async {
        let started = Instant::now();
        let filter =
            stratus_client::Filter { owner: Some(owner), dseq: Some(dseq), limit: Some(100), ..Default::default() };
        let bid = loop {
            let bids = client.bids(&filter).await.map_err(client_error)?.items;
            if let Some(b) = bids.into_iter().find(|b| b.id.provider == provider && b.state == BidState::Open) {
                break b;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let why = crate::cmd::tenant::why_no_bids(ctx, &owner, dseq).await.unwrap_or_default();
                return Err(anyhow::Error::from(Failed(format!(
                    "{provider} did not bid on the benchmark: {}",
                    why.join("; ")
                ))));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        ctx.broadcast(vec![Msg::CreateLease { bid: bid.id.clone() }]).await?;
        let file = crate::cmd::tenant::sdl_copy(ctx, &owner, dseq);
        crate::cmd::tenant::send_manifest_to(ctx, owner, dseq, &file).await?;
        eprintln!("deployment {dseq}: leased; the benchmark runs on the provider");
        let r = crate::flags::LeaseRef { dseq, provider: Some(provider.to_string()), owner: None };
        loop {
            for s in crate::cmd::tenant::statuses(ctx, &r).await? {
                for uri in s.services.iter().flat_map(|svc| &svc.uris) {
                    if let Some(v) = get_json(uri).await {
                        return Ok(v);
                    }
                }
            }
            if started.elapsed() > timeout {
                return Err(Failed(format!("no benchmark record from the lease after {} s", timeout.as_secs())).into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    .await;
    if let Err(e) = crate::cmd::up::close_and_settle(ctx, dseq).await {
        eprintln!("warning: closing deployment {dseq}: {e:#}");
    }
    result
}

pub async fn audit(ctx: &Ctx, a: &AuditBenchmark) -> anyhow::Result<ExitCode> {
    let provider = ctx.address(Some(&a.provider))?;
    let gpu = a.gpu.as_deref().map_or_else(|| CPU_MODEL.to_string(), stratus_types::gpu::canonical_model);
    let published = ctx
        .client()
        .benchmarks(Some(&gpu))
        .await
        .map_err(client_error)?
        .into_iter()
        .find(|r| r.provider == provider)
        .ok_or_else(|| {
            Failed(format!("{provider} has published no {gpu} benchmark (`stratus provider benchmark --publish`)"))
        })?;
    let value = run_on(ctx, provider, &gpu, Duration::from_secs(a.timeout)).await?;
    let record: stratus_hw::record::BenchmarkRecord =
        serde_json::from_value(value).context("the lease's answer is not a benchmark record")?;
    let measured = stratus_hw::record::ledger_figures(&record)
        .into_iter()
        .find(|f| f.gpu_model == gpu)
        .ok_or_else(|| anyhow!("the lease measured no {gpu} figures (it ran on {:?})", record.device))?;
    let differences = disagreements(&published.figures, &measured, f64::from(a.tolerance_pct) / 100.0);
    let signed = if differences.is_empty() { attributes(&published.figures) } else { Vec::new() };
    if !signed.is_empty() {
        ctx.broadcast(vec![Msg::SignProviderAttributes { provider, attributes: signed.clone() }]).await?;
    }
    let agree = differences.is_empty();
    let value = serde_json::json!({"provider": provider, "gpu_model": gpu, "agree": agree,
        "tolerance_pct": a.tolerance_pct, "published": published.figures, "measured": measured,
        "differences": differences, "signed": signed});
    ctx.print(&value, || {
        if agree {
            format!(
                "{provider}'s {gpu} figures agree within {}%: signed {}",
                a.tolerance_pct,
                signed.iter().map(|s| format!("{}={}", s.key, s.value)).collect::<Vec<_>>().join(", ")
            )
        } else {
            format!("{provider}'s {gpu} figures do NOT agree; nothing signed:\n  {}", differences.join("\n  "))
        }
    })?;
    Ok(if agree { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_agree_within_the_tolerance_and_each_difference_says_by_how_much() {
        let published = BenchmarkFigures {
            gpu_model: "h100".into(),
            gpus: 8,
            tflops_fp32_milli: 60_000,
            tflops_fp16_milli: 700_000,
            tflops_bf16_milli: 700_000,
            training_tokens_per_s: 90_000,
            ..Default::default()
        };
        let close = BenchmarkFigures { tflops_bf16_milli: 650_000, ..published.clone() };
        assert!(disagreements(&published, &close, 0.10).is_empty(), "7% off is within 10%");
        let slow = BenchmarkFigures { tflops_bf16_milli: 350_000, training_tokens_per_s: 45_000, ..published.clone() };
        let d = disagreements(&published, &slow, 0.10);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0], "tflops-bf16: published 700000, measured 350000 (50% off)");
        assert!(audit_sdl("h100").contains("- model: h100") && !audit_sdl(CPU_MODEL).contains("gpu:"));
        crate::cmd::market::parse_sdl("audit", audit_sdl("h100").as_bytes()).expect("the audit SDL parses");
    }

    #[test]
    fn dates_are_utc_minutes() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minute(1_796_561_586_713), "2026-12-06 12:53 UTC");
    }
}
