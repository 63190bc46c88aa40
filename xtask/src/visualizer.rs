//! `cargo xtask visualizer [--test]`: builds the WebAssembly package and the browser
//! visualizer, starts a real relay (nostr-rs-relay) and a static file server on free
//! loopback ports, and either prints the URL and serves until Ctrl-C or standard input
//! closes, or (`--test`) runs the visualizer's Playwright test and stops both.
//!
//! The file server is a few dozen lines of HTTP/1.1 on `std::net`: it serves
//! `visualizer/dist` (the package under `dist/pkg/`) with the right MIME types, and
//! `/config.json`, which tells the page where the relay is.

use crate::setup;
use crate::util::{have, root, run};
use crate::wasm;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `cargo xtask visualizer [--test] [--port N]`.
pub fn command(args: &[String]) -> Result<(), String> {
    let root = root();
    let mut test = false;
    let mut port = 0u16;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--test" => test = true,
            "--port" => {
                port = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("--port needs a port number")?;
            }
            other => return Err(format!("visualizer: unknown argument {other}")),
        }
    }
    let route = setup::setup(&root)?;
    let pkg = match std::env::var_os("NIPEE_WASM_PKG") {
        // A package built elsewhere (the same variable the wasm tests read).
        Some(dir) => {
            let dir = PathBuf::from(dir);
            eprintln!(
                "visualizer: using the package in {} (NIPEE_WASM_PKG)",
                dir.display()
            );
            dir
        }
        None => {
            wasm::build_libs(&root, route)?;
            wasm::package(&root, route)?;
            wasm::pkg_dir(&root)
        }
    };
    if test {
        test_with_package(&root, &pkg)
    } else {
        serve_until_closed(&root, &pkg, port)
    }
}

/// Builds the app against `pkg`, starts relay and server, runs the Playwright test, stops
/// both. What `test-all` calls once its own wasm stages have built the package.
pub fn test_with_package(root: &Path, pkg: &Path) -> Result<(), String> {
    // The test invites a native `nipee` user too.
    run(Command::new(crate::util::cargo()).current_dir(root).args([
        "build",
        "--quiet",
        "-p",
        "nipee-cli",
    ]))?;
    build_app(root, pkg)?;
    let running = start(root, 0)?;
    let shots = root.join("target/visualizer-shots");
    let result = run(Command::new("node")
        .args(["--test", "--test-reporter=spec", "test/visualizer.test.mjs"])
        .current_dir(root.join("visualizer"))
        .env("VISUALIZER_URL", &running.url)
        .env("VISUALIZER_RELAY", &running.relay_url)
        .env("VISUALIZER_SHOTS", &shots)
        .env(
            "NIPEE_CLI_BIN",
            crate::util::target_dir(root).join("debug/nipee"),
        ));
    running.stop();
    result
}

fn serve_until_closed(root: &Path, pkg: &Path, port: u16) -> Result<(), String> {
    build_app(root, pkg)?;
    let running = start(root, port)?;
    println!("\nnipee visualizer: {}", running.url);
    println!("relay:             {}", running.relay_url);
    println!("Stop with Ctrl-C (or close standard input).");
    let _ = std::io::stdout().flush();
    // Block until standard input closes (Ctrl-D, or a test closing the pipe). Ctrl-C ends
    // this process; the relay's wrapper sees its pipe close and stops the relay too.
    let mut sink = Vec::new();
    let _ = std::io::stdin().lock().read_to_end(&mut sink);
    running.stop();
    eprintln!("visualizer: stopped");
    Ok(())
}

/// `npm ci` (unless `node_modules` already matches the lock) and `npm run build`.
fn build_app(root: &Path, pkg: &Path) -> Result<(), String> {
    if !have("npm") {
        return Err("npm is missing: install Node.js 20+ and npm".into());
    }
    if !pkg.join("web/nipee_wasm.js").exists() {
        return Err(format!(
            "no nipee-wasm package in {}/web (run `cargo xtask wasm`)",
            pkg.display()
        ));
    }
    let dir = root.join("visualizer");
    if node_modules_current(&dir) {
        eprintln!("visualizer: node_modules matches package-lock.json");
    } else {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir))?;
    }
    run(Command::new("npm")
        .args(["run", "build"])
        .current_dir(&dir)
        .env("NIPEE_WASM_PKG", pkg))
}

/// npm writes `node_modules/.package-lock.json` after an install; when it is at least as new
/// as `package-lock.json`, the installed tree is the locked one.
fn node_modules_current(dir: &Path) -> bool {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(dir.join("node_modules/.package-lock.json")),
        modified(dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    }
}

struct Running {
    url: String,
    relay_url: String,
    relay: Child,
    relay_stdin: Option<ChildStdin>,
}

impl Running {
    fn stop(mut self) {
        // Closing the wrapper's standard input stops the relay and removes its data.
        drop(self.relay_stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.relay.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.relay.kill();
        let _ = self.relay.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn relay_config(port: u16, data: &Path) -> String {
    format!(
        "[info]\nrelay_url = \"ws://127.0.0.1:{port}/\"\nname = \"nipee visualizer relay\"\n\
         [database]\nengine = \"sqlite\"\ndata_directory = \"{dir}\"\n\
         [network]\naddress = \"127.0.0.1\"\nport = {port}\n\
         [options]\nreject_future_seconds = 1800\n\
         [limits]\nmax_event_bytes = 262144\nmax_ws_message_bytes = 262144\nmax_ws_frame_bytes = 262144\n\
         [authorization]\nnip42_auth = false\n",
        dir = data.display()
    )
}

/// Starts the relay (on a free port, in a fresh data directory) and the file server.
fn start(root: &Path, port: u16) -> Result<Running, String> {
    let bin = setup::relay_bin();
    if !bin.is_file() {
        return Err(format!(
            "no nostr-rs-relay at {} (run `cargo xtask setup`)",
            bin.display()
        ));
    }
    let relay_port = free_port()?;
    let data = std::env::temp_dir().join(format!(
        "nipee-visualizer-relay-{}-{relay_port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let config = data.join("config.toml");
    std::fs::write(&config, relay_config(relay_port, &data))
        .map_err(|e| format!("{}: {e}", config.display()))?;
    // The relay runs under a small shell that holds our pipe: when this process ends in any
    // way (Ctrl-C included) the pipe closes, and the shell stops the relay and deletes its
    // data directory.
    let script = "d=\"$2\"; \"$0\" --config \"$1\" --db \"$d\" >\"$d/relay.log\" 2>&1 & r=$!\n\
                  stop() { kill \"$r\" 2>/dev/null; wait \"$r\" 2>/dev/null; rm -rf \"$d\"; exit 0; }\n\
                  trap stop INT TERM HUP\n\
                  cat >/dev/null\n\
                  stop\n";
    let mut relay = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&bin)
        .arg(&config)
        .arg(&data)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting nostr-rs-relay: {e}"))?;
    let relay_stdin = relay.stdin.take();
    let relay_url = format!("ws://127.0.0.1:{relay_port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", relay_port)).is_err() {
        if Instant::now() > deadline || matches!(relay.try_wait(), Ok(Some(_))) {
            let log = std::fs::read_to_string(data.join("relay.log")).unwrap_or_default();
            drop(relay_stdin);
            let _ = relay.kill();
            return Err(format!(
                "nostr-rs-relay did not start on {relay_url}:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "visualizer: relay on {relay_url} (data in {})",
        data.display()
    );

    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("file server on 127.0.0.1:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let site = Arc::new(Site {
        dist: root.join("visualizer/dist"),
        config: format!("{{\"relay\":\"{relay_url}\"}}\n"),
    });
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let site = Arc::clone(&site);
            std::thread::spawn(move || {
                let _ = site.handle(stream);
            });
        }
    });
    Ok(Running {
        url: format!("http://{addr}/"),
        relay_url,
        relay,
        relay_stdin,
    })
}

struct Site {
    dist: PathBuf,
    config: String,
}

/// The MIME type of a file the build produces.
fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ts" => "text/plain; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file under `dist` a request path names, refusing anything that leaves it.
fn resolve(dist: &Path, path: &str) -> Option<PathBuf> {
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let file = if path.ends_with('/') || rel.as_os_str().is_empty() {
        dist.join(rel).join("index.html")
    } else {
        dist.join(rel)
    };
    file.is_file().then_some(file)
}

impl Site {
    fn handle(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut out = stream;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        // Skip the headers: nothing in them changes the answer.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        if method != "GET" && method != "HEAD" {
            return respond(&mut out, "405 Method Not Allowed", "text/plain", b"", true);
        }
        let head = method == "HEAD";
        if target.split('?').next() == Some("/config.json") {
            return respond(
                &mut out,
                "200 OK",
                "application/json",
                self.config.as_bytes(),
                head,
            );
        }
        match resolve(&self.dist, target).map(|f| (std::fs::read(&f), f)) {
            Some((Ok(body), file)) => respond(&mut out, "200 OK", mime(&file), &body, head),
            _ => respond(
                &mut out,
                "404 Not Found",
                "text/plain; charset=utf-8",
                b"not found\n",
                head,
            ),
        }
    }
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    mime: &str,
    body: &[u8],
    head: bool,
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if !head {
        out.write_all(body)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_dist_are_refused() {
        let dist = std::env::temp_dir();
        assert!(resolve(&dist, "/../etc/passwd").is_none());
        assert!(resolve(&dist, "/a/../../x").is_none());
    }

    #[test]
    fn wasm_is_served_as_application_wasm() {
        assert_eq!(
            mime(Path::new("pkg/nipee_wasm_bg.wasm")),
            "application/wasm"
        );
        assert_eq!(
            mime(Path::new("assets/index.js")),
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn the_relay_config_raises_the_limits_welcomes_need() {
        let c = relay_config(4242, Path::new("/tmp/x"));
        assert!(c.contains("port = 4242"));
        assert!(c.contains("address = \"127.0.0.1\""));
        assert!(c.contains("max_event_bytes = 262144"));
        assert!(c.contains("max_ws_frame_bytes = 262144"));
    }
}
