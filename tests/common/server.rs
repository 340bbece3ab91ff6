//! What the service's and the model store's tests share: `neuralpad serve` started for real
//! on a free port of 127.0.0.1 (always on a temporary store unless told
//! which), one request at a time on its own connection, publish forms,
//! and a throwaway PostgreSQL cluster (Debian's postgresql: initdb and
//! pg_ctl on a temporary folder and a free loopback port), stopped and
//! removed when dropped. A missing or broken PostgreSQL fails the test
//! that needs it, never skips it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// A name unique in this test process, for temporary files and folders.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SQLite store in the temporary folder, removed (with its WAL files)
/// when dropped.
pub struct TempSqlite(pub PathBuf);

impl TempSqlite {
    pub fn new() -> Self {
        Self(std::env::temp_dir().join(format!("{}.db", unique("neuralpad-store"))))
    }

    pub fn url(&self) -> String {
        format!("sqlite:{}", self.0.display())
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// A running `neuralpad serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// What it printed up to the "listening on" line.
    pub banner: String,
    /// What it printed after.
    pub out: Arc<Mutex<String>>,
    /// The temporary store it was started on, if [`Self::on_temp_store`]
    /// made one; removed after the server stops.
    _store: Option<TempSqlite>,
}

impl Server {
    /// `serve` on a free port with `args`; `--database` must be among them
    /// (tests never touch the default file). A quick measurement unless
    /// `--eval-images` says otherwise.
    pub fn start(args: &[&str]) -> Server {
        assert!(
            args.contains(&"--database"),
            "tests name their store: {args:?}"
        );
        Self::start_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
    }

    /// As [`Self::start`], on a temporary SQLite store of its own.
    pub fn on_temp_store(args: &[&str]) -> Server {
        let store = TempSqlite::new();
        let url = store.url();
        let mut all = vec!["--database", url.as_str()];
        all.extend_from_slice(args);
        let mut server = Self::start(&all);
        server._store = Some(store);
        server
    }

    /// As [`Self::start`], in the directory `dir`.
    pub fn start_in(dir: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_neuralpad"))
            .current_dir(dir)
            .args(["serve", "--port", "0"])
            .args(args)
            .args(if args.contains(&"--eval-images") {
                &[][..]
            } else {
                &["--eval-images", "500"][..]
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the neuralpad binary runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = String::new();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("serve {args:?} stopped before listening (its errors are above):\n{banner}");
            };
            banner += &line;
            banner.push('\n');
            if let Some(rest) = line.strip_prefix("listening on http://") {
                break rest.split(' ').next().unwrap().parse().unwrap();
            }
        };
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Server {
            child,
            addr,
            banner,
            out,
            _store: None,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        call(self.addr, "GET", path, &[], Vec::new()).await
    }

    pub async fn post(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        call(
            self.addr,
            "POST",
            path,
            &[("content-type", content_type)],
            body.into(),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Reply {
        self.post(path, "application/json", body.to_string()).await
    }

    /// Publish `weights` as `name` (from `client`, as a load balancer
    /// would say in X-Forwarded-For, when given).
    pub async fn publish(&self, weights: &[u8], name: &str, client: Option<&str>) -> Reply {
        let (content_type, body) = form(&[
            ("name", None, name.as_bytes()),
            ("weights", Some("model.safetensors"), weights),
        ]);
        let mut headers = vec![("content-type", content_type.as_str())];
        if let Some(c) = client {
            headers.push(("x-forwarded-for", c));
        }
        call(self.addr, "POST", "/v1/models", &headers, body).await
    }

    pub async fn delete(&self, path: &str, authorization: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        call(self.addr, "DELETE", path, &headers, Vec::new()).await
    }

    /// SIGTERM, as a service manager stops a server.
    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        self.terminate();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited with {status}");
    }

    /// SIGKILL, as `kill -9` or a crash: no cleanup of any kind.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    /// The body as JSON (null when it is empty or not JSON: see `bytes`).
    pub json: Value,
    pub bytes: Bytes,
}

impl Reply {
    /// The status must be `status`; an error must be JSON whose message
    /// mentions `words` (case-insensitive), so that it names the problem.
    #[track_caller]
    pub fn expect(&self, status: u16, words: &str) -> &Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.bytes)
        );
        if status >= 400 {
            let msg = self.json["error"]
                .as_str()
                .unwrap_or_else(|| panic!("no JSON error message: {:?}", self.bytes))
                .to_lowercase();
            assert!(
                msg.contains(&words.to_lowercase()),
                "{msg:?} does not say {words:?}"
            );
        }
        &self.json
    }
}

/// One request on its own connection; the answer must be JSON (see below).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = send
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    // Every answer of the service is JSON (errors a JSON object), but for
    // a weights file and an empty body.
    let file = headers
        .get("content-type")
        .is_some_and(|t| t == "application/octet-stream");
    if status >= 400 {
        assert!(
            json.is_object(),
            "{method} {path} ({status}): not a JSON error: {}",
            String::from_utf8_lossy(&bytes)
        );
    } else if !file && !bytes.is_empty() {
        assert!(
            serde_json::from_slice::<Value>(&bytes).is_ok(),
            "{method} {path} ({status}): not JSON: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Reply {
        status,
        headers,
        json,
        bytes,
    }
}

/// A multipart/form-data body of (name, file name, bytes) fields.
pub fn form(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    const B: &str = "neuralpad-test-boundary-7f3a9c";
    let mut body = Vec::new();
    for (name, file, bytes) in fields {
        body.extend_from_slice(format!("--{B}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{B}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={B}"), body)
}

/// A throwaway PostgreSQL cluster, stopped and removed when dropped.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    /// Run its tools as the `postgres` user (initdb refuses root).
    as_postgres: bool,
}

/// PostgreSQL's tools: `$PG_BIN`, else Debian's newest
/// /usr/lib/postgresql/N/bin.
fn postgres_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             scripts/setup installs Debian's postgresql; these tests need it"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    /// initdb into a new folder under /tmp (short enough for the socket's
    /// path, and reachable by the postgres user), then pg_ctl start on a
    /// free loopback port, waiting until it accepts connections.
    pub fn start() -> Postgres {
        let bin = postgres_bin();
        let as_postgres = is_root();
        let dir = PathBuf::from("/tmp").join(unique("neuralpad-pg"));
        std::fs::create_dir_all(&dir).unwrap();
        if as_postgres {
            run(Command::new("chown").args(["postgres:postgres", &dir.display().to_string()]));
        }
        let mut pg = Postgres {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        let data = pg.dir.join("data").display().to_string();
        run(&mut pg.tool(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        ));
        // Another test may take the free port first: try a few.
        for attempt in 0..5 {
            pg.port = free_port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                pg.port,
                pg.dir.display()
            );
            let log = pg.dir.join("log").display().to_string();
            let started = pg
                .tool(
                    "pg_ctl",
                    &[
                        "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
                    ],
                )
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            if started {
                return pg;
            }
            eprintln!(
                "pg_ctl start on port {} failed (attempt {attempt}):\n{}",
                pg.port,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("PostgreSQL did not start in {}", pg.dir.display());
    }

    fn tool(&self, name: &str, args: &[&str]) -> Command {
        let path = self.bin.join(name).display().to_string();
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &path]).args(args);
            c
        } else {
            let mut c = Command::new(path);
            c.args(args);
            c
        }
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let _ = self
            .tool("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[track_caller]
fn run(c: &mut Command) {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait up to `timeout` for `f` to hold, polling.
pub async fn eventually(timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
