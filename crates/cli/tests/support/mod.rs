//! Test support: start the real `brook` binary on an ephemeral port with a
//! temporary data dir, and a minimal blocking wire client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data: PathBuf,
    pub log: PathBuf,
    settings: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    pub fn start(data: &Path, settings: &[&str]) -> Server {
        let port = free_port();
        let log = data.with_extension("log");
        let mut server = Server {
            child: Self::spawn(data, port, settings, &log),
            port,
            data: data.to_path_buf(),
            log,
            settings: settings.iter().map(|s| s.to_string()).collect(),
        };
        server.wait_ready();
        server
    }

    fn spawn(data: &Path, port: u16, settings: &[impl AsRef<str>], log: &Path) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_brook"));
        cmd.arg("server")
            .arg("--set")
            .arg(format!("log.dirs={}", data.display()))
            .arg("--set")
            .arg(format!("listeners=PLAINTEXT://127.0.0.1:{port}"));
        for s in settings {
            cmd.arg("--set").arg(s.as_ref());
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("BROOK_") && k != "BROOK_LOG" {
                cmd.env_remove(k);
            }
        }
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        cmd.stdout(Stdio::null()).stderr(out).spawn().expect("spawn brook")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("broker exited: {status}\n{}", self.log_text());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("broker did not start\n{}", self.log_text());
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stop(&mut self) {
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        panic!("broker did not stop on SIGTERM");
    }

    pub fn restart(&mut self) {
        self.stop();
        self.child = Self::spawn(&self.data, self.port, &self.settings, &self.log);
        self.wait_ready();
    }

    pub fn connect(&self) -> Wire {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Wire { stream, correlation_id: 0, log: self.log.clone() }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub struct Wire {
    pub stream: TcpStream,
    correlation_id: i32,
    /// The broker's log, shown when a call gets no answer.
    log: PathBuf,
}

impl Wire {
    /// Sends raw bytes (already framed or not: the caller decides).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one response frame; `None` if the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// Whether the broker closed the connection (EOF or reset) within the timeout.
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.stream.read(&mut buf), Ok(0) | Err(_))
    }

    pub fn frame<R: Request>(&mut self, version: i16, request: &R) -> Vec<u8> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("brook-test")));
        let header_version = ApiKey::try_from(R::KEY).unwrap().request_header_version(version);
        let mut buf = BytesMut::new();
        header.encode(&mut buf, header_version).unwrap();
        request.encode(&mut buf, version).unwrap();
        let mut framed = (buf.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&buf);
        framed
    }

    /// Sends a request and decodes its response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let frame = self.frame(version, request);
        self.send_raw(&frame);
        let Some(mut body) = self.read_frame() else {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("no response to api {} v{version}; broker log:\n{log}", R::KEY);
        };
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation_id);
        R::Response::decode(&mut body, version).unwrap()
    }
}
