//! The little HTTP/1.1 the suite's loopback servers speak (the registry's TLS front, the
//! OIDC identity provider): one request per connection, answered with `Connection: close`,
//! each connection on a thread of its own.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// A server on a free loopback port that hands every connection to a handler on a thread
/// of its own; stops accepting when dropped.
pub struct LoopbackServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    /// Starts accepting; `name` names the accepting thread.
    pub fn start(
        name: &str,
        handler: impl Fn(TcpStream) + Send + Sync + 'static,
    ) -> Result<LoopbackServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let handler = handler.clone();
                        std::thread::spawn(move || {
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                            handler(stream);
                        });
                    }
                })?
        };
        Ok(LoopbackServer {
            port,
            stop,
            thread: Some(thread),
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accepting thread, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A request as read.
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path (and query) of the request line.
    pub path: String,
    /// The request line and the header lines, each with its `\r\n`, without `Authorization`
    /// and `Connection` (which the servers handle themselves).
    pub head: Vec<u8>,
    /// The value of the `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Reads one request from `reader`; `None` when the client closed the connection first.
pub fn read_request(reader: &mut impl BufRead) -> Result<Option<Request>> {
    let mut request = Request {
        method: String::new(),
        path: String::new(),
        head: Vec::new(),
        authorization: None,
        body: Vec::new(),
    };
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line == "\r\n" {
            break;
        }
        if request.method.is_empty() {
            let mut parts = line.split_whitespace();
            request.method = parts.next().unwrap_or_default().to_owned();
            request.path = parts.next().unwrap_or_default().to_owned();
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().context("content-length")?;
        }
        if lower.starts_with("authorization:") {
            request.authorization = Some(line["authorization:".len()..].trim().to_owned());
            continue;
        }
        if lower.starts_with("connection:") {
            continue;
        }
        request.head.extend_from_slice(line.as_bytes());
    }
    request.body = vec![0; length];
    reader.read_exact(&mut request.body)?;
    Ok(Some(request))
}

/// Writes a complete answer with `status` (e.g. `200 OK`) and a JSON `body`.
pub fn respond_json(writer: &mut impl Write, status: &str, body: &str) -> Result<()> {
    write!(
        writer,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    writer.flush()?;
    Ok(())
}

/// `GET path` from a loopback server (the library's metrics and probe endpoint): the status
/// line (`HTTP/1.1 200 OK`) and the body, read until the server closes the connection.
pub fn get(address: impl ToSocketAddrs, path: &str) -> Result<(String, String)> {
    let mut conn = TcpStream::connect(address)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("an HTTP response")?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}
