//! The report as a person sees it: `faultline serve` over a store holding an invalid run, and
//! Debian's headless Chromium opening the store index, the run's index and an anomaly page.
//! Each page must render to a non-blank screenshot. With `FAULTLINE_SCREENSHOTS=DIR` the
//! screenshots are kept there (the README's come from `FAULTLINE_SCREENSHOTS=docs`).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Takes a screenshot of `url`; returns the PNG's path.
fn screenshot(url: &str, out: &Path, profile: &Path) -> PathBuf {
    let status = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", out.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run chromium");
    assert!(status.success(), "chromium failed on {url}");
    out.to_path_buf()
}

/// The PNG decodes and is not one flat colour.
fn assert_rendered(png_path: &Path) {
    let file = std::fs::File::open(png_path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = &buf[..info.buffer_size()];
    let bpp = info.color_type.samples();
    let first = &pixels[..bpp];
    let differing = pixels.chunks(bpp).filter(|p| p != &first).count();
    assert!(
        differing > 5_000,
        "{} looks blank ({differing} pixels differ)",
        png_path.display()
    );
}

#[test]
fn the_served_report_renders_in_a_browser() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing: .ci/run installs it"
        );
        eprintln!("chromium not installed: skipped (make install-test-deps installs it)");
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let run = store.path().join("etcd-register/20261126T020000.000Z");
    copy_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-invalid"),
        &run,
    );
    let o = faultline().arg("report").arg(&run).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = faultline()
        .args(["report", "--index"])
        .arg(store.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let anomaly = std::fs::read_dir(run.join("anomalies"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".html"))
        .expect("an anomaly page");

    let port = free_port();
    let _server = Server(
        faultline()
            .args(["serve", "--store"])
            .arg(store.path())
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let shots = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("FAULTLINE_SCREENSHOTS").map(PathBuf::from);
    let base = format!("http://127.0.0.1:{port}");
    for (name, url) in [
        ("store-index.png", format!("{base}/")),
        (
            "run-index.png",
            format!("{base}/etcd-register/20261126T020000.000Z/index.html"),
        ),
        (
            "anomaly.png",
            format!("{base}/etcd-register/20261126T020000.000Z/anomalies/{anomaly}"),
        ),
    ] {
        let profile = shots.path().join(format!("profile-{name}"));
        let png = screenshot(&url, &shots.path().join(name), &profile);
        assert_rendered(&png);
        if let Some(dir) = &keep {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::copy(&png, dir.join(name)).unwrap();
        }
    }
}
