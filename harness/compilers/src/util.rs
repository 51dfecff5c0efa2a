//! Running a command and keeping its output; the cache helpers (digests, locks, atomic
//! writes) come from `introspec-cache`.

use std::io::Write;

use std::process::{Command, Stdio};

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
}

impl Output {
    /// The last `n` non-empty lines of stderr then stdout, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let text = format!("{}\n{}", self.stderr, self.stdout);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Run a command to completion with `stdin` written to it, its outputs captured. The Python
/// environment variables that would redirect an interpreter (`PYTHONPATH`, `PYTHONHOME`,
/// `PYTHONSTARTUP`) are removed.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
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
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Output {
                ok: false,
                status: format!("cannot start {:?}: {e}", cmd.get_program()),
                stdout: String::new(),
                stderr: String::new(),
            }
        }
    };
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let bytes = bytes.to_vec();
        // written from a thread so that a child that writes before reading cannot deadlock
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    match child.wait_with_output() {
        Ok(o) => Output {
            ok: o.status.success(),
            status: describe(o.status),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Err(e) => Output {
            ok: false,
            status: format!("cannot wait for {:?}: {e}", cmd.get_program()),
            stdout: String::new(),
            stderr: String::new(),
        },
    }
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
