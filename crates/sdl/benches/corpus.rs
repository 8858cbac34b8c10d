//! Parses every awesome-akash template (validate + groups + manifest + version hash) per iteration.
//! Throughput is reported in files per second; `bench/sdl-vs-ts.sh` compares it with the TS SDK.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn corpus() -> Vec<Vec<u8>> {
    let dir = std::env::var("STRATUS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"))
        .join("awesome-akash");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).expect("read corpus file")).collect()
}

fn bench(c: &mut Criterion) {
    let files = corpus();
    let mut group = c.benchmark_group("sdl");
    group.throughput(Throughput::Elements(files.len() as u64));
    group.bench_function("awesome_akash_corpus", |b| {
        b.iter(|| {
            let mut valid = 0;
            for f in &files {
                valid += usize::from(stratus_sdl::parse(std::hint::black_box(f)).is_valid());
            }
            valid
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
