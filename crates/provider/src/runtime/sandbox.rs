//! The bubblewrap command line for one replica. Plain data in, argv out, so what a sandbox can
//! see is decided (and tested) in one place.
//!
//! The rule is an allowlist: a sandbox sees what is mounted into it and nothing else. Its root is
//! a fresh tmpfs holding
//! - the host's program directories read-only (`/usr` and the `/bin`, `/lib*` links or dirs);
//! - a curated `/etc`: the few files programs need to run (dynamic loader cache, CA certificates,
//!   name-service switch, time zone), plus `passwd`, `group`, `hosts` and `hostname` written for
//!   the replica. Never `/etc/shadow`, SSH host keys or anything else of the host's `/etc`;
//! - no `/var`, `/opt`, `/home`, `/root`, `/run`, `/mnt` or `/srv`;
//! - private `/tmp`, `/var/tmp`, `/dev` and `/proc`; a `/dev/shm` of 64 MiB unless a `ram` volume is
//!   mounted there; the replica's own volumes, writable.
//!
//! Paths the provider must keep secret (its home, keyring, data and config directories) are
//! canonicalised before they are compared with the mounts, and covered with an empty tmpfs if
//! they lie under one, so a home reached through a symlink or a relative path is hidden too.
//!
//! The process runs in new PID, IPC, UTS, cgroup and network namespaces (only loopback; its
//! ports are reached through listening sockets the supervisor owns and passes in by fd) and with
//! `PR_SET_NO_NEW_PRIVS` and `nosuid` mounts (bubblewrap's defaults). Run by root, bubblewrap makes
//! no user namespace and the sandbox's init drops to the lease's own unprivileged uid before it
//! does anything else; run by anyone else, a user namespace maps the caller's uid.

use std::path::{Path, PathBuf};

/// Docker's default `/dev/shm`, used when the SDL mounts no `ram` volume there.
pub const DEFAULT_SHM: u64 = 64 << 20;

/// Host program directories a sandbox sees (read-only).
pub const SYSTEM_DIRS: &[&str] = &["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Entries of the host's `/etc` a sandbox sees (read-only, where they exist). Everything else in
/// `/etc` — `shadow`, `ssh/`, `sudoers`, the provider's own config — stays out.
pub const ETC_ALLOWED: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "gai.conf",
    "host.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "protocols",
    "services",
    "ssl/certs",
    "ssl/openssl.cnf",
    "timezone",
];

/// The uid and gid a root-run sandbox's processes take inside when no per-lease uid is set.
pub const NOBODY: u32 = 65534;

/// One entry of the sandbox's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootEntry {
    Dir(String),
    Symlink(String, String),
}

/// The host's program directories, as they are (links stay links).
pub fn host_root() -> Vec<RootEntry> {
    SYSTEM_DIRS
        .iter()
        .filter_map(|name| {
            let path = Path::new("/").join(name);
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

/// The allowed `/etc` entries that exist on this host.
pub fn host_etc() -> Vec<String> {
    ETC_ALLOWED.iter().filter(|e| Path::new("/etc").join(e).exists()).map(|e| (*e).to_string()).collect()
}

/// Where the `stratus` binary appears inside every sandbox.
pub const INNER_EXE: &str = "/stratus/bin/stratus";

/// Host directories the sandbox mounts whole (read-only): what a hidden path must be checked
/// against.
pub fn mounted_dirs(root: &[RootEntry], etc: &[String]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = root
        .iter()
        .filter_map(|e| match e {
            RootEntry::Dir(d) => Some(Path::new("/").join(d)),
            RootEntry::Symlink(..) => None,
        })
        .collect();
    out.extend(etc.iter().map(|e| Path::new("/etc").join(e)));
    out
}

/// The paths to cover with an empty tmpfs: each secret path as the kernel resolves it (symlinks
/// and `..` followed, relative paths made absolute), kept when it lies inside a mounted
/// directory. A path that does not exist yet is resolved through its nearest existing ancestor,
/// so a directory created later under it is still hidden.
pub fn hidden_paths(secrets: &[PathBuf], mounted: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for s in secrets {
        let Some(real) = resolve(s) else { continue };
        if mounted.iter().any(|m| real.starts_with(m)) && !out.contains(&real) {
            out.push(real);
        }
    }
    // One tmpfs covers everything under it; a nested one would leave its mount point behind.
    let all = out.clone();
    out.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q)));
    out
}

/// `canonicalize`, extended to paths whose tail does not exist yet.
fn resolve(p: &Path) -> Option<PathBuf> {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().ok()?.join(p) };
    let mut tail = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(cur) {
            let mut out = real;
            for part in tail.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
        tail.push(cur.file_name()?.to_os_string());
        cur = cur.parent()?;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxPlan {
    /// The bubblewrap program (`runtime.bwrap`).
    pub bwrap: String,
    pub root: Vec<RootEntry>,
    /// Allowed `/etc` entries (relative to `/etc`).
    pub etc: Vec<String>,
    /// The `stratus` binary on the host (bound at [`INNER_EXE`]).
    pub exe: PathBuf,
    /// Canonical host paths replaced by empty tmpfs ([`hidden_paths`]).
    pub hide: Vec<PathBuf>,
    /// (host path, path inside, read-only).
    pub binds: Vec<(PathBuf, String, bool)>,
    /// Memory-backed mounts: (path inside, size limit in bytes).
    pub tmpfs: Vec<(String, u64)>,
    /// Device nodes passed through (GPUs).
    pub devices: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Listening sockets passed in by fd (3, 4, …), announced as `LISTEN_FDS`.
    pub listen_fds: usize,
    /// The user namespace: true when bubblewrap runs unprivileged (it must then make one, and the
    /// sandbox keeps the caller's uid); false when run by root (the init drops to the lease's
    /// uid itself, and a user namespace would map uid 0 inside to root outside).
    pub user_namespace: bool,
    /// Share the host's network namespace (an image rule's `network = "host"`).
    pub host_network: bool,
    pub command: Vec<String>,
}

pub fn bwrap_argv(plan: &SandboxPlan) -> Vec<String> {
    let mut a: Vec<String> = vec![plan.bwrap.clone(), "--die-with-parent".into(), "--new-session".into()];
    if plan.user_namespace {
        a.push("--unshare-user".into());
    }
    a.extend(["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"].map(String::from));
    if !plan.host_network {
        a.push("--unshare-net".into());
    }
    a.extend(["--hostname".into(), "replica".into()]);
    for e in &plan.root {
        match e {
            RootEntry::Dir(d) => a.extend(["--ro-bind".into(), format!("/{d}"), format!("/{d}")]),
            RootEntry::Symlink(name, target) => a.extend(["--symlink".into(), target.clone(), format!("/{name}")]),
        }
    }
    // The workload runs unprivileged: its scratch space is world-writable (sticky), and every
    // directory bubblewrap would create on the way to a mount is made readable first (it makes
    // them 0700 otherwise, so a dropped uid could not reach its own volumes).
    a.extend(["--dev", "/dev", "--proc", "/proc"].map(String::from));
    for t in ["/tmp", "/var/tmp"] {
        a.extend(["--perms".into(), "1777".into(), "--tmpfs".into(), t.into()]);
    }
    a.extend(["--perms", "0755", "--dir", "/root"].map(String::from));
    let mut dests: Vec<String> = vec![INNER_EXE.into()];
    dests.extend(plan.etc.iter().map(|e| format!("/etc/{e}")));
    dests.extend(plan.tmpfs.iter().map(|(p, _)| p.clone()));
    dests.extend(plan.binds.iter().map(|(_, inside, _)| inside.clone()));
    for dir in parent_dirs(&dests) {
        a.extend(["--perms".into(), "0755".into(), "--dir".into(), dir]);
    }
    for e in &plan.etc {
        a.extend(["--ro-bind".into(), format!("/etc/{e}"), format!("/etc/{e}")]);
    }
    a.extend(["--ro-bind".into(), plan.exe.display().to_string(), INNER_EXE.into()]);
    for h in &plan.hide {
        a.extend(["--tmpfs".into(), h.display().to_string()]);
    }
    let shm_mounted = plan.tmpfs.iter().any(|(p, _)| p.trim_end_matches('/') == "/dev/shm");
    if !shm_mounted {
        a.extend(["--perms", "1777", "--size"].map(String::from));
        a.extend([DEFAULT_SHM.to_string(), "--tmpfs".into(), "/dev/shm".into()]);
    }
    for (path, size) in &plan.tmpfs {
        a.extend(["--perms".into(), "1777".into(), "--size".into(), size.to_string(), "--tmpfs".into(), path.clone()]);
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
    if plan.listen_fds > 0 {
        a.extend(["--setenv".into(), "LISTEN_FDS".into(), plan.listen_fds.to_string()]);
    }
    a.extend(["--chdir".into(), "/".into(), "--".into()]);
    a.extend(plan.command.iter().cloned());
    a
}

/// The directories above `paths` that bubblewrap would have to create, parents first: not `/`,
/// and nothing under a directory the sandbox already has (`/dev`, `/proc`, the host's program
/// directories).
fn parent_dirs(paths: &[String]) -> Vec<String> {
    let premade = |dir: &Path| {
        dir.starts_with("/dev")
            || dir.starts_with("/proc")
            || SYSTEM_DIRS.iter().any(|d| dir.starts_with(Path::new("/").join(d)))
    };
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        let mut cur = Path::new(p).parent();
        let mut chain = Vec::new();
        while let Some(dir) = cur.filter(|d| *d != Path::new("/")) {
            chain.push(dir.display().to_string());
            cur = dir.parent();
        }
        for dir in chain.into_iter().rev() {
            if !premade(Path::new(&dir)) && !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
    out
}

/// The environment every workload starts from: fixed, never the provider's own.
pub fn base_env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("HOME".into(), "/tmp".into()),
    ]
}

/// `/etc/passwd` and `/etc/group` for a sandbox whose processes run as `uid`.
pub fn passwd_group(uid: u32) -> (String, String) {
    let passwd = format!(
        "root:x:0:0:root:/root:/bin/sh\ntenant:x:{uid}:{uid}:tenant:/tmp:/bin/sh\nnobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/usr/sbin/nologin\n"
    );
    let group = format!("root:x:0:\ntenant:x:{uid}:\nnogroup:x:{NOBODY}:\n");
    (passwd, group)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SandboxPlan {
        SandboxPlan {
            bwrap: "bwrap".into(),
            root: vec![RootEntry::Dir("usr".into()), RootEntry::Symlink("bin".into(), "usr/bin".into())],
            etc: vec!["ld.so.cache".into(), "ssl/certs".into()],
            exe: PathBuf::from("/opt/x/stratus"),
            hide: vec![PathBuf::from("/usr/local/secret")],
            binds: vec![(PathBuf::from("/data/l1/vol"), "/data".into(), false)],
            tmpfs: vec![],
            devices: vec![],
            env: vec![("A".into(), "1".into())],
            listen_fds: 2,
            user_namespace: false,
            host_network: false,
            command: vec!["/bin/app".into(), "--x".into()],
        }
    }

    #[test]
    fn mounts_only_what_is_allowed_and_binds_only_own_volumes() {
        let argv = bwrap_argv(&plan()).join(" ");
        assert!(argv.contains("--ro-bind /usr /usr") && argv.contains("--symlink usr/bin /bin"));
        assert!(!argv.contains("--ro-bind / /"), "never the whole host root");
        for never in ["/etc /etc", "/var /var", "/opt /opt", "/home", "/run", "/etc/shadow"] {
            assert!(!argv.contains(never), "{never} is mounted: {argv}");
        }
        assert!(argv.contains("--ro-bind /etc/ssl/certs /etc/ssl/certs"));
        assert!(argv.contains(&format!("--ro-bind /opt/x/stratus {INNER_EXE}")));
        assert!(argv.contains("--unshare-net") && argv.contains("--unshare-pid"));
        assert!(argv.contains("--tmpfs /usr/local/secret"));
        assert!(argv.contains(&format!("--perms 1777 --size {DEFAULT_SHM} --tmpfs /dev/shm")));
        assert!(argv.contains("--perms 1777 --tmpfs /tmp"));
        // Directories on the way to mounts are readable by the unprivileged workload.
        for dir in ["/stratus", "/stratus/bin", "/etc", "/etc/ssl"] {
            assert!(argv.contains(&format!("--perms 0755 --dir {dir} ")), "{dir}: {argv}");
        }
        let bin = argv.find("--dir /stratus/bin").unwrap();
        assert!(bin < argv.find(INNER_EXE).unwrap(), "parents before the mount");
        assert!(argv.contains("--bind /data/l1/vol /data"));
        assert!(argv.contains("--clearenv --setenv A 1 --setenv LISTEN_FDS 2"));
        assert!(argv.ends_with("-- /bin/app --x"));
        // Run by root: no user namespace (it would map uid 0 inside to root outside).
        assert!(!argv.contains("--unshare-user"));
        let argv = bwrap_argv(&SandboxPlan { user_namespace: true, ..plan() }).join(" ");
        assert!(argv.contains("--unshare-user"));
        // A ram volume at /dev/shm replaces the default size.
        let argv = bwrap_argv(&SandboxPlan { tmpfs: vec![("/dev/shm".into(), 8 << 30)], ..plan() }).join(" ");
        assert!(argv.contains(&format!("--perms 1777 --size {} --tmpfs /dev/shm", 8u64 << 30)));
        assert!(!argv.contains(&format!("--size {DEFAULT_SHM}")));
        // A host-network rule shares the network namespace and nothing else.
        let argv = bwrap_argv(&SandboxPlan { host_network: true, ..plan() }).join(" ");
        assert!(!argv.contains("--unshare-net"));
        assert!(argv.contains("--unshare-pid") && argv.contains("--clearenv"));
    }

    #[test]
    fn hidden_paths_are_canonical_whatever_spelling_reached_them() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("usr-like").join("home");
        std::fs::create_dir_all(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mounted = vec![std::fs::canonicalize(tmp.path().join("usr-like")).unwrap()];
        let want = std::fs::canonicalize(&real).unwrap();
        // Through a symlink, through `..`, and a path whose tail does not exist yet.
        let dotted = tmp.path().join("usr-like").join("x").join("..").join("home");
        std::fs::create_dir_all(tmp.path().join("usr-like").join("x")).unwrap();
        assert_eq!(hidden_paths(std::slice::from_ref(&link), &mounted), vec![want.clone()]);
        assert_eq!(hidden_paths(&[dotted], &mounted), vec![want.clone()]);
        assert_eq!(hidden_paths(&[link.join("keyring")], &mounted), vec![want.join("keyring")]);
        // Nested secrets: only the outer one is covered.
        assert_eq!(hidden_paths(&[link.join("keyring"), link.clone()], &mounted), vec![want.clone()]);
        // Outside every mount: nothing to hide (the sandbox cannot see it anyway).
        assert!(hidden_paths(&[tmp.path().join("elsewhere")], &mounted).is_empty());
    }

    #[test]
    fn the_environment_is_fixed_and_the_passwd_names_the_lease_uid() {
        let env = base_env();
        assert!(env.iter().all(|(k, _)| ["PATH", "LANG", "HOME"].contains(&k.as_str())));
        let (passwd, group) = passwd_group(200_123);
        assert!(passwd.contains("tenant:x:200123:200123:") && group.contains("tenant:x:200123:"));
    }
}
