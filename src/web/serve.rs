//! `faultline serve`: a small HTTP/1.1 static file server over the store.
//!
//! It serves what `faultline test` wrote (pages, plots, histories, logs) and nothing else: a
//! request's path is percent-decoded, refused if it holds `..`, NUL or a backslash, and the
//! target's canonical path must lie inside the store's canonical root. That last check follows
//! symlinks, so the store's own relative `latest` links work while a link pointing out of the
//! store is refused (403). Requests are bounded in size and in time; every connection is
//! closed after one response.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cli::ServeArgs;
use crate::exit;

/// Largest request head (request line and headers) accepted.
const MAX_REQUEST: usize = 16 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one response may take to send, so a stalled reader cannot hold a slot forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(300);
/// Connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 128;

/// Runs `faultline serve`; returns the exit code.
pub fn run(args: &ServeArgs) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faultline serve: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    match runtime.block_on(serve(&args.store, &args.bind)) {
        Ok(()) => exit::VALID,
        Err(e) => {
            eprintln!("faultline serve: {e:#}");
            exit::UNAVAILABLE
        }
    }
}

async fn serve(store: &Path, bind: &str) -> Result<()> {
    let root = tokio::fs::canonicalize(store).await.with_context(|| {
        format!(
            "the store {} does not exist (run `faultline test` first, or pass --store)",
            store.display()
        )
    })?;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    println!("serving {} at http://{addr}/", root.display());
    let root = Arc::new(root);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = slots.clone().acquire_owned().await?;
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                eprintln!("faultline serve: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let root = root.clone();
        tokio::spawn(async move {
            let _ = handle(stream, &root).await;
            drop(permit);
        });
    }
}

async fn handle(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let (response, unread) = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await
    {
        Err(_) => (
            Response::error(408, "the request took too long to arrive"),
            false,
        ),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) => (Response::error(431, "the request head is too large"), true),
        Ok(Ok(Some(head))) => (respond(&head, root).await, false),
    };
    match tokio::time::timeout(WRITE_TIMEOUT, response.send(&mut stream)).await {
        Ok(result) => result?,
        Err(_) => return Ok(()),
    }
    if unread {
        // Closing with unread input makes the kernel send a reset, which can destroy the
        // response before the client reads it: read and drop the rest, a bounded while.
        let drain = async {
            let mut sink = tokio::io::sink();
            tokio::io::copy(&mut (&mut stream).take(1 << 20), &mut sink).await
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }
    Ok(())
}

/// Reads up to the blank line ending the head; `None` if it exceeds `MAX_REQUEST`.
async fn read_head<R: AsyncRead + Unpin>(stream: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(Some(head));
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_REQUEST {
            return Ok(None);
        }
    }
}

/// What to send back.
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Body,
    /// HEAD: headers only.
    head_only: bool,
}

enum Body {
    Bytes(Vec<u8>),
    File(tokio::fs::File, u64),
}

impl Response {
    fn error(status: u16, message: &str) -> Response {
        Response::bytes(
            status,
            "text/plain; charset=utf-8",
            format!("{status} {}: {message}\n", reason(status)).into_bytes(),
        )
    }

    fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: Body::Bytes(body),
            head_only: false,
        }
    }

    async fn send<W: AsyncWrite + Unpin>(self, out: &mut W) -> std::io::Result<()> {
        let len = match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, len) => *len,
        };
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {len}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
        ));
        out.write_all(head.as_bytes()).await?;
        if !self.head_only {
            match self.body {
                Body::Bytes(b) => out.write_all(&b).await?,
                Body::File(file, len) => {
                    tokio::io::copy(&mut file.take(len), out).await?;
                }
            }
        }
        out.flush().await?;
        let _ = out.shutdown().await;
        Ok(())
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    }
}

async fn respond(head: &[u8], root: &Path) -> Response {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Response::error(400, "malformed request line");
    };
    if !version.starts_with("HTTP/1.") {
        return Response::error(400, "only HTTP/1.x is spoken here");
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let mut r = Response::error(405, "only GET and HEAD");
            r.headers.push(("Allow", "GET, HEAD".to_owned()));
            return r;
        }
    };
    let mut response = match resolve(target, root).await {
        Ok(Target::File(path)) => file_response(&path).await,
        Ok(Target::Directory { path, url }) => directory_response(&path, &url, root).await,
        Ok(Target::Redirect(location)) => {
            let mut r = Response::error(301, "moved");
            r.headers.push(("Location", location));
            r
        }
        Err(status) => Response::error(status, "refused"),
    };
    response.head_only = head_only;
    response
}

/// A request path resolved inside the store.
enum Target {
    File(PathBuf),
    /// `url` is the decoded request path, ending in `/`.
    Directory {
        path: PathBuf,
        url: String,
    },
    /// A directory asked for without its trailing slash: relative links need it.
    Redirect(String),
}

/// Maps a request target to a path inside `root`, or the status refusing it.
async fn resolve(target: &str, root: &Path) -> Result<Target, u16> {
    let raw = target.split(['?', '#']).next().unwrap_or_default();
    if !raw.starts_with('/') || raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(400);
    }
    let decoded = percent_decode(raw).ok_or(400u16)?;
    let decoded = String::from_utf8(decoded).map_err(|_| 400u16)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(400);
    }
    let mut path = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(403),
            s => path.push(s),
        }
    }
    let canonical = tokio::fs::canonicalize(&path).await.map_err(|_| 404u16)?;
    if !canonical.starts_with(root) {
        return Err(403);
    }
    let meta = tokio::fs::metadata(&canonical).await.map_err(|_| 404u16)?;
    if meta.is_dir() {
        if !decoded.ends_with('/') {
            return Ok(Target::Redirect(format!("{raw}/")));
        }
        Ok(Target::Directory {
            path: canonical,
            url: decoded,
        })
    } else if meta.is_file() {
        Ok(Target::File(canonical))
    } else {
        Err(403)
    }
}

/// `%XX` to bytes; `None` on a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Bytes safe in a URL path segment stay; the rest is `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "jsonl" | "log" | "txt" | "edn" | "md" | "csv" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn file_response(path: &Path) -> Response {
    let opened = async {
        let file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        Ok::<_, std::io::Error>((file, len))
    };
    match opened.await {
        Ok((file, len)) => Response {
            status: 200,
            headers: vec![("Content-Type", content_type(path).to_owned())],
            body: Body::File(file, len),
            head_only: false,
        },
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Response::error(403, "not readable")
        }
        Err(_) => Response::error(404, "not found"),
    }
}

/// The directory's `index.html` if it has one (inside the store), else a listing.
async fn directory_response(dir: &Path, url: &str, root: &Path) -> Response {
    if let Ok(index) = tokio::fs::canonicalize(dir.join("index.html")).await {
        let is_file = tokio::fs::metadata(&index).await.is_ok_and(|m| m.is_file());
        if index.starts_with(root) && is_file {
            return file_response(&index).await;
        }
    }
    match listing(dir, url).await {
        Ok(html) => Response::bytes(200, "text/html; charset=utf-8", html.into_bytes()),
        Err(_) => Response::error(403, "cannot list this directory"),
    }
}

/// An HTML listing of `dir`, names escaped, directories (and links to them) with a `/`.
async fn listing(dir: &Path, url: &str) -> std::io::Result<String> {
    let mut entries = Vec::new();
    let mut read = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = read.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = tokio::fs::metadata(entry.path())
            .await
            .is_ok_and(|m| m.is_dir());
        entries.push((name, is_dir));
    }
    entries.sort();
    let title = escape_html(url);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1>\n<ul>\n"
    );
    if url != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in entries {
        let slash = if is_dir { "/" } else { "" };
        html.push_str(&format!(
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>\n",
            percent_encode(&name),
            escape_html(&name)
        ));
    }
    html.push_str("</ul>\n</body></html>\n");
    Ok(html)
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_rejects_malformed_escapes() {
        assert_eq!(percent_decode("/a%2e%2E/b").unwrap(), b"/a../b");
        assert!(percent_decode("/a%2").is_none());
        assert!(percent_decode("/a%zz").is_none());
    }

    #[test]
    fn listing_names_are_escaped_and_encoded() {
        assert_eq!(escape_html("<a href='x'>"), "&lt;a href=&#39;x&#39;&gt;");
        assert_eq!(percent_encode("a b<\"c"), "a%20b%3C%22c");
    }
}
