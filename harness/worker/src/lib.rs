//! One long-lived worker process per column. The harness writes one request line and reads
//! one answer line (harness/PROTOCOL.md). A worker that dies is reported as a crash with its
//! signal or exit code; one that does not answer in time is killed; both are restarted by
//! the caller with [`Worker::start`]. Workers die with the harness (`PR_SET_PDEATHSIG`), so
//! no interrupted run leaves one behind; whatever a case starts is killed with its worker
//! (see [`procs`]).

pub mod normalize;
pub mod observers;
pub mod procs;
pub mod pyext;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use introspec_protocol::{self as proto, CaseResult, Hello, LoadRequest, Request, Response};
pub use observers::{reference_supports, Observer};

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub python: PathBuf,
    pub observer: Observer,
    /// Modules to load once at start (the reference implementation, compiled cases).
    pub loads: Vec<LoadRequest>,
    /// Where the observers are written.
    pub cache: PathBuf,
    /// Extra environment for the interpreter.
    pub env: Vec<(String, String)>,
    /// The most memory the worker may take (bytes of address space, `RLIMIT_AS`, set
    /// before the interpreter starts); `None`: unlimited.
    pub memory_limit: Option<u64>,
    /// The PyO3 observer is the build for this interpreter (a free-threaded CPython:
    /// [`pyext`]), not the embedded abi3 build.
    pub interpreter_build: bool,
}

/// Why a worker could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What running one case gave.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Done(CaseResult),
    /// The worker died; `how` is `signal 11 (SIGSEGV)` or `exit code 3`.
    Crashed {
        how: String,
        stderr: String,
    },
    TimedOut {
        after: Duration,
        stderr: String,
    },
    /// The worker answered something that is not a result for this case.
    Protocol(String),
    /// The run was interrupted (the flag given to [`Worker::watch`] was set) before the
    /// answer came: the worker was killed, and there is no result.
    Interrupted,
}

enum Line {
    Text(String),
    Eof,
}

/// A running worker.
pub struct Worker {
    child: Child,
    /// Request bytes for the writer thread (see [`writer`]): a write never blocks the
    /// harness, so a worker that stops reading (a case in an endless loop while the window of
    /// pipelined requests fills its pipe) cannot stop the clock of its own timeout.
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    /// Why the writer thread stopped writing, once it has.
    write_error: Arc<Mutex<Option<String>>>,
    lines: Receiver<Line>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    pub hello: Hello,
    pub spec: WorkerSpec,
    alive: bool,
    /// The worker's process group, descendants and token, killed as a whole.
    tree: procs::Tree,
    /// The worker was waited for: its pid no longer names it.
    reaped: bool,
    /// When set, waiting for an answer stops and the worker is killed (see [`Worker::watch`]).
    interrupt: Option<Arc<AtomicBool>>,
}

/// How often a wait for an answer looks at the interrupt flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(20);

const STDERR_TAIL: usize = 40;

impl Worker {
    /// Start a worker and wait (at most `timeout`) for its hello and its loads.
    pub fn start(spec: &WorkerSpec, timeout: Duration) -> Result<Worker, StartError> {
        let mut cmd = Command::new(&spec.python);
        match spec.observer {
            Observer::Pyo3 => {
                let dir = if spec.interpreter_build {
                    pyext::for_interpreter(&spec.cache, &spec.python)
                        .map(|b| b.observer_dir)
                        .map_err(|e| StartError(format!("no PyO3 observer for it: {e}")))?
                } else {
                    observers::pyo3_dir(&spec.cache)
                        .map_err(|e| StartError(format!("cannot write the PyO3 observer: {e}")))?
                };
                let boot = format!(
                    "import sys; sys.path.insert(0, {:?}); import introspec_pyo3; introspec_pyo3.serve()",
                    dir.display().to_string()
                );
                cmd.arg("-c").arg(boot);
            }
            Observer::Portable => {
                let file = observers::portable_file(&spec.cache)
                    .map_err(|e| StartError(format!("cannot write the portable observer: {e}")))?;
                cmd.arg(file);
            }
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("PYTHONSTARTUP")
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME");
        if let Some(limit) = spec.memory_limit {
            // what a runtime needs to start at all under the limit (the JVM under Jython)
            for (k, v) in introspec_runtimes::environment_for_memory_limit(limit) {
                cmd.env(k, v);
            }
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let token = procs::new_token();
        cmd.env(procs::TOKEN_VAR, &token);
        let memory_limit = spec.memory_limit;
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                // die with the harness, whatever kills it
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // a session (and so a process group) of its own: a Ctrl-C at the terminal
                // interrupts the harness, which stops its workers itself, and never raises
                // KeyboardInterrupt in a case; and whatever a case starts is outside the
                // harness's session unless it joins it, which is how an orphan the harness
                // adopts is told from a child it started itself (procs)
                libc::setsid();
                // a child subreaper: a case's grandchild whose parent exits (a daemon that
                // double-forks) is re-parented to the worker, so it stays in its tree
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
                // a case that crashes the interpreter leaves no core file behind
                let mut core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_CORE, &mut core) == 0 {
                    core.rlim_cur = 0;
                    libc::setrlimit(libc::RLIMIT_CORE, &core);
                }
                // a case that allocates without bound stops at the limit (MemoryError or a
                // crash) instead of taking the machine; an address-space limit suits
                // CPython and PyPy, whose heaps reserve no more than they use
                if let Some(bytes) = memory_limit {
                    let lim = libc::rlimit {
                        rlim_cur: bytes as libc::rlim_t,
                        rlim_max: bytes as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        procs::adopt_orphans();
        let spawning = procs::spawning();
        let mut child = spawn(cmd)
            .map_err(|e| StartError(format!("cannot start {}: {e}", spec.python.display())))?;
        let tree = procs::Tree {
            pid: child.id() as i32,
            token,
        };
        procs::register(&tree);
        drop(spawning);
        let write_error = Arc::new(Mutex::new(None));
        let stdin = writer(
            child.stdin.take().expect("piped stdin"),
            write_error.clone(),
        );
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::with_capacity(1 << 16, stdout);
            let mut buf = String::new();
            loop {
                buf.clear();
                match r.read_line(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Line::Eof);
                        return;
                    }
                    Ok(_) => {
                        if tx
                            .send(Line::Text(buf.trim_end_matches('\n').to_string()))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail2 = tail.clone();
        std::thread::spawn(move || drain_stderr(stderr_pipe, tail2));
        let mut w = Worker {
            child,
            stdin: Some(stdin),
            write_error,
            lines: rx,
            stderr: tail,
            hello: Hello {
                protocol: 0,
                observer: String::new(),
                observer_version: String::new(),
                implementation: String::new(),
                version: String::new(),
                version_info: (0, 0, 0, String::new(), 0),
                free_threaded: false,
                debug: false,
                executable: String::new(),
                build: String::new(),
            },
            spec: spec.clone(),
            alive: true,
            tree,
            reaped: false,
            interrupt: None,
        };
        let line = w.recv(timeout).map_err(|e| {
            StartError(format!(
                "no hello from the {} observer: {e}",
                spec.observer.name()
            ))
        })?;
        match proto::decode::<Response>(&line) {
            Ok(Response::Hello(h)) if h.protocol == proto::PROTOCOL_VERSION => w.hello = h,
            Ok(Response::Hello(h)) => {
                return Err(StartError(format!(
                    "the observer speaks protocol {}, the harness {}",
                    h.protocol,
                    proto::PROTOCOL_VERSION
                )))
            }
            _ => {
                return Err(StartError(format!(
                    "the worker's first line is not a hello: {}",
                    clip(&line)
                )))
            }
        }
        for load in &spec.loads {
            w.send(&Request::Load(load.clone())).map_err(StartError)?;
            let line = w
                .recv(timeout)
                .map_err(|e| StartError(format!("loading {}: {e}", load.module)))?;
            match proto::decode::<Response>(&line) {
                Ok(Response::Loaded(l)) if l.error.is_none() => {}
                Ok(Response::Loaded(l)) => {
                    let e = l.error.unwrap();
                    return Err(StartError(format!(
                        "cannot load {}: {}: {}",
                        load.module, e.type_name, e.msg
                    )));
                }
                _ => {
                    return Err(StartError(format!(
                        "unexpected answer to load: {}",
                        clip(&line)
                    )))
                }
            }
        }
        Ok(w)
    }

    fn send(&mut self, req: &Request) -> Result<(), String> {
        self.enqueue(&proto::encode(req))
    }

    /// Hand one request line to the writer thread; never blocks. `Err` once the writer
    /// could not write (the worker closed its stdin or died).
    fn enqueue(&mut self, line: &str) -> Result<(), String> {
        let failed = |w: &Worker| {
            let why = w.write_error.lock().unwrap().clone();
            format!(
                "cannot write to the worker: {}",
                why.unwrap_or_else(|| "its input is closed".into())
            )
        };
        if self.write_error.lock().unwrap().is_some() {
            return Err(failed(self));
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match &self.stdin {
            Some(tx) if tx.send(bytes).is_ok() => Ok(()),
            _ => Err(failed(self)),
        }
    }

    fn recv(&mut self, timeout: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(Line::Text(t)) => Ok(t),
            Ok(Line::Eof) | Err(RecvTimeoutError::Disconnected) => {
                self.alive = false;
                Err(format!(
                    "the worker ended ({}){}",
                    self.exit_status(),
                    self.stderr_note()
                ))
            }
            Err(RecvTimeoutError::Timeout) => Err(format!("no answer within {:?}", timeout)),
        }
    }

    /// Load one more module into a running worker (the reference implementation after the
    /// bare pass of a runtime, so one interpreter serves both columns).
    pub fn load(&mut self, load: &LoadRequest, timeout: Duration) -> Result<(), StartError> {
        self.send(&Request::Load(load.clone()))
            .map_err(StartError)?;
        let line = self
            .recv(timeout)
            .map_err(|e| StartError(format!("loading {}: {e}", load.module)))?;
        match proto::decode::<Response>(&line) {
            Ok(Response::Loaded(l)) => match l.error {
                None => {
                    self.spec.loads.push(load.clone());
                    Ok(())
                }
                Some(e) => Err(StartError(format!(
                    "cannot load {}: {}: {}",
                    load.module, e.type_name, e.msg
                ))),
            },
            _ => Err(StartError(format!(
                "unexpected answer to load: {}",
                clip(&line)
            ))),
        }
    }

    /// Run one case. After a crash or a timeout the worker is dead: start a new one.
    pub fn run(&mut self, case: &proto::Case, timeout: Duration) -> RunOutcome {
        self.run_encoded(
            &case.id,
            &proto::encode(&Request::Run(case.clone())),
            timeout,
        )
    }

    /// Run one case whose request line (`{"run": …}`) is already encoded: a case runs on
    /// many columns and is encoded once.
    pub fn run_encoded(
        &mut self,
        case_id: &str,
        request_line: &str,
        timeout: Duration,
    ) -> RunOutcome {
        if let Err(outcome) = self.send_line(request_line) {
            return *outcome;
        }
        self.receive(case_id, timeout)
    }

    /// Queue one request line without waiting for its answer (pipelining: the answers come
    /// back in order through [`Worker::receive`]; a reader thread drains them meanwhile, a
    /// writer thread writes the requests). It never blocks, however full the worker's pipe.
    pub fn send_line(&mut self, request_line: &str) -> Result<(), Box<RunOutcome>> {
        if !self.alive {
            return Err(Box::new(RunOutcome::Crashed {
                how: "the worker was already dead".into(),
                stderr: self.stderr_text(),
            }));
        }
        if let Err(e) = self.enqueue(request_line) {
            self.alive = false;
            return Err(Box::new(RunOutcome::Crashed {
                how: format!("{} ({e})", self.exit_status()),
                stderr: self.stderr_text(),
            }));
        }
        Ok(())
    }

    /// Read the answer to the oldest request not yet answered, which must be `case_id`'s;
    /// `timeout` counts from now: the caller asks for the answers in order, so for a
    /// pipelined case now is when the worker answered the one before it, which is when it
    /// reached this case (its request was queued earlier, and queueing never waits). After a
    /// crash or a timeout the worker is dead.
    pub fn receive(&mut self, case_id: &str, timeout: Duration) -> RunOutcome {
        let start = Instant::now();
        let Some(got) = self.wait_line(timeout) else {
            self.kill();
            return RunOutcome::Interrupted;
        };
        match got {
            Ok(Line::Text(t)) => match proto::decode::<Response>(&t) {
                // an answer that another process wrote on the protocol channel (a child the
                // case forked, which the observer kills before it answers the case itself, so
                // such a line comes before the case's own answer): this case's fault
                Ok(Response::Result(r)) if r.pid != Some(self.child.id()) => {
                    RunOutcome::Protocol(format!(
                        "an answer for `{}` from another process than the worker ({}): a process the case started wrote on the protocol channel",
                        r.id,
                        r.pid.map_or("no pid".into(), |p| format!("pid {p}"))
                    ))
                }
                Ok(Response::Result(mut r)) if r.id == case_id => {
                    r.pid = None;
                    normalize::result(&mut r);
                    RunOutcome::Done(r)
                }
                Ok(Response::Result(r)) => RunOutcome::Protocol(format!(
                    "asked for `{case_id}`, got the result of `{}`",
                    r.id
                )),
                Ok(Response::BadRequest { msg }) => {
                    RunOutcome::Protocol(format!("the worker refused the request: {msg}"))
                }
                Ok(other) => RunOutcome::Protocol(format!(
                    "unexpected answer: {}",
                    clip(&format!("{other:?}"))
                )),
                Err(e) => RunOutcome::Protocol(format!("unreadable answer ({e}): {}", clip(&t))),
            },
            Ok(Line::Eof) | Err(RecvTimeoutError::Disconnected) => {
                self.alive = false;
                let status = self.exit_status();
                let stderr = self.stderr_text();
                RunOutcome::Crashed {
                    how: self.crash_cause(status, &stderr),
                    stderr,
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                RunOutcome::TimedOut {
                    after: start.elapsed(),
                    stderr: self.stderr_text(),
                }
            }
        }
    }

    /// Send one request line and give back the worker's answer line as it wrote it, neither
    /// decoded nor checked (the golden transcripts of the protocol compare it whole), or why
    /// there is none (the worker died or did not answer within `timeout`).
    pub fn exchange_raw(
        &mut self,
        request_line: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        self.send_line(request_line).map_err(|o| format!("{o:?}"))?;
        match self.wait_line(timeout) {
            Some(Ok(Line::Text(t))) => Ok(t),
            Some(Ok(Line::Eof)) | Some(Err(RecvTimeoutError::Disconnected)) => {
                self.alive = false;
                Err(format!(
                    "the worker ended ({}): {}",
                    self.exit_status(),
                    self.stderr_text()
                ))
            }
            Some(Err(RecvTimeoutError::Timeout)) => {
                self.kill();
                Err(format!("no answer within {timeout:?}"))
            }
            None => {
                self.kill();
                Err("interrupted".into())
            }
        }
    }

    /// Stop waiting for answers, kill the worker and give [`RunOutcome::Interrupted`] as soon
    /// as `stop` is set (the harness was interrupted): a case that hangs never holds up the end
    /// of an interrupted run.
    pub fn watch(&mut self, stop: &Arc<AtomicBool>) {
        self.interrupt = Some(stop.clone());
    }

    /// The next line within `timeout`, or `None` once the interrupt flag is set.
    fn wait_line(&mut self, timeout: Duration) -> Option<Result<Line, RecvTimeoutError>> {
        let Some(flag) = self.interrupt.clone() else {
            return Some(self.lines.recv_timeout(timeout));
        };
        let deadline = Instant::now() + timeout;
        loop {
            if flag.load(Ordering::SeqCst) {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(INTERRUPT_POLL)) {
                Err(RecvTimeoutError::Timeout) if !left.is_zero() => continue,
                other => return Some(other),
            }
        }
    }

    /// Ask the worker to answer a ping (a liveness check).
    pub fn ping(&mut self, timeout: Duration) -> bool {
        self.send(&Request::Ping {}).is_ok()
            && self
                .recv(timeout)
                .is_ok_and(|l| matches!(proto::decode::<Response>(&l), Ok(Response::Pong {})))
    }

    pub fn is_alive(&self) -> bool {
        self.alive
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kill the worker now, and everything it started.
    pub fn kill(&mut self) {
        if !self.reaped {
            procs::kill_tree(&self.tree);
            let _ = self.child.kill();
            let _ = self.reap();
        }
        self.alive = false;
    }

    /// Wait for the worker (dead or killed) and forget its pid, which may now name another
    /// process.
    fn reap(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let st = self.child.wait();
        self.reaped = true;
        procs::unregister(&self.tree);
        st
    }

    fn exit_status(&mut self) -> String {
        // the pipe closed: the process is gone or going; wait for it briefly without
        // reaping it (its pid still names its group), kill what it left, then reap it
        exited(self.child.id(), Duration::from_secs(2));
        if self.reaped {
            return "unknown (already waited for)".into();
        }
        procs::kill_tree(&self.tree);
        self.reap()
            .map(describe_status)
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    /// `status`, named "memory limit" when the worker died of its memory limit (its last
    /// words say it could not allocate).
    fn crash_cause(&self, status: String, stderr: &str) -> String {
        let Some(limit) = self.spec.memory_limit else {
            return status;
        };
        let out_of_memory = stderr.lines().rev().take(12).any(|l| {
            l.contains("MemoryError")
                || l.contains("Cannot allocate memory")
                || l.contains("out of memory")
                || l.contains("memory allocation of")
                || l.contains("std::bad_alloc")
        });
        if out_of_memory {
            format!("memory limit ({}): {status}", describe_size(limit))
        } else {
            status
        }
    }

    fn stderr_text(&self) -> String {
        // give the drain thread a moment to catch the last lines of a dying process
        std::thread::sleep(Duration::from_millis(20));
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn stderr_note(&self) -> String {
        let t = self.stderr_text();
        let last: Vec<&str> = t.lines().rev().take(3).collect();
        if last.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                last.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.alive {
            let _ = self.send(&Request::Shutdown {});
            // the writer ends once it has written the shutdown, closing the worker's stdin
            self.stdin = None;
            exited(self.child.id(), Duration::from_millis(200));
        }
        // what the cases started goes with the worker, whether it exited or not
        self.kill();
    }
}

/// Whether the child `pid` has exited, waiting at most `within`; it is not reaped (`WNOWAIT`),
/// so its pid keeps naming it and its process group.
fn exited(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        // SAFETY: waitid(2) writes into the zeroed siginfo_t it is given, nothing else
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r != 0 || unsafe { info.si_pid() } != 0 {
            return true; // exited (or not our child to wait for any more)
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The writer thread of one worker: it writes each chunk it is given to the worker's stdin,
/// in order, and ends (closing that stdin) when the worker stops reading for good (the write
/// fails: the error is kept in `error`) or when the [`Worker`] drops its sender. A write that
/// blocks on a full pipe blocks this thread only.
fn writer(
    stdin: std::process::ChildStdin,
    error: Arc<Mutex<Option<String>>>,
) -> mpsc::Sender<Vec<u8>> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut stdin = stdin;
        for chunk in rx {
            if let Err(e) = stdin.write_all(&chunk).and_then(|_| stdin.flush()) {
                *error.lock().unwrap() = Some(e.to_string());
                return;
            }
        }
    });
    tx
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Start a process from one thread that lives as long as the harness. `PR_SET_PDEATHSIG`
/// fires when the *thread* that forked the child ends, so children forked by short-lived
/// threads (a test runner's pool) would be killed under our feet.
fn spawn(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: std::sync::OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> =
        std::sync::OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("introspec-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.lock()
        .unwrap()
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

fn drain_stderr(mut pipe: impl Read, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut buf = vec![0u8; 1 << 16];
    let mut partial = Vec::new();
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                partial.extend_from_slice(&buf[..n]);
                let mut t = tail.lock().unwrap();
                while let Some(pos) = partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=pos).collect();
                    t.push_back(
                        String::from_utf8_lossy(&line[..line.len() - 1])
                            .chars()
                            .take(500)
                            .collect(),
                    );
                    if t.len() > STDERR_TAIL {
                        t.pop_front();
                    }
                }
                if partial.len() > 4096 {
                    partial.clear();
                }
            }
        }
    }
}

/// `signal 11 (SIGSEGV)` or `exit code 3`.
/// `2 GiB`, `512 MiB` or a number of bytes.
pub fn describe_size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

pub fn describe_status(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = st.signal() {
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            libc::SIGKILL => "SIGKILL",
            libc::SIGBUS => "SIGBUS",
            libc::SIGFPE => "SIGFPE",
            libc::SIGILL => "SIGILL",
            libc::SIGTERM => "SIGTERM",
            libc::SIGINT => "SIGINT",
            _ => "",
        };
        if name.is_empty() {
            format!("signal {sig}")
        } else {
            format!("signal {sig} ({name})")
        }
    } else {
        format!("exit code {}", st.code().unwrap_or(-1))
    }
}

fn clip(s: &str) -> String {
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s.to_string()
    }
}

impl Worker {
    /// Run several cases with one write: send every request line of `batch` (`(case id,
    /// {"run": …} line)`), then read the answers in order, each within `timeout`. Pipelining
    /// saves one round trip per case, which dominates short generated cases (harness/fuzz).
    /// The answer holds one outcome per case up to the first one that crashed or timed out
    /// (included); the worker is then dead and the cases after it were not run: the caller
    /// runs them again in a fresh worker.
    pub fn run_batch(&mut self, batch: &[(&str, &str)], timeout: Duration) -> Vec<RunOutcome> {
        let lines: Vec<&str> = batch.iter().map(|(_, l)| *l).collect();
        if let Err(crash) = self.submit(&lines) {
            return vec![*crash];
        }
        let mut out = Vec::with_capacity(batch.len());
        for (id, _) in batch {
            let outcome = self.receive(id, timeout);
            let stop = !matches!(outcome, RunOutcome::Done(_));
            out.push(outcome);
            if stop {
                // a protocol error leaves the stream out of step: this worker is done
                self.kill();
                break;
            }
        }
        out
    }

    /// [`Worker::send_line`] for many request lines in one write; read the answers with
    /// [`Worker::receive`], one per line, in order.
    pub fn submit(&mut self, lines: &[&str]) -> Result<(), Box<RunOutcome>> {
        let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str(line);
        }
        self.send_line(&text)
    }
}
