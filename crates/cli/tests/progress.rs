//! Progress bars of the `brook` binary against a real broker: piped runs
//! print no progress at all and their stdout/stderr are exactly what scripts
//! parse; under a pseudo-terminal (util-linux `script`) the bars appear, and
//! `--quiet` or BROOK_NO_PROGRESS take them away again.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::Server;

const BROOK: &str = env!("CARGO_BIN_EXE_brook");

/// Runs `cmd` to completion within `limit`, killing it (by its pid) past that.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).env_remove("BROOK_NO_PROGRESS");
    let mut child = cmd.spawn().expect("spawn");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // Readers on their own threads, so a full pipe cannot stall the child.
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

fn brook(bootstrap: &str, args: &[&str]) -> Output {
    let out = run(Command::new(BROOK).arg("--bootstrap-server").arg(bootstrap).args(args), Duration::from_secs(120));
    assert!(out.status.success(), "brook {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Neither escape sequences nor carriage returns: what a bar would leave.
fn assert_plain(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    assert!(!text.contains('\x1b') && !text.contains('\r'), "{what}: terminal control in {text:?}");
}

fn lines_file(dir: &Path, n: usize) -> (std::path::PathBuf, String) {
    let text: String = (0..n).map(|i| format!("line-{i}\n")).collect();
    let path = dir.join("lines.txt");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

#[test]
fn piped_runs_print_no_progress_and_unchanged_output() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let b = format!("127.0.0.1:{}", server.port);
    let (file, text) = lines_file(dir.path(), 20_000);
    brook(&b, &["topic", "create", "piped", "--partitions", "1"]);

    // produce: the human summary on stderr, nothing on stdout; JSON on stdout only.
    let out = brook(&b, &["produce", "piped", "--file", file.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Produced 20000 record(s) to piped.\n");
    let out = brook(&b, &["--output", "json", "produce", "piped", "--file", file.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"records\":20000,\"topic\":\"piped\"}\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // consume to a count (bar) and without one (spinner): exactly the records, nothing else.
    let out = brook(&b, &["consume", "piped", "--from-beginning", "--max-messages", "20000"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let out = brook(&b, &["consume", "piped", "--from-beginning", "--timeout-ms", "1500"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{text}{text}"));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // bench: the summary lines on stdout as before, an empty stderr.
    let out = brook(&b, &["bench", "produce", "--topic", "bench", "--num-records", "20000", "--acks", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("produce: 20000 records in ") && lines[0].ends_with(" MB/s"), "{stdout}");
    assert!(lines[1].starts_with("latency ms: p50 "), "{stdout}");
    assert_plain("bench produce stdout", &out.stdout);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let out = brook(&b, &["--output", "json", "bench", "consume", "--topic", "bench", "--timeout-ms", "1500"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    assert_eq!((v["records"].as_u64(), v["bytes"].as_u64()), (Some(20000), Some(20000 * 100)));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let out = brook(&b, &["bench", "e2e", "--topic", "e2e", "--rate", "1000", "--duration-secs", "1"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("e2e: 1000 records in "));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert_plain("bench e2e stdout", &out.stdout);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// `script -qfc CMD /dev/null` gives CMD a pseudo-terminal on stdin, stdout
/// and stderr and copies what it writes to our stdout.
fn under_pty(command: &str) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qfc", command, "/dev/null"]).env("SHELL", "/bin/sh");
    let out = run(&mut cmd, Duration::from_secs(120));
    assert!(out.status.success(), "script -qfc {command:?}: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn script_available() -> bool {
    Command::new("script").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

#[test]
fn a_terminal_gets_progress_bars_unless_quiet() {
    if !script_available() {
        println!("skipped: util-linux `script` is not installed, no pseudo-terminal to test with");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let b = format!("127.0.0.1:{}", server.port);
    let (file, text) = lines_file(dir.path(), 20_000);
    brook(&b, &["topic", "create", "tty", "--partitions", "1"]);
    let brook_cmd = format!("'{BROOK}' --bootstrap-server {b}");

    // produce from a regular file: a bar against the file's size, then the summary.
    let shown = under_pty(&format!("{brook_cmd} produce tty --file '{}'", file.display()));
    assert!(shown.contains("produce ["), "no produce bar in {shown:?}");
    assert!(shown.contains(&format!("/{}", format_mib(text.len()))), "no file size in {shown:?}");
    assert!(shown.contains("Produced 20000 record(s) to tty."), "{shown:?}");

    // consume to a count with stdout in a file: the bar on the terminal, the
    // file byte for byte what a piped run prints.
    let consumed = dir.path().join("consumed.txt");
    let shown =
        under_pty(&format!("{brook_cmd} consume tty --from-beginning --max-messages 20000 > '{}'", consumed.display()));
    assert!(shown.contains("consume [") && shown.contains("/20000 records"), "no consume bar in {shown:?}");
    assert!(shown.contains("records/s") && shown.contains("MB/s"), "no rates in {shown:?}");
    assert_eq!(std::fs::read_to_string(&consumed).unwrap(), text);

    // bench produce: the bar, then the same summary as piped.
    let bench = "bench produce --topic tty-bench --num-records 20000 --acks 1";
    let shown = under_pty(&format!("{brook_cmd} {bench}"));
    assert!(shown.contains("produce [") && shown.contains("/20000 records"), "no bench bar in {shown:?}");
    assert!(shown.contains("\x1b[2K"), "the bar is cleared at the end: {shown:?}");
    assert!(shown.contains("produce: 20000 records in "), "{shown:?}");

    // --quiet and BROOK_NO_PROGRESS: a terminal, but no bar.
    for command in [format!("{brook_cmd} -q {bench}"), format!("BROOK_NO_PROGRESS=1 {brook_cmd} {bench}")] {
        let shown = under_pty(&command);
        assert!(shown.contains("produce: 20000 records in "), "{command}: {shown:?}");
        assert!(!shown.contains("produce [") && !shown.contains("\x1b"), "{command}: a bar in {shown:?}");
    }
}

/// indicatif's binary size with two decimals, as the bar prints a total.
fn format_mib(bytes: usize) -> String {
    let kib = bytes as f64 / 1024.0;
    if kib < 1024.0 {
        format!("{kib:.2} KiB")
    } else {
        format!("{:.2} MiB", kib / 1024.0)
    }
}

/// Three combined broker+controller nodes of the real binary, killed by pid on drop.
struct Trio {
    children: Vec<std::process::Child>,
    bootstrap: String,
}

impl Drop for Trio {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_trio(dir: &Path) -> Trio {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let voters: Vec<String> = ports.iter().enumerate().map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1)).collect();
    let mut trio = Trio { children: Vec::new(), bootstrap: format!("127.0.0.1:{}", ports[0].0) };
    for (i, (p, c)) in ports.iter().enumerate() {
        let id = i + 1;
        let log = std::fs::File::create(dir.join(format!("node{id}.log"))).unwrap();
        let mut cmd = Command::new(BROOK);
        cmd.arg("server");
        for s in [
            format!("node.id={id}"),
            "process.roles=broker,controller".to_string(),
            format!("listeners=PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}"),
            "controller.listener.names=CONTROLLER".to_string(),
            format!("controller.quorum.voters={}", voters.join(",")),
            format!("log.dirs={}", dir.join(format!("node{id}")).display()),
            "broker.session.timeout.ms=4000".to_string(),
            "broker.heartbeat.interval.ms=500".to_string(),
        ] {
            cmd.arg("--set").arg(s);
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("BROOK_") && k != "BROOK_LOG" {
                cmd.env_remove(k);
            }
        }
        trio.children.push(cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().expect("spawn brook"));
    }
    // Ready: three unfenced brokers in the metadata (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(
            Command::new(BROOK).args(["--bootstrap-server", &trio.bootstrap, "--output", "json", "cluster", "info"]),
            Duration::from_secs(30),
        );
        let live = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .map_or(0, |v| v["brokers"].as_array().map_or(0, |b| b.iter().filter(|b| b["fenced"] == false).count()));
        if live == 3 {
            return trio;
        }
        let logs: String =
            (1..=3).map(|i| std::fs::read_to_string(dir.join(format!("node{i}.log"))).unwrap_or_default()).collect();
        assert!(Instant::now() < deadline, "three brokers not up within 60 s:\n{logs}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `{partition: replicas}` of a topic, from `brook topic describe --output json`.
fn replicas(bootstrap: &str, topic: &str) -> Vec<Vec<i64>> {
    let out = brook(bootstrap, &["--output", "json", "topic", "describe", topic]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["replicas"].as_array().unwrap().iter().map(|r| r.as_i64().unwrap()).collect())
        .collect()
}

#[test]
fn drain_and_reassign_wait_until_moved_with_a_bar_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let trio = start_trio(dir.path());
    let b = trio.bootstrap.clone();
    brook(&b, &["topic", "create", "moving", "--partitions", "3", "--replication-factor", "2"]);
    let (file, _) = lines_file(dir.path(), 5_000);
    brook(&b, &["produce", "moving", "--file", file.to_str().unwrap()]);
    let before = replicas(&b, "moving");
    let on_3 = before.iter().filter(|r| r.contains(&3)).count();
    assert!(on_3 > 0, "broker 3 holds replicas: {before:?}");

    // Piped: the plan on stdout exactly as without --wait, nothing on stderr,
    // and once it returns no replica is left on broker 3.
    let out = brook(&b, &["cluster", "drain", "3", "--wait", "--wait-timeout-secs", "90"]);
    let after = replicas(&b, "moving");
    assert!(after.iter().all(|r| !r.contains(&3) && r.len() == 2), "--wait returned before the moves: {after:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), on_3, "{stdout}");
    assert!(stdout.lines().all(|l| l.starts_with("moving-") && l.contains(" -> [")), "{stdout}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // A terminal: a bar of partitions moved while it waits.
    if !script_available() {
        println!("skipped the terminal half: util-linux `script` is not installed");
        return;
    }
    let target = format!("3,{}", after[0][0]);
    let shown = under_pty(&format!(
        "'{BROOK}' --bootstrap-server {b} cluster reassign moving --partition 0 --replicas {target} --wait --wait-timeout-secs 90"
    ));
    assert!(shown.contains("reassign [") && shown.contains("/1 partitions moved"), "no reassign bar in {shown:?}");
    let mut now = replicas(&b, "moving")[0].clone();
    now.sort_unstable();
    let mut want: Vec<i64> = target.split(',').map(|x| x.parse().unwrap()).collect();
    want.sort_unstable();
    assert_eq!(now, want, "--wait returned before the move");
}
