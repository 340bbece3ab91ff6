//! The connections: an accept loop that keeps at most `max_connections`
//! open, each served by hyper's HTTP/1 with a header-read timeout, and a
//! graceful shutdown that answers every request in flight.
//!
//! `axum::serve` has neither a timeout nor a cap: a few hundred clients
//! that connect and send nothing (or a header a byte at a time) would hold
//! their connections, and the server's file descriptors, for ever.

use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The most a connection buffers of a request's head (request line and
/// headers): hyper answers a head that fills it unfinished 431 itself,
/// with no body (it reads up to this much at once, so a head under twice
/// this size can arrive whole and get the JSON 431 of the limits; see
/// README, "The models as a service"). Small enough that a thousand
/// connections sending long heads slowly take at most 128 MiB; far above
/// the limits [`super::limits`] answers in JSON.
pub const MAX_BUFFER_BYTES: usize = 128 << 10;

/// How long the accept loop pauses when the process has no file
/// descriptor left (EMFILE) or the kernel no memory for a socket.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// File descriptors kept for everything but connections: the GPU driver,
/// the weights and data files, the listener itself.
pub const FDS_KEPT: usize = 64;

/// What each connection may take.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// The time a client has to send a request's headers, counted from
    /// the moment the connection waits for one: when it opens, and after
    /// each answer (so it is also the keep-alive idle timeout).
    pub header_timeout: Duration,
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
}

/// Serve `router` on `listener` until `shutdown` resolves; then stop
/// accepting (closing the listener), let each connection finish the
/// request it is on (idle ones close at once) and return when all are
/// closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_BUFFER_BYTES);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        // A place first, then a connection: at the cap, the ones that
        // come wait in the kernel's backlog and take no descriptor here.
        let place = tokio::select! {
            biased;
            () = &mut shutdown => break,
            place = open.clone().acquire_owned() => place.map_err(io::Error::other)?,
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors or memory: pause rather than spin or
                // stop; connections closing free what is needed.
                eprintln!("accepting a connection: {e}; pausing {ACCEPT_PAUSE:?}");
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_PAUSE) => continue,
                }
            }
        };
        // Answers are small and written whole: no need to wait for more.
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(super::published::with_peer(router.clone(), peer)),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A client gone, a header timeout, a malformed request: the
            // connection ends either way, and frees its place.
            let _ = conn.await;
            drop(place);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one connection that came and went before it was accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// The process's soft limit on open files, where the system says
/// (Linux's /proc/self/limits); `None` for unlimited or unknown.
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `wanted` connections, or fewer when the open-files limit leaves room
/// for fewer (with the reason, for a note at start).
pub fn connections_that_fit(wanted: usize, fd_limit: Option<usize>) -> (usize, Option<String>) {
    match fd_limit {
        Some(limit) if wanted + FDS_KEPT > limit => {
            let fit = limit.saturating_sub(FDS_KEPT).max(1);
            (
                fit,
                Some(format!(
                    "at most {fit} connections, not {wanted}: this process may open {limit} \
                     files (ulimit -n), {FDS_KEPT} of them kept for the rest"
                )),
            )
        }
        _ => (wanted, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        assert_eq!(connections_that_fit(1024, None), (1024, None));
        assert_eq!(connections_that_fit(1024, Some(20_000)), (1024, None));
        let (n, note) = connections_that_fit(1024, Some(1024));
        assert_eq!(n, 1024 - FDS_KEPT);
        assert!(note.unwrap().contains("ulimit -n"));
        assert_eq!(connections_that_fit(10, Some(8)).0, 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_open_files_limit_is_read_on_linux() {
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
