//! Weight files: what `weights::save` writes `weights::load` reads back, and
//! every way a file can be wrong is refused with a message that names the
//! problem (and the tensor, when one tensor is at fault).
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;

use neuralpad::Error;
use neuralpad::weights::{self, Expected, Loaded, NamedTensor};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// The digit model's first layers, with PyTorch's names and layouts.
const CONV1_W: [usize; 4] = [32, 1, 3, 3];
const CONV1_B: [usize; 1] = [32];
const FC2_W: [usize; 2] = [10, 64];

fn digit_expected() -> Vec<Expected<'static>> {
    vec![
        Expected {
            name: "conv1.weight",
            shape: &CONV1_W,
        },
        Expected {
            name: "conv1.bias",
            shape: &CONV1_B,
        },
        Expected {
            name: "fc2.weight",
            shape: &FC2_W,
        },
    ]
}

/// A tensor whose value i is `offset + i / 8`: distinct, exact in f32, so a
/// mixed-up tensor or element shows as a wrong number.
fn tensor(name: &str, shape: &[usize], offset: f32) -> NamedTensor {
    let n: usize = shape.iter().product();
    NamedTensor {
        name: name.to_string(),
        shape: shape.to_vec(),
        data: (0..n).map(|i| offset + i as f32 / 8.0).collect(),
    }
}

fn digit_tensors() -> Vec<NamedTensor> {
    vec![
        tensor("conv1.weight", &CONV1_W, 0.0),
        tensor("conv1.bias", &CONV1_B, 100.0),
        tensor("fc2.weight", &FC2_W, -50.0),
    ]
}

fn digit_file() -> Vec<u8> {
    weights::save(&digit_tensors(), &BTreeMap::new()).unwrap()
}

/// The message of a load that must fail with `Error::WeightsFile`.
fn file_error(result: neuralpad::Result<Loaded>) -> String {
    match result {
        Err(Error::WeightsFile(msg)) => msg,
        other => panic!("expected Error::WeightsFile, got {other:?}"),
    }
}

/// The tensor and problem of a result that must fail with `Error::Weights`.
fn tensor_error<T: std::fmt::Debug>(result: neuralpad::Result<T>) -> (String, String) {
    match result {
        Err(Error::Weights { tensor, problem }) => (tensor, problem),
        other => panic!("expected Error::Weights, got {other:?}"),
    }
}

/// A file written by the safetensors crate itself, for dtypes `save` never
/// writes.
fn raw_file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (*name, TensorView::new(*dtype, shape.clone(), data).unwrap())
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn round_trip_keeps_names_shapes_values_and_metadata() {
    let metadata = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("vocab".to_string(), "ab \n\u{e9}\u{4e2d}\"".to_string()),
    ]);
    let bytes = weights::save(&digit_tensors(), &metadata).unwrap();

    // Asked in another order than saved: the result follows the request.
    let mut expected = digit_expected();
    expected.reverse();
    let loaded = weights::load(&bytes, &expected).unwrap();

    let mut want = digit_tensors();
    want.reverse();
    assert_eq!(loaded.tensors, want);
    assert_eq!(loaded.metadata, metadata);
}

#[test]
fn file_without_metadata_loads_with_empty_metadata() {
    let loaded = weights::load(&digit_file(), &digit_expected()).unwrap();
    assert!(loaded.metadata.is_empty());
}

#[test]
fn values_are_stored_as_little_endian_f32() {
    let t = NamedTensor {
        name: "b".into(),
        shape: vec![2],
        data: vec![1.0, -2.5],
    };
    let bytes = weights::save(&[t], &BTreeMap::new()).unwrap();
    // The data section is the file's last 8 bytes: 1.0 is 0x3f800000 and
    // -2.5 is 0xc0200000, each written low byte first.
    assert_eq!(
        bytes[bytes.len() - 8..],
        [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0]
    );
}

#[test]
fn missing_tensor_is_named_with_what_the_file_has() {
    let mut tensors = digit_tensors();
    tensors.remove(1);
    let bytes = weights::save(&tensors, &BTreeMap::new()).unwrap();

    let (tensor, problem) = tensor_error(weights::load(&bytes, &digit_expected()));
    assert_eq!(tensor, "conv1.bias");
    assert!(problem.starts_with("missing;"), "{problem}");
    assert!(
        problem.contains("the file has conv1.weight, fc2.weight"),
        "{problem}"
    );
}

#[test]
fn digit_file_offered_to_the_text_model_is_refused() {
    const EMBED: [usize; 2] = [98, 64];
    const HEAD_B: [usize; 1] = [98];
    let text_model = [
        Expected {
            name: "embed.weight",
            shape: &EMBED,
        },
        Expected {
            name: "head.bias",
            shape: &HEAD_B,
        },
    ];
    let (tensor, problem) = tensor_error(weights::load(&digit_file(), &text_model));
    assert_eq!(tensor, "embed.weight");
    assert!(
        problem.contains("none of this model's 2 tensors"),
        "{problem}"
    );
    assert!(problem.contains("other model"), "{problem}");
    assert!(
        problem.contains("conv1.bias, conv1.weight, fc2.weight"),
        "{problem}"
    );
}

#[test]
fn a_long_list_of_file_tensors_is_cut_short() {
    let tensors: Vec<NamedTensor> = (0..12)
        .map(|i| tensor(&format!("layer{i:02}.weight"), &[1], 0.0))
        .collect();
    let bytes = weights::save(&tensors, &BTreeMap::new()).unwrap();

    let (tensor, problem) = tensor_error(weights::load(&bytes, &digit_expected()));
    assert_eq!(tensor, "conv1.weight");
    assert!(problem.contains("layer07.weight and 4 more"), "{problem}");
    assert!(!problem.contains("layer08"), "{problem}");
}

#[test]
fn wrong_shape_names_the_tensor_and_both_shapes() {
    // conv1 saved for 3-channel (RGB) input; the model reads grayscale.
    let mut tensors = digit_tensors();
    tensors[0] = tensor("conv1.weight", &[32, 3, 3, 3], 0.0);
    let bytes = weights::save(&tensors, &BTreeMap::new()).unwrap();

    let (tensor, problem) = tensor_error(weights::load(&bytes, &digit_expected()));
    assert_eq!(tensor, "conv1.weight");
    assert_eq!(problem, "shape [32, 3, 3, 3], expected [32, 1, 3, 3]");
}

#[test]
fn half_and_bfloat16_are_read_widened() {
    // 1.0 is 0x3c00 in IEEE half precision, -2.5 is 0xc100; in bfloat16
    // they are 0x3f80 and 0xc020 (float32's top 16 bits).
    let expected = [Expected {
        name: "head.bias",
        shape: &[2],
    }];
    for (dtype, bytes) in [
        (Dtype::F16, vec![0x00, 0x3c, 0x00, 0xc1]),
        (Dtype::BF16, vec![0x80, 0x3f, 0x20, 0xc0]),
    ] {
        let file = raw_file(&[("head.bias", dtype, vec![2], bytes)]);
        let loaded = weights::load(&file, &expected).unwrap_or_else(|e| panic!("{dtype}: {e}"));
        assert_eq!(loaded.tensors[0].data, [1.0, -2.5], "{dtype}");
    }
}

#[test]
fn to_half_halves_the_file_and_keeps_names_shapes_and_metadata() {
    let tensors = digit_tensors();
    let metadata = BTreeMap::from([("vocab".to_string(), "[\"a\",\"b\"]".to_string())]);
    let full = weights::save(&tensors, &metadata).unwrap();
    let half = weights::to_half(&full).unwrap();
    let data_bytes: usize = tensors.iter().map(|t| t.data.len() * 4).sum();
    assert!(
        full.len() - half.len() >= data_bytes / 2 - 64,
        "{} -> {}",
        full.len(),
        half.len()
    );

    let st = safetensors::SafeTensors::deserialize(&half).unwrap();
    assert!(st.tensors().iter().all(|(_, v)| v.dtype() == Dtype::F16));
    let loaded = weights::load(&half, &digit_expected()).unwrap();
    assert_eq!(loaded.metadata, metadata);
    for (t, want) in loaded.tensors.iter().zip(&tensors) {
        assert_eq!((&t.name, &t.shape), (&want.name, &want.shape));
        for (a, b) in t.data.iter().zip(&want.data) {
            // float16 keeps 11 significant bits: within half a unit in the last place.
            assert!(
                (a - b).abs() <= b.abs() * 2f32.powi(-11),
                "{}: {a} for {b}",
                t.name
            );
        }
    }
    // Twice is the same bytes: a float16 file stays one.
    assert_eq!(
        weights::to_half(&weights::save(&loaded.tensors, &metadata).unwrap()).unwrap(),
        half
    );
}

#[test]
fn to_half_refuses_what_float16_cannot_hold() {
    let mut tensors = digit_tensors();
    tensors[1].data[3] = 70_000.0;
    let full = weights::save(&tensors, &BTreeMap::new()).unwrap();
    let (tensor, problem) = tensor_error(weights::to_half(&full));
    assert_eq!(tensor, "conv1.bias");
    assert_eq!(problem, "70000 is beyond float16's range (65504)");

    let doubles = raw_file(&[(
        "head.bias",
        Dtype::F64,
        vec![1],
        1.0f64.to_le_bytes().to_vec(),
    )]);
    let (tensor, problem) = tensor_error(weights::to_half(&doubles));
    assert_eq!(tensor, "head.bias");
    assert_eq!(problem, "dtype F64; only float32 is converted");
    assert!(matches!(
        weights::to_half(b"not a file"),
        Err(Error::WeightsFile(_))
    ));
}

#[test]
fn double_precision_is_refused() {
    let doubles: Vec<u8> = 1.0f64.to_le_bytes().repeat(2);
    let bytes = raw_file(&[("head.bias", Dtype::F64, vec![2], doubles)]);
    let expected = [Expected {
        name: "head.bias",
        shape: &[2],
    }];

    let (tensor, problem) = tensor_error(weights::load(&bytes, &expected));
    assert_eq!(tensor, "head.bias");
    assert!(
        problem.starts_with("dtype F64; save as float32 or float16"),
        "{problem}"
    );
}

#[test]
fn integer_dtype_is_refused() {
    let ints: Vec<u8> = 7i64.to_le_bytes().repeat(2);
    let bytes = raw_file(&[("head.bias", Dtype::I64, vec![2], ints)]);
    let expected = [Expected {
        name: "head.bias",
        shape: &[2],
    }];

    let (tensor, problem) = tensor_error(weights::load(&bytes, &expected));
    assert_eq!(tensor, "head.bias");
    assert_eq!(
        problem,
        "dtype I64; the weights must be float32 (F32), float16 or bfloat16"
    );
}

#[test]
fn unexpected_tensors_are_named() {
    // A PyTorch state_dict can carry buffers the model here does not have.
    let mut tensors = digit_tensors();
    tensors.push(tensor("bn1.running_mean", &[32], 0.0));
    tensors.push(tensor("bn1.running_var", &[32], 1.0));
    let bytes = weights::save(&tensors, &BTreeMap::new()).unwrap();

    let (tensor, problem) = tensor_error(weights::load(&bytes, &digit_expected()));
    assert_eq!(tensor, "bn1.running_mean");
    assert!(
        problem.starts_with("unexpected: this model has no such tensor"),
        "{problem}"
    );
    assert!(problem.contains("nor bn1.running_var"), "{problem}");
}

/// A file with 50,000 tiny tensors the model lacks: the message names a
/// few and counts the rest, instead of listing them all (once a 1 MB
/// message).
#[test]
fn thousands_of_unexpected_tensors_give_a_short_message() {
    let mut tensors = digit_tensors();
    tensors.extend((0..50_000).map(|i| tensor(&format!("extra.{i:05}"), &[1], 0.0)));
    let bytes = weights::save(&tensors, &BTreeMap::new()).unwrap();

    let err = weights::load(&bytes, &digit_expected()).unwrap_err();
    let message = err.to_string();
    assert!(message.len() < 2048, "{} bytes: {message}", message.len());
    let (tensor, problem) = tensor_error::<()>(Err(err));
    assert_eq!(tensor, "extra.00000");
    assert!(
        problem.starts_with("unexpected: this model has no such tensor"),
        "{problem}"
    );
    // The first of the others by name, then the count of the rest:
    // 50,000 = the one named first + 8 shown + 49,991.
    assert!(
        problem.contains("(nor extra.00001, extra.00002"),
        "{problem}"
    );
    assert!(problem.contains("and 49991 more)"), "{problem}");
    assert!(!problem.contains("extra.00009"), "{problem}");
}

#[test]
fn file_cut_inside_its_tensor_data_is_truncated() {
    let bytes = digit_file();
    let msg = file_error(weights::load(&bytes[..bytes.len() - 10], &digit_expected()));
    assert!(msg.starts_with("truncated"), "{msg}");
}

#[test]
fn file_cut_inside_its_header_is_truncated() {
    let bytes = digit_file();
    let msg = file_error(weights::load(&bytes[..40], &digit_expected()));
    assert!(msg.starts_with("truncated: the header should be"), "{msg}");
}

#[test]
fn an_image_is_not_a_safetensors_file() {
    // The 8-byte PNG signature, then the start of its IHDR chunk.
    let png = [
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
    ];
    let msg = file_error(weights::load(&png, &digit_expected()));
    assert!(
        msg.starts_with("not a safetensors file: it does not start with"),
        "{msg}"
    );
}

#[test]
fn a_header_that_is_not_json_is_refused() {
    let mut bytes = 5u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"hello");
    let msg = file_error(weights::load(&bytes, &digit_expected()));
    assert!(
        msg.starts_with("not a safetensors file: its header is not valid"),
        "{msg}"
    );
}

#[test]
fn a_header_that_is_not_text_is_refused() {
    let mut bytes = 2u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    let msg = file_error(weights::load(&bytes, &digit_expected()));
    assert_eq!(msg, "not a safetensors file: its header is not UTF-8 text");
}

#[test]
fn empty_and_tiny_files_are_refused() {
    let msg = file_error(weights::load(&[], &digit_expected()));
    assert_eq!(msg, "not a safetensors file: it is empty (0 bytes)");

    let msg = file_error(weights::load(b"abc", &digit_expected()));
    assert!(
        msg.starts_with("not a safetensors file: it has only 3 bytes"),
        "{msg}"
    );
}

#[test]
fn non_finite_values_name_the_tensor() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        // The bad value sits in the last tensor checked, after two good ones.
        let mut tensors = digit_tensors();
        tensors[2].data[17] = bad;
        tensors[2].data[20] = bad;
        let bytes = weights::save(&tensors, &BTreeMap::new()).unwrap();

        let (tensor, problem) = tensor_error(weights::load(&bytes, &digit_expected()));
        assert_eq!(tensor, "fc2.weight");
        assert!(
            problem.starts_with(&format!(
                "2 of its 640 values are not finite (the first, at flat index 17, is {bad})"
            )),
            "{problem}"
        );
    }
}

#[test]
fn save_refuses_data_that_does_not_fit_its_shape() {
    let mut tensors = digit_tensors();
    tensors[1].data.pop();
    let (tensor, problem) = tensor_error(weights::save(&tensors, &BTreeMap::new()));
    assert_eq!(tensor, "conv1.bias");
    assert_eq!(problem, "31 values for shape [32] (32 values)");
}

#[test]
fn save_refuses_a_name_given_twice() {
    let mut tensors = digit_tensors();
    tensors.push(tensor("conv1.bias", &CONV1_B, 0.0));
    let (tensor, problem) = tensor_error(weights::save(&tensors, &BTreeMap::new()));
    assert_eq!(tensor, "conv1.bias");
    assert!(problem.starts_with("given twice"), "{problem}");
}

#[test]
fn save_refuses_the_reserved_metadata_name() {
    let tensors = [tensor("__metadata__", &[1], 0.0)];
    let (tensor, problem) = tensor_error(weights::save(&tensors, &BTreeMap::new()));
    assert_eq!(tensor, "__metadata__");
    assert!(problem.contains("reserved"), "{problem}");
}

/// tests/fixtures/weights_from_python.safetensors was written by Python's
/// safetensors 0.8.0 (numpy 2.4.6) with tests/fixtures/weights_from_python.py,
/// which documents its names, shapes and values.
#[test]
fn file_written_by_python_safetensors_loads() {
    let bytes = include_bytes!("fixtures/weights_from_python.safetensors");
    let shapes: [(&str, &[usize]); 7] = [
        ("embed.weight", &[3, 2]),
        ("lstm.weight_ih_l0", &[4, 2]),
        ("lstm.weight_hh_l0", &[4, 1]),
        ("lstm.bias_ih_l0", &[4]),
        ("lstm.bias_hh_l0", &[4]),
        ("head.weight", &[3, 1]),
        ("head.bias", &[3]),
    ];
    let expected: Vec<Expected> = shapes
        .iter()
        .map(|&(name, shape)| Expected { name, shape })
        .collect();
    let loaded = weights::load(bytes, &expected).unwrap();

    for (k, ((name, shape), t)) in shapes.iter().zip(&loaded.tensors).enumerate() {
        assert_eq!((t.name.as_str(), t.shape.as_slice()), (*name, *shape));
        // Value i of the k-th tensor is k * 10 - i * 0.5 (see the script).
        let want: Vec<f32> = (0..t.data.len())
            .map(|i| k as f32 * 10.0 - i as f32 * 0.5)
            .collect();
        assert_eq!(t.data, want, "{name}");
    }
    // Row-major like PyTorch: lstm.weight_ih_l0[3][1] is flat index 3 * 2 + 1.
    assert_eq!(loaded.tensors[1].data[7], 10.0 - 3.5);

    let metadata = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("vocab".to_string(), "a\n\u{e9}".to_string()),
    ]);
    assert_eq!(loaded.metadata, metadata);
}

#[test]
fn the_same_weights_and_metadata_are_the_same_bytes() {
    // Several metadata keys (a network, classes, a vocabulary) come out of
    // safetensors' hash map in any order; the file must not.
    let t = vec![NamedTensor {
        name: "a".into(),
        shape: vec![2],
        data: vec![1.0, 2.0],
    }];
    let meta: BTreeMap<String, String> = (0..8)
        .map(|i| (format!("key{i}"), format!("value {i}")))
        .collect();
    let first = weights::save(&t, &meta).unwrap();
    for _ in 0..20 {
        assert_eq!(weights::save(&t, &meta).unwrap(), first);
    }
    let back = weights::load(
        &first,
        &[Expected {
            name: "a",
            shape: &[2],
        }],
    )
    .unwrap();
    assert_eq!(back.metadata, meta);
    assert_eq!(back.tensors, t);
}
