//! `huckleberry healthcheck`: exits 0 when `/healthz` on this container's port answers 200.
//! The runtime image has no curl; this keeps the container health check in the binary.

use std::io::{Read, Write};
use std::process::ExitCode;

/// Probes `http://127.0.0.1:$PORT/healthz` (PORT defaults to 3000), waiting at most 2 s for
/// the connection and 2 s for the answer.
pub fn run() -> ExitCode {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let probe = || -> std::io::Result<bool> {
        let timeout = std::time::Duration::from_secs(2);
        let address = format!("127.0.0.1:{port}")
            .parse()
            .map_err(|_| std::io::Error::other("invalid PORT"))?;
        let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
