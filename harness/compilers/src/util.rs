//! Running a command and keeping its output; the cache helpers (digests, locks, atomic
//! writes) come from `introspec-cache`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::{Compiler, Step};

pub use introspec_cache::{move_into_place, temp_beside, write_atomic, Digest, Lock};

/// What a finished command gave.
pub struct Output {
    /// Whether it exited with status 0.
    pub ok: bool,
    /// `exit code 1`, `signal 9`, or `cannot start: …`.
    pub status: String,
    /// What it wrote to its standard output.
    pub stdout: String,
    /// What it wrote to its standard error.
    pub stderr: String,
    /// The CPU time (user and system) of the command and of every process it waited for.
    pub cpu: Duration,
}

impl Output {
    /// The last `n` non-empty lines of stderr then stdout, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let text = format!("{}\n{}", self.stderr, self.stdout);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// What a command's CPU time is counted as: the compiler and the step it works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Account {
    /// The compiler whose build ran the command.
    pub compiler: Compiler,
    /// The step of the build.
    pub step: Step,
}

static CPU: Mutex<BTreeMap<Account, (Duration, usize)>> = Mutex::new(BTreeMap::new());

/// The CPU time (user + system) of every command the builds of this process ran, by compiler
/// and step, with the number of commands: where a cold build's time goes.
pub fn cpu_profile() -> Vec<(Account, Duration, usize)> {
    CPU.lock()
        .unwrap()
        .iter()
        .map(|(a, (d, n))| (*a, *d, *n))
        .collect()
}

/// Run a command to completion with `stdin` written to it, its outputs captured, its CPU
/// time added to `account` in [`cpu_profile`]. The Python environment variables that would
/// redirect an interpreter (`PYTHONPATH`, `PYTHONHOME`, `PYTHONSTARTUP`) are removed.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, account: Account) -> Output {
    cmd.env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONSTARTUP")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let failed = |status: String| Output {
        ok: false,
        status,
        stdout: String::new(),
        stderr: String::new(),
        cpu: Duration::ZERO,
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start {:?}: {e}", cmd.get_program())),
    };
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let bytes = bytes.to_vec();
        // written from a thread so that a child that writes before reading cannot deadlock
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    // both pipes drained at once (a child that fills one while we read the other would
    // block), then the child reaped with wait4 for its resource usage
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match wait_with_usage(child.id()) {
        Ok((status, cpu)) => {
            let mut all = CPU.lock().unwrap();
            let e = all.entry(account).or_default();
            e.0 += cpu;
            e.1 += 1;
            Output {
                ok: status.success(),
                status: describe(status),
                stdout,
                stderr,
                cpu,
            }
        }
        Err(e) => failed(format!("cannot wait for {:?}: {e}", cmd.get_program())),
    }
}

/// A command that answers requests one line at a time: started once, sent a line, read a
/// line, as many times as the caller needs, then finished (its CPU time added to its account
/// like [`run`]'s).
pub struct Conversation {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    stderr: Option<std::thread::JoinHandle<String>>,
    account: Account,
    reaped: bool,
}

impl Drop for Conversation {
    /// A conversation left without [`Conversation::finish`] (an early return) ends its command.
    fn drop(&mut self) {
        if !self.reaped {
            drop(self.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Conversation {
    /// Start `cmd` with its stdin and stdout piped to us (stderr kept for [`Conversation::finish`]),
    /// the Python variables removed as in [`run`].
    pub fn start(cmd: &mut Command, account: Account) -> Result<Conversation, String> {
        cmd.env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .env_remove("PYTHONSTARTUP")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        let stdin = child.stdin.take();
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = Some(std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        }));
        Ok(Conversation {
            child,
            stdin,
            stdout,
            stderr,
            account,
            reaped: false,
        })
    }

    /// Send one line (a newline is added).
    pub fn send(&mut self, line: &str) -> Result<(), String> {
        let pipe = self
            .stdin
            .as_mut()
            .ok_or("the conversation's input is closed")?;
        pipe.write_all(line.as_bytes())
            .and_then(|_| pipe.write_all(b"\n"))
            .and_then(|_| pipe.flush())
            .map_err(|e| format!("cannot write to the command: {e}"))
    }

    /// The next line the command writes, without its newline; `None` at its end.
    pub fn receive(&mut self) -> Option<String> {
        use std::io::BufRead;
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }

    /// Close its input, read the rest, and reap it: what it gave, like [`run`]'s output (the
    /// lines not yet received are the stdout).
    pub fn finish(mut self) -> Output {
        drop(self.stdin.take());
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let waited = wait_with_usage(self.child.id());
        self.reaped = waited.is_ok();
        match waited {
            Ok((status, cpu)) => {
                let mut all = CPU.lock().unwrap();
                let e = all.entry(self.account).or_default();
                e.0 += cpu;
                e.1 += 1;
                Output {
                    ok: status.success(),
                    status: describe(status),
                    stdout: rest,
                    stderr,
                    cpu,
                }
            }
            Err(e) => Output {
                ok: false,
                status: format!("cannot wait for the command: {e}"),
                stdout: rest,
                stderr,
                cpu: Duration::ZERO,
            },
        }
    }
}

/// Reap the child `pid`: its exit status and its CPU time with that of the processes it
/// waited for (`wait4`'s resource usage).
fn wait_with_usage(pid: u32) -> std::io::Result<(std::process::ExitStatus, Duration)> {
    use std::os::unix::process::ExitStatusExt;
    let pid = pid as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills; zeroed is a valid value of it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; status and usage point to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Ok((
        std::process::ExitStatus::from_raw(status),
        tv(usage.ru_utime) + tv(usage.ru_stime),
    ))
}

fn describe(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "an unknown status".into(),
    }
}

/// A command line as a person would type it (for error messages).
pub fn shown(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// Put a cached library in the build directory (a hard link, else a copy).
pub(crate) fn place(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}
