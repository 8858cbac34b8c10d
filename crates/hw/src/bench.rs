//! The measurements behind a [`BenchmarkRecord`]: matmul throughput per precision, memory and
//! host↔device bandwidth on candle's devices, /dev/shm, storage throughput, and the machine's
//! identity. Each figure is the best of a few timed runs after a warm-up.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};

use crate::metrics::HostSample;
use crate::record::{BenchmarkRecord, ComputeDevice, ComputeFigures, GpuFigures, HardwareIdentity, StorageFigures};

/// How much work each figure gets.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Matmul side (n×n by n×n).
    pub matmul_n: usize,
    /// Bytes copied for memory bandwidth.
    pub copy_bytes: usize,
    /// Bytes written and read back for storage.
    pub storage_bytes: usize,
    /// Time spent per figure (at least two runs each).
    pub per_figure: Duration,
}

impl BenchOptions {
    pub fn full() -> BenchOptions {
        BenchOptions {
            matmul_n: 1024,
            copy_bytes: 256 << 20,
            storage_bytes: 512 << 20,
            per_figure: Duration::from_secs(2),
        }
    }

    /// Seconds rather than minutes: for tests and a first look.
    pub fn quick() -> BenchOptions {
        BenchOptions {
            matmul_n: 256,
            copy_bytes: 16 << 20,
            storage_bytes: 16 << 20,
            per_figure: Duration::from_millis(200),
        }
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs `f` until `budget` has passed (and at least twice) and returns the shortest run.
fn best_of(budget: Duration, mut f: impl FnMut() -> Result<(), String>) -> Result<Duration, String> {
    f()?; // warm-up: allocation, kernel selection, caches
    let started = Instant::now();
    let mut best = Duration::MAX;
    let mut runs = 0;
    while runs < 2 || started.elapsed() < budget {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed());
        runs += 1;
    }
    Ok(best.max(Duration::from_nanos(1)))
}

/// Dense matmul throughput in TFLOPS (2n³ floating-point operations per product).
pub fn matmul_tflops(device: &Device, dtype: DType, o: &BenchOptions) -> Result<f64, String> {
    let n = o.matmul_n;
    let a = Tensor::randn(0f32, 1.0, (n, n), device).and_then(|t| t.to_dtype(dtype)).map_err(err)?;
    let b = Tensor::randn(0f32, 1.0, (n, n), device).and_then(|t| t.to_dtype(dtype)).map_err(err)?;
    let t = best_of(o.per_figure, || {
        let c = a.matmul(&b).map_err(err)?;
        device.synchronize().map_err(err)?;
        drop(c);
        Ok(())
    })?;
    Ok(2.0 * (n as f64).powi(3) / t.as_secs_f64() / 1e12)
}

/// Memory bandwidth of a device in GB/s: a large copy, counting the bytes read and written.
pub fn memory_gbs(device: &Device, o: &BenchOptions) -> Result<f64, String> {
    let elems = o.copy_bytes / 4;
    let src = Tensor::zeros(elems, DType::F32, device).map_err(err)?;
    let t = best_of(o.per_figure, || {
        // `+ 0` forces a new buffer: read all of src, write all of the result.
        let dst = (&src + 0.0).map_err(err)?;
        device.synchronize().map_err(err)?;
        drop(dst);
        Ok(())
    })?;
    Ok(2.0 * (elems * 4) as f64 / t.as_secs_f64() / 1e9)
}

/// Host→device and device→host bandwidth in GB/s.
pub fn transfer_gbs(device: &Device, o: &BenchOptions) -> Result<(f64, f64), String> {
    let elems = o.copy_bytes / 4;
    let host = Tensor::zeros(elems, DType::F32, &Device::Cpu).map_err(err)?;
    let up = best_of(o.per_figure, || {
        host.to_device(device).map_err(err)?;
        device.synchronize().map_err(err)
    })?;
    let on_device = host.to_device(device).map_err(err)?;
    let down = best_of(o.per_figure, || on_device.to_device(&Device::Cpu).map(drop).map_err(err))?;
    let bytes = (elems * 4) as f64;
    Ok((bytes / up.as_secs_f64() / 1e9, bytes / down.as_secs_f64() / 1e9))
}

pub fn compute_figures(device: &Device, o: &BenchOptions) -> Result<ComputeFigures, String> {
    Ok(ComputeFigures {
        tflops_fp32: matmul_tflops(device, DType::F32, o)?,
        tflops_fp16: matmul_tflops(device, DType::F16, o)?,
        tflops_bf16: matmul_tflops(device, DType::BF16, o)?,
        memory_gbs: memory_gbs(device, o)?,
    })
}

/// Size of the filesystem at `path` in bytes (/dev/shm: what data loaders can use).
pub fn filesystem_bytes(path: &Path) -> Result<u64, String> {
    let s = nix::sys::statvfs::statvfs(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // statvfs' field types differ between platforms (u64 on x86-64 Linux, u32 elsewhere).
    #[allow(clippy::useless_conversion)]
    let bytes = u64::from(s.blocks()).saturating_mul(u64::from(s.fragment_size()));
    Ok(bytes)
}

/// Sequential write (with fsync) and read throughput of a file in `dir`, MB/s. The file is
/// dropped from the page cache before it is read, so the read comes from the device.
pub fn storage_figures(dir: &Path, o: &BenchOptions) -> Result<StorageFigures, String> {
    use std::os::fd::AsFd;
    let what = |e: std::io::Error| format!("storage benchmark in {}: {e}", dir.display());
    fs::create_dir_all(dir).map_err(what)?;
    let path = dir.join(format!(".stratus-benchmark-{}", std::process::id()));
    let block = vec![0x5au8; 1 << 20];
    let blocks = (o.storage_bytes >> 20).max(1);
    let result = (|| {
        let t = Instant::now();
        let mut f = fs::File::create(&path).map_err(what)?;
        for _ in 0..blocks {
            f.write_all(&block).map_err(what)?;
        }
        f.sync_all().map_err(what)?;
        let write = t.elapsed();
        nix::fcntl::posix_fadvise(f.as_fd(), 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        drop(f);
        let t = Instant::now();
        let mut f = fs::File::open(&path).map_err(what)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut read = 0usize;
        loop {
            let n = f.read(&mut buf).map_err(what)?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let read_time = t.elapsed();
        let bytes = (blocks << 20) as f64;
        if read != blocks << 20 {
            return Err(format!("{}: read {read} bytes back of {}", path.display(), blocks << 20));
        }
        Ok(StorageFigures {
            path: dir.display().to_string(),
            write_mbs: bytes / write.as_secs_f64() / 1e6,
            read_mbs: bytes / read_time.as_secs_f64().max(1e-9) / 1e6,
            bytes: bytes as u64,
        })
    })();
    let _ = fs::remove_file(&path);
    result
}

/// The host's CPU, threads and memory (from /proc).
pub fn host_identity() -> (String, u32, u64) {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    (model, threads, host_sample().memory_total_bytes)
}

/// Load and memory now (from /proc).
pub fn host_sample() -> HostSample {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let load1 = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    HostSample {
        load1,
        cpu_threads: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_total_bytes: kib("MemTotal:"),
        memory_available_bytes: kib("MemAvailable:"),
    }
}

/// Every figure but the training one: the CPU always, each GPU when `driver` (the caller's
/// [`crate::nvml::Telemetry`], if it has one) is there and this build has CUDA. `progress` hears
/// what is being measured.
pub fn run(
    storage_dir: &Path,
    o: &BenchOptions,
    driver: Option<&crate::nvml::Telemetry>,
    mut progress: impl FnMut(&str),
) -> Result<BenchmarkRecord, String> {
    let (cpu_model, cpu_threads, memory_bytes) = host_identity();
    let facts = driver.map(crate::nvml::Telemetry::facts);
    let mut gpus = Vec::new();
    let cuda = cfg!(feature = "cuda") && facts.as_ref().is_some_and(|f| !f.gpus.is_empty());
    if cuda {
        for g in facts.iter().flat_map(|f| &f.gpus) {
            progress(&format!("gpu {} ({}): matmul fp32/fp16/bf16, memory and transfer bandwidth", g.index, g.model));
            let device = Device::new_cuda(g.index as usize).map_err(err)?;
            let (h2d, d2h) = transfer_gbs(&device, o)?;
            gpus.push(GpuFigures {
                index: g.index,
                model: g.model.clone(),
                compute: compute_figures(&device, o)?,
                host_to_device_gbs: h2d,
                device_to_host_gbs: d2h,
            });
        }
    }
    progress("cpu: matmul fp32/fp16/bf16 and memory bandwidth");
    let cpu = compute_figures(&Device::Cpu, o)?;
    progress(&format!("storage: write and read {} MiB in {}", o.storage_bytes >> 20, storage_dir.display()));
    let storage = storage_figures(storage_dir, o)?;
    let shm_bytes = filesystem_bytes(Path::new("/dev/shm")).unwrap_or(0);
    let (driver_version, cuda_version, gpu_ids) =
        facts.map_or((None, None, Vec::new()), |f| (f.driver_version, f.cuda_version, f.gpus));
    Ok(BenchmarkRecord {
        version: 1,
        device: if cuda { ComputeDevice::Cuda } else { ComputeDevice::Cpu },
        hardware: HardwareIdentity {
            cpu_model,
            cpu_threads,
            memory_bytes,
            gpus: gpu_ids,
            driver_version,
            cuda_version,
        },
        gpus,
        cpu,
        shm_bytes,
        storage,
        training: None,
        measured_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_benchmark_measures_every_cpu_figure_and_real_storage() {
        let dir = tempfile::tempdir().unwrap();
        let mut heard = Vec::new();
        let r = run(dir.path(), &BenchOptions::quick(), None, |s| heard.push(s.to_string())).unwrap();
        assert_eq!(r.device, ComputeDevice::Cpu, "no GPU here");
        for (name, v) in [
            ("fp32", r.cpu.tflops_fp32),
            ("fp16", r.cpu.tflops_fp16),
            ("bf16", r.cpu.tflops_bf16),
            ("memory", r.cpu.memory_gbs),
            ("write", r.storage.write_mbs),
            ("read", r.storage.read_mbs),
        ] {
            assert!(v.is_finite() && v > 0.0, "{name}: {v}");
        }
        // A CPU core does at most a few hundred GFLOPS; a figure past 100 TFLOPS is a timing bug.
        assert!(r.cpu.tflops_fp32 < 100.0, "{}", r.cpu.tflops_fp32);
        assert_eq!(r.storage.bytes, 16 << 20);
        assert!(r.shm_bytes > 0, "/dev/shm has a size");
        assert!(r.hardware.cpu_threads >= 1 && r.hardware.memory_bytes > 0 && !r.hardware.cpu_model.is_empty());
        assert!(heard.iter().any(|h| h.starts_with("storage")), "{heard:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the test file is removed");
    }

    #[test]
    fn a_storage_directory_that_cannot_be_written_says_where() {
        let e = storage_figures(Path::new("/proc/stratus-no-such-dir"), &BenchOptions::quick()).unwrap_err();
        assert!(e.contains("/proc/stratus-no-such-dir"), "{e}");
    }
}
