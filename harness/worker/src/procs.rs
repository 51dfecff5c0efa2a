//! Everything a worker started, found and killed as a whole. A worker is the leader of its own
//! process group and a child subreaper (set before its interpreter starts), and carries a
//! token in its environment that its children inherit. A case's children are found three
//! ways, so that none outlives a timeout, a crash or the harness's end:
//! - the worker's process group (`subprocess.Popen`, `os.fork`);
//! - the worker's descendants by parent pid (a child that called `setsid`; an orphaned
//!   grandchild is re-parented to the worker, the subreaper, so the tree stays whole while the
//!   worker lives);
//! - the token in the environment (a `setsid` child orphaned by a worker that died first).
//!
//! They are stopped (`SIGSTOP`: a stopped process cannot fork) until a scan finds no new one,
//! then killed. A process whose environment a case replaced, that left the worker's group and
//! whose parent chain to the worker broke when the worker died, escapes; so does everything if
//! the harness itself is killed by SIGKILL (the worker dies of `PR_SET_PDEATHSIG`, its
//! children do not).

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The environment variable holding a worker's token.
pub const TOKEN_VAR: &str = "INTROSPEC_WORKER_TOKEN";

/// A worker's identity for [`kill_tree`]: its pid (also its process group) and its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub pid: i32,
    pub token: String,
}

/// The trees of the live workers of this process, for [`kill_all`].
static LIVE: Mutex<Vec<Tree>> = Mutex::new(Vec::new());

/// A token no other worker of this or another harness has.
pub fn new_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn register(tree: &Tree) {
    LIVE.lock().unwrap().push(tree.clone());
}

pub fn unregister(tree: &Tree) {
    LIVE.lock().unwrap().retain(|t| t != tree);
}

/// Kill every live worker of this process and everything each started: for a harness about
/// to exit at once (a second Ctrl-C) without dropping its workers.
pub fn kill_all() {
    let trees = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for t in &trees {
        kill_tree(t);
    }
}

struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
}

/// Every process (`/proc/PID/stat`): pid, parent, process group.
fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses
            let rest = &stat[stat.rfind(')')? + 1..];
            let mut f = rest.split_whitespace().skip(1);
            let ppid = f.next()?.parse().ok()?;
            let pgrp = f.next()?.parse().ok()?;
            Some(Proc { pid, ppid, pgrp })
        })
        .collect()
}

fn has_token(pid: i32, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle))
}

/// The processes of `tree` now: its group, its descendants, the holders of its token (never
/// this process).
fn members(tree: &Tree) -> BTreeSet<i32> {
    let me = std::process::id() as i32;
    let procs = processes();
    let needle = format!("{TOKEN_VAR}={}", tree.token).into_bytes();
    let mut found: BTreeSet<i32> = procs
        .iter()
        .filter(|p| p.pid == tree.pid || p.pgrp == tree.pid || has_token(p.pid, &needle))
        .map(|p| p.pid)
        .collect();
    loop {
        let more: Vec<i32> = procs
            .iter()
            .filter(|p| found.contains(&p.ppid) && !found.contains(&p.pid))
            .map(|p| p.pid)
            .collect();
        if more.is_empty() {
            break;
        }
        found.extend(more);
    }
    found.remove(&me);
    found
}

/// Stop every process of `tree` until no new one appears, then kill them all. The worker
/// itself is killed too (its caller reaps it).
pub fn kill_tree(tree: &Tree) {
    if tree.pid <= 1 {
        return;
    }
    let mut stopped = BTreeSet::new();
    // SAFETY: kill(2) with a pid or a negated process group; no memory is touched
    unsafe { libc::kill(-tree.pid, libc::SIGSTOP) };
    for _ in 0..50 {
        let now = members(tree);
        let new: Vec<i32> = now.difference(&stopped).copied().collect();
        if new.is_empty() {
            break;
        }
        for pid in new {
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            stopped.insert(pid);
        }
    }
    unsafe { libc::kill(-tree.pid, libc::SIGKILL) };
    for pid in stopped {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
