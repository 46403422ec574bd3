//! What a client has sent on a connection beyond the request being answered: pipelined
//! requests waiting their turn. The slots ([`super::slots`]) read it to tell a connection that
//! holds a queue of requests from one that waits for a single answer (Prometheus's).
//!
//! The connection's stream is wrapped ([`Counted`]) to count the bytes the HTTP server reads
//! from it; each request's head, as received, is counted as consumed ([`head_bytes`]). More read
//! than consumed means requests (or a body) are queued behind the current one.
//!
//! # Caveats
//! A head's size is estimated from the parsed request (`Name: value` lines); a client writing
//! extra whitespace looks as if it had queued a few bytes, within [`SLACK`]. Bodies (the
//! exporter reads none) count as queued: such a client only makes its own connection evictable.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes beyond the estimated heads that still count as nothing queued.
pub const SLACK: u64 = 8;

/// Bytes read from a connection, and bytes of the request heads answered or being answered.
#[derive(Debug, Default)]
pub struct Traffic {
    read: AtomicU64,
    consumed: AtomicU64,
}

impl Traffic {
    /// Count bytes read from the connection.
    pub fn received(&self, bytes: u64) {
        self.read.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Count a request's head as taken off the connection.
    pub fn consume(&self, head: u64) {
        self.consumed.fetch_add(head, Ordering::Relaxed);
    }

    /// True when more than a request head's worth beyond the current one was read: requests
    /// queued behind it (pipelining).
    pub fn queued(&self) -> bool {
        let read = self.read.load(Ordering::Relaxed);
        read > self.consumed.load(Ordering::Relaxed) + SLACK
    }
}

/// The bytes a request head took on the wire, as well as they can be told from the parsed
/// request: `METHOD TARGET HTTP/1.1\r\n`, `Name: value\r\n` per header, `\r\n`.
pub fn head_bytes<B>(request: &http::Request<B>) -> u64 {
    let target = match request.uri().path_and_query() {
        Some(pq) if request.uri().scheme().is_none() => pq.as_str().len(),
        _ => request.uri().to_string().len(),
    };
    let line = request.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    (line + headers + 2) as u64
}

/// A stream whose reads are counted in a [`Traffic`].
pub struct Counted<T> {
    inner: T,
    traffic: Arc<Traffic>,
}

impl<T> Counted<T> {
    pub fn new(inner: T, traffic: Arc<Traffic>) -> Counted<T> {
        Counted { inner, traffic }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before) as u64;
        self.traffic.received(read);
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_head_is_measured_as_sent() {
        let sent = "GET /metrics?x=1 HTTP/1.1\r\nhost: x\r\naccept: */*\r\n\r\n";
        let request = http::Request::get("/metrics?x=1")
            .header("Host", "x")
            .header("Accept", "*/*")
            .body(())
            .unwrap();
        assert_eq!(head_bytes(&request), sent.len() as u64);
    }

    #[tokio::test]
    async fn requests_read_beyond_the_current_one_are_queued() {
        let (mut client, server) = tokio::io::duplex(4096);
        let traffic = Arc::new(Traffic::default());
        let mut counted = Counted::new(server, traffic.clone());
        let one = "GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        client.write_all(one.repeat(3).as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = counted.read(&mut buf).await.unwrap();
        assert_eq!(n, 3 * one.len());
        traffic.consume(one.len() as u64);
        assert!(traffic.queued(), "two more requests wait");
        traffic.consume(2 * one.len() as u64);
        assert!(!traffic.queued());
    }
}
