//! Everything a worker started, found and killed as a whole. A worker is the leader of its own
//! session (and process group) and a child subreaper (set before its interpreter starts), and carries a
//! token in its environment that its children inherit. A case's children are found three
//! ways, so that none outlives a timeout, a crash or the harness's end:
//! - the worker's process group (`subprocess.Popen`, `os.fork`);
//! - the worker's descendants by parent pid (a child that called `setsid`; an orphaned
//!   grandchild is re-parented to the worker, the subreaper, so the tree stays whole while the
//!   worker lives);
//! - the token in the environment (a `setsid` child orphaned by a worker that died first).
//!
//! - the harness's adopted orphans: the harness is a child subreaper too (made one by its first
//!   worker, [`adopt_orphans`]), so a child of a worker that died first (a crash, a kill) is
//!   re-parented to the harness, not to init. Every worker leads a session of its own, so a
//!   child of the harness outside the harness's session that is none of its workers and not
//!   its guardian is such an orphan (whatever else the harness, or a program that embeds it,
//!   starts stays in its session: compilers, `introspec run` in a test): it left the worker's
//!   group, and its token if it replaced its environment, but not the harness. Every
//!   [`kill_tree`] and [`kill_all`] kills and reaps them.
//!
//! They are stopped (`SIGSTOP`: a stopped process cannot fork) until a scan finds no new one,
//! then killed.
//!
//! A harness killed by SIGKILL runs none of this: its workers die of `PR_SET_PDEATHSIG`, and
//! their children are re-parented to init. The [guardian](start_guardian) kills them: a
//! process of its own session, started once by the harness (its own binary in a hidden mode,
//! [`guardian_main`]) before any worker, whose standard input is a pipe only the harness
//! writes. The harness tells it each worker's process group as it starts; every token of the
//! harness shares one prefix. When the pipe reaches end of file (the harness is gone, however
//! it died), the guardian stops and kills every process in those groups, holding a token with
//! that prefix, or descending from one of them, as [`kill_tree`] does, and every process it saw
//! in a worker's tree while it watched them (every [`WATCH_EVERY`]; a child that replaced its
//! environment and left for a session of its own is found this way), and exits.

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

/// The prefix of every token of this process (`PID-NANOS`): no other harness has it.
fn run_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{}-{nanos}", std::process::id())
    })
}

/// A token no other worker of this or another harness has: the run's prefix and a number.
pub fn new_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", run_prefix(), N.fetch_add(1, Ordering::SeqCst))
}

/// The guardian's pipe (see [`start_guardian`]), once started.
static GUARDIAN: Mutex<Option<std::process::ChildStdin>> = Mutex::new(None);

/// Tell the guardian, if there is one, a line (`+PGID` or `-PGID`). A guardian that is gone
/// is forgotten.
fn tell_guardian(line: &str) {
    use std::io::Write;
    let mut g = GUARDIAN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pipe) = g.as_mut() {
        if pipe.write_all(line.as_bytes()).is_err() {
            *g = None;
        }
    }
}

/// Held while a worker is spawned and registered, and while adopted orphans are swept: a
/// worker between its `fork` (already in a session of its own) and [`register`] is a
/// child of the harness that no list names yet, and no sweep may take it for an orphan.
static SPAWNING: Mutex<()> = Mutex::new(());

/// The pid of the guardian (a child of the harness in a session of its own, never an orphan).
static GUARDIAN_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Whether this process made itself a child subreaper ([`adopt_orphans`]).
static ADOPTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Make this process a child subreaper (once; Linux only): a descendant orphaned by the death
/// of a worker is re-parented to this process instead of init, where [`kill_tree`] finds it.
/// The first worker calls it; a harness that starts none adopts nothing.
pub fn adopt_orphans() {
    use std::sync::atomic::Ordering;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        // SAFETY: prctl(2) with integer arguments; no memory is touched
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } == 0 {
            ADOPTS.store(true, Ordering::SeqCst);
        }
    });
}

/// Hold this while a worker is spawned, until it is [`register`]ed (see [`SPAWNING`]).
pub fn spawning() -> std::sync::MutexGuard<'static, ()> {
    SPAWNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kill and reap the orphans this process adopted (see the module's documentation): its
/// children outside its session that are no live worker and not the guardian.
fn sweep_adopted() {
    use std::sync::atomic::Ordering;
    if !ADOPTS.load(Ordering::SeqCst) {
        return;
    }
    let _spawning = spawning();
    let me = std::process::id() as i32;
    // SAFETY: getsid(2) of this process cannot fail
    let my_session = unsafe { libc::getsid(0) };
    let guardian = GUARDIAN_PID.load(Ordering::SeqCst);
    let workers: BTreeSet<i32> = LIVE
        .lock()
        .map(|l| l.iter().map(|t| t.pid).collect())
        .unwrap_or_default();
    let orphans: BTreeSet<i32> = processes()
        .into_iter()
        .filter(|p| {
            p.ppid == me
                && p.session != my_session
                && p.pid != guardian
                && !workers.contains(&p.pid)
        })
        .map(|p| p.pid)
        .collect();
    if orphans.is_empty() {
        return;
    }
    // each orphan and what it started since (its descendants)
    stop_then_kill(|| matching(|p| orphans.contains(&p.pid)));
    for pid in orphans {
        // SAFETY: waitpid(2) of a child of this process that no `Child` handle owns (it was
        // adopted, not spawned); it was just killed, so this returns at once
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
}

pub fn register(tree: &Tree) {
    LIVE.lock().unwrap().push(tree.clone());
    tell_guardian(&format!("+{}\n", tree.pid));
}

pub fn unregister(tree: &Tree) {
    LIVE.lock().unwrap().retain(|t| t != tree);
    tell_guardian(&format!("-{}\n", tree.pid));
}

/// The argument that puts the harness's binary in the guardian's mode: `BINARY
/// GUARDIAN_ARG PREFIX` runs [`guardian_main`]. Only the harness passes it.
pub const GUARDIAN_ARG: &str = "__introspec_guardian";

/// Start the guardian: `program` (the harness's own binary, whose `main` calls
/// [`guardian_main`] when its first argument is [`GUARDIAN_ARG`]) in a session of its own
/// (a Ctrl-C or a hang-up of the harness's terminal does not reach it), with the write end
/// of its standard input kept by this process until it exits. Call it once, before the first
/// worker starts; a second call does nothing.
pub fn start_guardian(program: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut g = GUARDIAN.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_some() {
        return Ok(());
    }
    let mut cmd = Command::new(program);
    cmd.arg(GUARDIAN_ARG)
        .arg(run_prefix())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // it needs nothing of the harness's environment, and holds none of it: a process
        // found by a variable the harness was given is a worker or a case's child, never it
        .env_clear();
    // SAFETY: setsid(2) only, between fork and exec
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    GUARDIAN_PID.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
    *g = child.stdin.take();
    // never waited for: it outlives this process by design, and init reaps it
    std::mem::forget(child);
    Ok(())
}

/// The guardian's mode: read `+PGID` / `-PGID` lines from standard input until end of file,
/// then stop and kill every process of those groups, with a token that starts with `prefix`,
/// or descending from one of them, until none is left; then exit. Never returns.
///
/// While it waits it also watches those groups' trees (every [`WATCH_EVERY`]) and remembers
/// each process it saw descend from them, by pid and start time: a case's child that replaced
/// its environment and started a session of its own is in none of the groups and holds no
/// token, and once the harness and the workers are gone its parent is init; the guardian still
/// kills it, as one it saw in a worker's tree (the start time tells it from a later process
/// that reuses the pid).
pub fn guardian_main(prefix: &str) -> ! {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // the harness's group was told to stop (a terminal's Ctrl-C): the guardian keeps waiting
    // for the pipe to close
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let groups: Arc<Mutex<BTreeSet<i32>>> = Arc::default();
    let closed = Arc::new(AtomicBool::new(false));
    {
        let (groups, closed) = (groups.clone(), closed.clone());
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                let (sign, pgid) = line.split_at(line.len().min(1));
                if let Ok(pgid) = pgid.trim().parse::<i32>() {
                    if pgid > 1 {
                        let mut g = groups.lock().unwrap_or_else(|e| e.into_inner());
                        match sign {
                            "+" => {
                                g.insert(pgid);
                            }
                            "-" => {
                                g.remove(&pgid);
                            }
                            _ => {}
                        }
                    }
                }
            }
            closed.store(true, Ordering::SeqCst);
        });
    }
    let live_groups = || groups.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // pid -> start time of every process seen in a worker's tree, still alive
    let mut seen: std::collections::BTreeMap<i32, u64> = std::collections::BTreeMap::new();
    while !closed.load(Ordering::SeqCst) {
        let g = live_groups();
        let procs = processes();
        seen.retain(|pid, start| procs.iter().any(|p| p.pid == *pid && p.start == *start));
        for pid in descendants(&procs, |p| g.contains(&p.pgrp) || g.contains(&p.pid)) {
            if let Some(p) = procs.iter().find(|p| p.pid == pid) {
                seen.insert(pid, p.start);
            }
        }
        std::thread::sleep(WATCH_EVERY);
    }
    let g = live_groups();
    let needle = format!("{TOKEN_VAR}={prefix}-").into_bytes();
    stop_then_kill(|| {
        let procs = processes();
        let mut found = descendants(&procs, |p| {
            g.contains(&p.pgrp) || g.contains(&p.pid) || has_token_prefix(p.pid, &needle)
        });
        let me = std::process::id() as i32;
        found.extend(
            procs
                .iter()
                .filter(|p| p.pid != me && seen.get(&p.pid) == Some(&p.start))
                .map(|p| p.pid),
        );
        found
    });
    std::process::exit(0)
}

/// How often the guardian looks at the workers' trees.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Kill every live worker of this process and everything each started: for a harness about
/// to exit at once (a second Ctrl-C) without dropping its workers.
pub fn kill_all() {
    let trees = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for t in &trees {
        kill_tree(t);
    }
    sweep_adopted();
}

struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    session: i32,
    /// When it started (clock ticks since boot): with the pid, one process for good.
    start: u64,
}

/// Every process (`/proc/PID/stat`): pid, parent, process group, session, start time.
fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid pgrp session …`; comm may hold spaces and parentheses
            let rest = &stat[stat.rfind(')')? + 1..];
            let mut f = rest.split_whitespace().skip(1);
            let ppid = f.next()?.parse().ok()?;
            let pgrp = f.next()?.parse().ok()?;
            let session = f.next()?.parse().ok()?;
            // field 22 of stat; `f` stands at field 7 now
            let start = f.nth(15)?.parse().ok()?;
            Some(Proc {
                pid,
                ppid,
                pgrp,
                session,
                start,
            })
        })
        .collect()
}

fn has_token(pid: i32, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle))
}

fn has_token_prefix(pid: i32, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv.starts_with(needle)))
}

/// The processes of `tree` now: its group, its descendants, the holders of its token (never
/// this process).
fn members(tree: &Tree) -> BTreeSet<i32> {
    let needle = format!("{TOKEN_VAR}={}", tree.token).into_bytes();
    matching(|p| p.pid == tree.pid || p.pgrp == tree.pid || has_token(p.pid, &needle))
}

/// The processes `seed` picks now and their descendants (never this process).
fn matching(seed: impl Fn(&Proc) -> bool) -> BTreeSet<i32> {
    descendants(&processes(), seed)
}

/// The processes of `procs` that `seed` picks and their descendants (never this process).
fn descendants(procs: &[Proc], seed: impl Fn(&Proc) -> bool) -> BTreeSet<i32> {
    let me = std::process::id() as i32;
    let mut found: BTreeSet<i32> = procs.iter().filter(|p| seed(p)).map(|p| p.pid).collect();
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
    // SAFETY: kill(2) with a pid or a negated process group; no memory is touched
    unsafe { libc::kill(-tree.pid, libc::SIGSTOP) };
    stop_then_kill(|| members(tree));
    unsafe { libc::kill(-tree.pid, libc::SIGKILL) };
    sweep_adopted();
}

/// Stop (`SIGSTOP`) what `scan` finds until a scan finds no new process, then kill them all.
fn stop_then_kill(scan: impl Fn() -> BTreeSet<i32>) {
    let mut stopped = BTreeSet::new();
    for _ in 0..50 {
        let now = scan();
        let new: Vec<i32> = now.difference(&stopped).copied().collect();
        if new.is_empty() {
            break;
        }
        for pid in new {
            // SAFETY: kill(2) with a pid; no memory is touched
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            stopped.insert(pid);
        }
    }
    for pid in stopped {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
