//! Stopping the server on a signal: the first SIGINT (Ctrl-C) or SIGTERM stops it gracefully,
//! a second one at once.
//!
//! actix's own handlers treat SIGINT as a forced stop, which cuts the requests in flight (a
//! commit among them) when an operator presses Ctrl-C. Here both signals let requests in flight
//! finish, up to `shutdown_timeout_seconds`; an operator who does not want to wait presses
//! Ctrl-C again. actix cannot be asked to force a stop it is gracefully waiting for (it handles
//! one stop at a time), so the second signal ends the process itself.

use actix_web::dev::ServerHandle;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The exit status of a process stopped by SIGINT, as shells report it (128 + 2).
const FORCED_EXIT_STATUS: i32 = 130;

/// Listens for SIGINT and SIGTERM from now on; the first stops `server` gracefully, the second
/// exits the process.
pub fn stop_on_signals(server: ServerHandle, timeout_seconds: u64) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let name = next(&mut interrupt, &mut terminate).await;
        tracing::info!(
            "{name} received: finishing the requests in flight (up to {timeout_seconds} s); \
             press Ctrl-C again to stop at once"
        );
        // The stop command is sent when `stop` is called; its future only reports completion.
        let graceful = server.stop(true);
        tokio::spawn(graceful);
        let name = next(&mut interrupt, &mut terminate).await;
        tracing::warn!("{name} received again: stopping at once, requests in flight are cut");
        std::process::exit(FORCED_EXIT_STATUS);
    });
    Ok(())
}

/// The name of the next of the two signals to arrive.
async fn next(interrupt: &mut Signal, terminate: &mut Signal) -> &'static str {
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
