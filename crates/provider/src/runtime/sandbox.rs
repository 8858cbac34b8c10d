//! The bubblewrap command line for one replica. Plain data in, argv out, so what a sandbox can
//! see is decided (and tested) in one place.
//!
//! The sandbox: new user, PID, IPC, UTS, cgroup and network namespaces (only loopback; the
//! replica's ports are reached through Unix sockets in a directory shared with the provider);
//! a fresh root holding the host's system directories read-only (`/usr`, `/etc`, `/opt`, `/var`
//! and the `/bin`-style links; never `/root`, `/home`, `/run`, `/mnt` or other data); private
//! `/tmp`, `/dev` and `/proc`; a `/dev/shm` of 64 MiB unless a `ram` volume is mounted there;
//! configured paths hidden under empty tmpfs; only the replica's own volumes writable. It dies
//! with its supervisor.

use std::path::PathBuf;

/// Docker's default `/dev/shm`, used when the SDL mounts no `ram` volume there.
pub const DEFAULT_SHM: u64 = 64 << 20;

/// Host system directories a sandbox sees (read-only).
pub const SYSTEM_DIRS: &[&str] = &["usr", "etc", "opt", "var", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// One entry of the sandbox's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootEntry {
    Dir(String),
    Symlink(String, String),
}

/// The host's system directories, as they are (links stay links).
pub fn host_root() -> Vec<RootEntry> {
    SYSTEM_DIRS
        .iter()
        .filter_map(|name| {
            let path = std::path::Path::new("/").join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&path)
                    .ok()
                    .map(|t| RootEntry::Symlink((*name).to_string(), t.display().to_string())),
                Ok(m) if m.is_dir() => Some(RootEntry::Dir((*name).to_string())),
                _ => None,
            }
        })
        .collect()
}

/// Where the `stratus` binary appears inside every sandbox.
pub const INNER_EXE: &str = "/stratus/bin/stratus";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxPlan {
    pub root: Vec<RootEntry>,
    /// The `stratus` binary on the host (bound at [`INNER_EXE`]).
    pub exe: PathBuf,
    /// Host paths replaced by empty tmpfs (the provider's secrets and other leases' data).
    pub hide: Vec<PathBuf>,
    /// (host path, path inside, read-only).
    pub binds: Vec<(PathBuf, String, bool)>,
    /// Memory-backed mounts: (path inside, size limit in bytes).
    pub tmpfs: Vec<(String, u64)>,
    /// Device nodes passed through (GPUs).
    pub devices: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
    pub command: Vec<String>,
}

pub fn bwrap_argv(plan: &SandboxPlan) -> Vec<String> {
    let mut a: Vec<String> = [
        "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--unshare-net",
        "--hostname",
        "replica",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    for e in &plan.root {
        match e {
            RootEntry::Dir(d) => a.extend(["--ro-bind".into(), format!("/{d}"), format!("/{d}")]),
            RootEntry::Symlink(name, target) => a.extend(["--symlink".into(), target.clone(), format!("/{name}")]),
        }
    }
    a.extend(
        ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--dir", "/root", "--dir", "/stratus/sock"]
            .map(String::from),
    );
    a.extend(["--ro-bind".into(), plan.exe.display().to_string(), INNER_EXE.into()]);
    for h in &plan.hide {
        a.extend(["--tmpfs".into(), h.display().to_string()]);
    }
    let shm_mounted = plan.tmpfs.iter().any(|(p, _)| p.trim_end_matches('/') == "/dev/shm");
    if !shm_mounted {
        a.extend(["--size".into(), DEFAULT_SHM.to_string(), "--tmpfs".into(), "/dev/shm".into()]);
    }
    for (path, size) in &plan.tmpfs {
        a.extend(["--size".into(), size.to_string(), "--tmpfs".into(), path.clone()]);
    }
    for (host, inside, ro) in &plan.binds {
        let flag = if *ro { "--ro-bind" } else { "--bind" };
        a.extend([flag.into(), host.display().to_string(), inside.clone()]);
    }
    for d in &plan.devices {
        a.extend(["--dev-bind".into(), d.display().to_string(), d.display().to_string()]);
    }
    a.push("--clearenv".into());
    for (k, v) in &plan.env {
        a.extend(["--setenv".into(), k.clone(), v.clone()]);
    }
    a.extend(["--chdir".into(), "/".into(), "--".into()]);
    a.extend(plan.command.iter().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_secrets_limits_shm_and_binds_only_own_volumes() {
        let plan = SandboxPlan {
            root: vec![RootEntry::Dir("usr".into()), RootEntry::Symlink("bin".into(), "usr/bin".into())],
            exe: PathBuf::from("/opt/x/stratus"),
            hide: vec![PathBuf::from("/usr/local/secret")],
            binds: vec![(PathBuf::from("/data/l1/vol"), "/data".into(), false)],
            tmpfs: vec![],
            devices: vec![],
            env: vec![("A".into(), "1".into())],
            command: vec!["/bin/app".into(), "--x".into()],
        };
        let argv = bwrap_argv(&plan).join(" ");
        assert!(argv.contains("--ro-bind /usr /usr") && argv.contains("--symlink usr/bin /bin"));
        assert!(!argv.contains("--ro-bind / /"), "never the whole host root");
        assert!(argv.contains(&format!("--ro-bind /opt/x/stratus {INNER_EXE}")));
        assert!(argv.contains("--unshare-net"));
        assert!(argv.contains("--tmpfs /usr/local/secret"));
        assert!(argv.contains(&format!("--size {DEFAULT_SHM} --tmpfs /dev/shm")));
        assert!(argv.contains("--bind /data/l1/vol /data"));
        assert!(argv.contains("--clearenv --setenv A 1"));
        assert!(argv.ends_with("-- /bin/app --x"));
        // A ram volume at /dev/shm replaces the default size.
        let plan = SandboxPlan { tmpfs: vec![("/dev/shm".into(), 8 << 30)], ..plan };
        let argv = bwrap_argv(&plan).join(" ");
        assert!(argv.contains(&format!("--size {} --tmpfs /dev/shm", 8u64 << 30)));
        assert!(!argv.contains(&format!("--size {DEFAULT_SHM}")));
    }
}
