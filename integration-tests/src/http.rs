//! The little HTTP/1.1 the suite's loopback servers speak (the registry's TLS front, the
//! OIDC identity provider): one request per connection, answered with `Connection: close`.

use std::io::{BufRead, Write};

use anyhow::{Context, Result};

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
