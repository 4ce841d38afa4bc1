//! Stopping an example in order on SIGINT (Ctrl-C) or SIGTERM.
//!
//! Without this, either signal ends the process on the spot: the application is not closed
//! and a sample run's temporary state directory stays behind. [`Interrupt::listen`] catches
//! both from then on; a service stops at the next [`Interrupt::wait`], and the waiting loops of
//! a sample run return an error at the next [`Interrupt::check`], so that the application is
//! closed and the temporary directory removed as the stack unwinds. A second signal ends the
//! process at once.

use anyhow::{Result, bail};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

/// Whether SIGINT or SIGTERM has arrived since [`Interrupt::listen`].
pub struct Interrupt(watch::Receiver<Option<&'static str>>);

impl Interrupt {
    /// Catches SIGINT and SIGTERM from now on. Needs a running tokio runtime.
    pub fn listen() -> Result<Self> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let first = next(&mut interrupt, &mut terminate).await;
            let _ = tx.send(Some(first));
            let second = next(&mut interrupt, &mut terminate).await;
            eprintln!("{second} again: stopping at once");
            std::process::exit(if second == "SIGINT" { 130 } else { 143 });
        });
        Ok(Interrupt(rx))
    }

    /// An error naming the signal once one has arrived.
    pub fn check(&self) -> Result<()> {
        if let Some(signal) = *self.0.borrow() {
            bail!("interrupted by {signal}");
        }
        Ok(())
    }

    /// Resolves once a signal has arrived.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(Option::is_some).await;
    }
}

/// The name of the next of the two signals to arrive.
async fn next(interrupt: &mut Signal, terminate: &mut Signal) -> &'static str {
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
