//! Child processes and scratch directories that go away however the test process ends.
//!
//! The brokers and schema registries the suites start, and the directories they write to,
//! belong to values that stop and remove them when dropped. That is not enough on its own:
//! the shared cluster and registry of a test binary live in statics, which Rust never drops,
//! and SIGINT or SIGTERM ends a process without running any destructor. So every child
//! process started through [`spawn_tied_to_process`] and every [`ScratchDir`] is also listed
//! here while it exists, and what is still listed is dealt with when the process exits (an
//! `atexit` hook) or gets SIGINT or SIGTERM (a watcher thread, which then ends the process by
//! the same signal): the child processes are killed and waited for first, so that nothing
//! writes into the directories any more, then the directories are removed.
//!
//! A process blocked in [`wait_for_termination`] gets its first signal there instead, to shut
//! down in order (the `kafka-cluster` binary, the test applications); a second signal cleans up
//! and ends it at once. SIGKILL cannot be caught: the children still die with the process
//! (they are started with a parent-death signal), but its directories stay.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use parking_lot::Mutex;

/// What the exit hook and the signal watcher clean up.
struct Listed {
    next: u64,
    /// Child processes by listing id: their pids, never reaped while listed.
    children: BTreeMap<u64, u32>,
    dirs: BTreeMap<u64, PathBuf>,
    /// Where the next SIGINT or SIGTERM goes instead of ending the process.
    graceful: Option<mpsc::Sender<()>>,
}

static LISTED: Mutex<Listed> = Mutex::new(Listed {
    next: 0,
    children: BTreeMap::new(),
    dirs: BTreeMap::new(),
    graceful: None,
});

impl Listed {
    fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// A temporary directory that is removed when dropped, and also at exit or on SIGINT or
/// SIGTERM while it exists (see the [module documentation](self)).
#[derive(Debug)]
pub struct ScratchDir {
    dir: tempfile::TempDir,
    id: u64,
}

impl ScratchDir {
    /// A new empty directory in the system's temporary directory, `kstreams-test-XXXXXX`: the
    /// `tempfile::tempdir()` of the suites.
    pub fn new() -> io::Result<Self> {
        Self::with_prefix("kstreams-test-")
    }

    /// A new empty directory in the system's temporary directory, named `<prefix>XXXXXX`.
    pub fn with_prefix(prefix: &str) -> io::Result<Self> {
        install();
        // Created and listed under the lock, so that a signal cannot come in between.
        let mut listed = LISTED.lock();
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let id = listed.next_id();
        listed.dirs.insert(id, dir.path().to_owned());
        Ok(ScratchDir { dir, id })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Removed and unlisted under the lock, so that a signal cannot come in between (the
        // TempDir field then finds nothing left to remove).
        let mut listed = LISTED.lock();
        let _ = std::fs::remove_dir_all(self.dir.path());
        listed.dirs.remove(&self.id);
    }
}

/// A child process that is killed and reaped when dropped, and also at exit or on SIGINT or
/// SIGTERM while it runs.
#[derive(Debug)]
pub(crate) struct TrackedChild {
    child: Child,
    id: u64,
}

impl TrackedChild {
    /// Spawns `cmd` and lists the child.
    fn spawn(mut cmd: Command) -> io::Result<Self> {
        let mut listed = LISTED.lock();
        let child = cmd.spawn()?;
        let id = listed.next_id();
        listed.children.insert(id, child.id());
        Ok(TrackedChild { child, id })
    }

    /// The child's process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's exit status if it has exited (reaping it), else `None`.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        // Reaped and unlisted under the lock, so that the clean-up never signals a pid that
        // was reaped here and may since belong to another process.
        let mut listed = LISTED.lock();
        let status = self.child.try_wait()?;
        if status.is_some() {
            listed.children.remove(&self.id);
        }
        Ok(status)
    }

    /// Waits until the child exits and reaps it.
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        // Waits without the lock and without reaping, then reaps and unlists under the lock.
        while !has_exited(self.child.id(), true) {}
        let mut listed = LISTED.lock();
        let status = self.child.wait();
        listed.children.remove(&self.id);
        status
    }

    /// SIGKILLs the child (unless it has exited) and reaps it.
    pub(crate) fn kill(&mut self) -> io::Result<ExitStatus> {
        let mut listed = LISTED.lock();
        // Not waited for when the signal failed: the child might run on.
        self.child.kill()?;
        let status = self.child.wait();
        listed.children.remove(&self.id);
        status
    }
}

impl Drop for TrackedChild {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Blocks until the process receives SIGINT or SIGTERM: how the test applications and the
/// `kafka-cluster` CLI know to shut down cleanly. A second signal ends the process at once,
/// after the clean-up of the [module documentation](self).
pub fn wait_for_termination() -> io::Result<()> {
    install();
    let (tx, rx) = mpsc::channel();
    LISTED.lock().graceful = Some(tx);
    rx.recv()
        .map_err(|_| io::Error::other("the signal watcher thread is gone"))
}

/// Installs the exit hook and starts the signal watcher, once per process.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        extern "C" fn at_exit() {
            clean_up();
        }
        // SAFETY: registers a plain function with no arguments; it takes no lock for longer
        // than 10 s and does not unwind (clean_up ignores every error).
        #[allow(unsafe_code)]
        unsafe {
            libc::atexit(at_exit);
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        let started = std::thread::Builder::new()
            .name("cleanup-on-signal".into())
            .spawn(move || watch_signals(ready_tx));
        match started {
            // Returns once the handlers are in place, so that a signal from now on is caught.
            Ok(_) => {
                let _ = ready_rx.recv_timeout(Duration::from_secs(10));
            }
            Err(e) => eprintln!("no clean-up on SIGINT or SIGTERM: {e}"),
        }
    });
}

/// The signal watcher: hands the first signal to a [`wait_for_termination`] caller if there
/// is one; otherwise cleans up and ends the process by that signal.
fn watch_signals(ready: mpsc::Sender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("no clean-up on SIGINT or SIGTERM: {e}");
            return;
        }
    };
    runtime.block_on(async {
        let (mut interrupt, mut terminate) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("no clean-up on SIGINT or SIGTERM: {e}");
                return;
            }
        };
        let _ = ready.send(());
        loop {
            let signal = tokio::select! {
                _ = interrupt.recv() => libc::SIGINT,
                _ = terminate.recv() => libc::SIGTERM,
            };
            let graceful = LISTED.lock().graceful.take();
            if graceful.is_some_and(|waiter| waiter.send(()).is_ok()) {
                continue;
            }
            clean_up();
            // SAFETY: restores the default action of a signal and raises it, which ends the
            // process as the signal would have without the watcher.
            #[allow(unsafe_code)]
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
        }
    });
}

/// Kills the listed child processes, waits until they are gone and removes the listed
/// directories.
fn clean_up() {
    let Some(mut listed) = LISTED.try_lock_for(Duration::from_secs(10)) else {
        return;
    };
    let pids: Vec<u32> = std::mem::take(&mut listed.children).into_values().collect();
    for &pid in &pids {
        // SAFETY: signals a listed child: not reaped, so its pid cannot have been reused.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for &pid in &pids {
        while !has_exited(pid, false) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for dir in std::mem::take(&mut listed.dirs).into_values() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Whether child `pid` has exited, waiting for it with `block`. The child is not reaped
/// (`WNOWAIT`): its pid stays taken and its owner can still wait for it.
fn has_exited(pid: u32, block: bool) -> bool {
    let flags = libc::WEXITED | libc::WNOWAIT | if block { 0 } else { libc::WNOHANG };
    // SAFETY: waitid only writes the siginfo_t it is given; an all-zero siginfo_t is valid.
    #[allow(unsafe_code)]
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
            // Interrupted: ask again. Otherwise not a child of this process (any more).
            return io::Error::last_os_error().kind() != io::ErrorKind::Interrupted;
        }
        info.si_pid() != 0
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<TrackedChild>>);

/// Spawns `cmd` from one long-lived thread with `PR_SET_PDEATHSIG = SIGKILL`, and lists the
/// child for the clean-up of the [module documentation](self).
///
/// The kernel sends the parent-death signal when the *thread* that forked the child exits, so
/// spawning from short-lived test threads would kill brokers early; this thread lives as long
/// as the process, and the child dies exactly when the process does, however it ends.
pub(crate) fn spawn_tied_to_process(cmd: Command) -> Result<TrackedChild> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    install();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("kafka-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    set_parent_death_signal(&mut cmd);
                    let _ = reply.send(TrackedChild::spawn(cmd));
                }
            })
            .expect("spawning the kafka-spawner thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    sender
        .lock()
        .send((cmd, tx))
        .map_err(|_| anyhow!("the kafka-spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| anyhow!("the kafka-spawner thread is gone"))?
        .context("starting a JVM (Kafka broker or schema registry)")
}

#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, getppid
    // and _exit, which are async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
