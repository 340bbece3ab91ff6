//! Weight files: safetensors with PyTorch state_dict names (`conv1.weight`,
//! `lstm.weight_ih_l0`, ...), float32 little-endian (float16 or bfloat16 read
//! too, widened exactly; [`to_half`] writes float16 for a file that is
//! fetched more often than it is trained), and string metadata in the
//! header's `__metadata__` (a char model keeps its vocabulary there).
//!
//! Bytes in, bytes out: no file I/O here, so the page (wasm32) and the command
//! line share every check. [`load`] validates the whole file against the
//! tensors a model expects before it returns anything, so a caller that swaps
//! its weights only on `Ok` never holds a half-loaded model.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

use crate::error::{Error, Result};
use crate::nn::spec::{NETWORK_KEY, NetworkSpec};

/// One tensor with its PyTorch name, its shape and its values in row-major
/// (C) order, the layout PyTorch and numpy use.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A tensor a model needs from a weights file: its name and exact shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
}

/// A validated weights file.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// One tensor per [`Expected`] entry, in the order they were asked for.
    pub tensors: Vec<NamedTensor>,
    /// The header's `__metadata__` (empty when the file has none). Files
    /// written by PyTorch's safetensors carry `format: pt` here.
    pub metadata: BTreeMap<String, String>,
}

/// Bytes of the little-endian u64 that starts every safetensors file and
/// gives the length of the JSON header after it.
const HEADER_LEN_BYTES: usize = 8;

/// How many of a file's tensor names a "missing" message lists before it
/// says "and N more": enough to recognise a model, short enough to read.
const NAMES_SHOWN: usize = 8;

/// The header key safetensors reserves for the metadata map.
const METADATA_KEY: &str = "__metadata__";

/// A tensor handed to `safetensors::serialize`: values already encoded
/// little-endian in `dtype`, whatever the host's byte order.
struct EncodedView<'a> {
    dtype: Dtype,
    shape: &'a [usize],
    bytes: Vec<u8>,
}

impl View for &EncodedView<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The tensors as a safetensors file: dtype F32, names as given, `metadata`
/// in the header's `__metadata__`.
///
/// Refuses (naming the tensor) a name given twice, the reserved name
/// `__metadata__`, and data whose length does not match the shape, since
/// any of those would write a file that [`load`] cannot read back.
pub fn save(tensors: &[NamedTensor], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut seen = BTreeSet::new();
    let mut views = Vec::with_capacity(tensors.len());
    for t in tensors {
        if t.name == METADATA_KEY {
            return Err(tensor_err(
                &t.name,
                "the name is reserved for the file's metadata",
            ));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(tensor_err(
                &t.name,
                "given twice; tensor names must be unique",
            ));
        }
        let count = element_count(&t.shape)
            .ok_or_else(|| tensor_err(&t.name, format!("shape {:?} is too large", t.shape)))?;
        if t.data.len() != count {
            return Err(tensor_err(
                &t.name,
                format!(
                    "{} values for shape {:?} ({count} values)",
                    t.data.len(),
                    t.shape
                ),
            ));
        }
        let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        views.push((
            t.name.as_str(),
            EncodedView {
                dtype: Dtype::F32,
                shape: &t.shape,
                bytes,
            },
        ));
    }
    serialize(&views, metadata)
}

/// The same file with every tensor's values rounded to float16 (to nearest,
/// ties to even), metadata kept: half the bytes, about three significant
/// digits. Refuses a file that is not float32 throughout, and a value
/// beyond float16's range (65,504), which would become infinite.
pub fn to_half(bytes: &[u8]) -> Result<Vec<u8>> {
    let (header, data) = parse(bytes)?;
    let mut tensors: Vec<(String, &TensorInfo)> = header.tensors().into_iter().collect();
    tensors.sort_by_key(|(_, info)| info.data_offsets.0);
    let mut views = Vec::with_capacity(tensors.len());
    for (name, info) in &tensors {
        if info.dtype != Dtype::F32 {
            return Err(tensor_err(
                name,
                format!("dtype {}; only float32 is converted", info.dtype),
            ));
        }
        let mut halves = Vec::new();
        for v in decode(name, info, data)? {
            let h = half::f16::from_f32(v);
            if h.is_infinite() {
                return Err(tensor_err(
                    name,
                    format!("{v} is beyond float16's range (65504)"),
                ));
            }
            halves.extend_from_slice(&h.to_le_bytes());
        }
        views.push((
            name.as_str(),
            EncodedView {
                dtype: Dtype::F16,
                shape: &info.shape,
                bytes: halves,
            },
        ));
    }
    serialize(&views, &metadata_of(&header))
}

fn serialize(
    views: &[(&str, EncodedView<'_>)],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    // `collect` builds whichever map type safetensors takes: std's HashMap
    // with its `std` feature, hashbrown's without it.
    let info = (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    let bytes = safetensors::serialize(views.iter().map(|(name, view)| (*name, view)), info)
        .map_err(|e| Error::WeightsFile(format!("could not write the file: {e}")))?;
    Ok(canonical_header(bytes))
}

/// The same file with its header's keys in sorted order. safetensors keeps
/// the metadata in a hash map, so a file with several keys (a network, its
/// vocabulary or classes) would come out in another order each time; the
/// same weights should always be the same bytes. The header is rewritten
/// in place: the same JSON in another order has the same length, and the
/// data offsets count from the end of the header.
fn canonical_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(len) = bytes.first_chunk::<HEADER_LEN_BYTES>() else {
        return bytes;
    };
    let len = u64::from_le_bytes(*len) as usize;
    let Some(header) = bytes.get(HEADER_LEN_BYTES..HEADER_LEN_BYTES + len) else {
        return bytes;
    };
    // serde_json's maps are ordered by key.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else {
        return bytes;
    };
    let sorted = value.to_string();
    if sorted.len() <= len {
        let end = HEADER_LEN_BYTES + len;
        bytes[HEADER_LEN_BYTES..HEADER_LEN_BYTES + sorted.len()].copy_from_slice(sorted.as_bytes());
        // safetensors pads its header with spaces to an 8-byte boundary.
        bytes[HEADER_LEN_BYTES + sorted.len()..end].fill(b' ');
    }
    bytes
}

/// Reads a safetensors file and checks it against the tensors a model has.
///
/// Every check runs before anything is returned. The file must be
/// safetensors; each expected tensor must be present with exactly the
/// expected shape and dtype F32, F16 or BF16; the file must hold no other tensor (strict,
/// like PyTorch's `load_state_dict`, so a digit model's file offered to the
/// text model is refused); and every value must be finite. The first problem
/// found is returned: [`Error::WeightsFile`] when the file as a whole is
/// unusable, [`Error::Weights`] naming the tensor otherwise.
pub fn load(bytes: &[u8], expected: &[Expected<'_>]) -> Result<Loaded> {
    let (header, data) = parse(bytes)?;
    let names = header.tensors();
    let in_file: BTreeSet<&str> = names.keys().map(String::as_str).collect();

    let mut infos: Vec<&TensorInfo> = Vec::with_capacity(expected.len());
    for want in expected {
        let info = header
            .info(want.name)
            .ok_or_else(|| missing(want.name, expected, &in_file))?;
        if info.shape != want.shape {
            return Err(tensor_err(
                want.name,
                format!("shape {:?}, expected {:?}", info.shape, want.shape),
            ));
        }
        if !matches!(info.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(tensor_err(want.name, dtype_problem(info.dtype)));
        }
        infos.push(info);
    }

    let wanted: BTreeSet<&str> = expected.iter().map(|e| e.name).collect();
    let extra: Vec<&str> = in_file.difference(&wanted).copied().collect();
    if let Some((first, rest)) = extra.split_first() {
        let mut problem = String::from("unexpected: this model has no such tensor");
        if !rest.is_empty() {
            let shown = &rest[..rest.len().min(NAMES_SHOWN)];
            problem.push_str(&format!(" (nor {}", shown.join(", ")));
            if rest.len() > NAMES_SHOWN {
                problem.push_str(&format!(" and {} more", rest.len() - NAMES_SHOWN));
            }
            problem.push(')');
        }
        problem.push_str("; the file must hold exactly the model's own tensors");
        return Err(tensor_err(first, problem));
    }

    let mut tensors = Vec::with_capacity(infos.len());
    for (want, info) in expected.iter().zip(infos) {
        let data = decode(want.name, info, data)?;
        if let Some(problem) = non_finite_problem(&data) {
            return Err(tensor_err(want.name, problem));
        }
        tensors.push(NamedTensor {
            name: want.name.to_string(),
            shape: want.shape.to_vec(),
            data,
        });
    }

    Ok(Loaded {
        tensors,
        metadata: metadata_of(&header),
    })
}

/// A tensor's values as float32: float32 as stored, float16 and bfloat16
/// widened (exactly: every such value is a float32).
fn decode(name: &str, info: &TensorInfo, data: &[u8]) -> Result<Vec<f32>> {
    let (start, end) = info.data_offsets;
    // safetensors has checked that the offsets tile the data exactly;
    // `get` keeps a panic impossible all the same.
    let raw = data.get(start..end).ok_or_else(|| {
        Error::WeightsFile(format!(
            "corrupt: the data of tensor {name} lies outside the file"
        ))
    })?;
    let halves = || raw.chunks_exact(2).map(|b| [b[0], b[1]]);
    Ok(match info.dtype {
        Dtype::F16 => halves()
            .map(|b| half::f16::from_le_bytes(b).to_f32())
            .collect(),
        Dtype::BF16 => halves()
            .map(|b| half::bf16::from_le_bytes(b).to_f32())
            .collect(),
        _ => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    })
}

fn metadata_of(header: &Metadata) -> BTreeMap<String, String> {
    header
        .metadata()
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The string metadata of a safetensors file, read before its tensors are
/// checked: a model whose shapes depend on it (the text model's vocabulary)
/// needs it to know what to expect.
pub fn read_metadata(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let (header, _) = parse(bytes)?;
    Ok(metadata_of(&header))
}

/// The network spec in a file's metadata ([`NETWORK_KEY`]), checked as a
/// spec; `None` for a file saved before specs existed.
pub fn network_of(metadata: &BTreeMap<String, String>) -> Result<Option<NetworkSpec>> {
    metadata
        .get(NETWORK_KEY)
        .map(|text| {
            NetworkSpec::from_json(text)
                .map_err(|e| Error::WeightsFile(format!("the network in the metadata: {e}")))
        })
        .transpose()
}

/// Parses and checks the header; returns it with the tensor data after it.
/// Its messages are for a person who picked the wrong file or whose download
/// was cut short, rather than safetensors' own wording.
fn parse(bytes: &[u8]) -> Result<(Metadata, &[u8])> {
    let Some(len_bytes) = bytes.first_chunk::<HEADER_LEN_BYTES>() else {
        return Err(Error::WeightsFile(if bytes.is_empty() {
            "not a safetensors file: it is empty (0 bytes)".into()
        } else {
            format!(
                "not a safetensors file: it has only {} bytes, fewer than the 8 that \
                 start every safetensors file",
                bytes.len()
            )
        }));
    };
    // Checked here rather than left to safetensors so that a file cut inside
    // its header (which still starts like JSON) reads as truncated, and any
    // other file (an image, a PyTorch .pt zip) as not safetensors at all.
    let header_len = u64::from_le_bytes(*len_bytes);
    let available = (bytes.len() - HEADER_LEN_BYTES) as u64;
    if header_len > available {
        let looks_like_json = bytes.get(HEADER_LEN_BYTES) == Some(&b'{');
        return Err(Error::WeightsFile(if looks_like_json {
            format!(
                "truncated: the header should be {header_len} bytes but only {available} \
                 follow; the file was probably cut short while saving or downloading"
            )
        } else {
            "not a safetensors file: it does not start with a safetensors header (is it \
             a PyTorch .pt/.pth file, an image or some other format?)"
                .into()
        }));
    }
    let (header_len, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| Error::WeightsFile(parse_problem(&e)))?;
    // read_metadata has checked that the header and data fill the file
    // exactly, so this slice exists; an empty fallback keeps a panic out.
    let data = bytes
        .get(HEADER_LEN_BYTES + header_len..)
        .unwrap_or_default();
    Ok((header, data))
}

fn parse_problem(e: &SafeTensorError) -> String {
    match e {
        SafeTensorError::InvalidHeader(_) => {
            "not a safetensors file: its header is not UTF-8 text".into()
        }
        SafeTensorError::InvalidHeaderDeserialization(e) => {
            format!("not a safetensors file: its header is not valid safetensors JSON ({e})")
        }
        SafeTensorError::MetadataIncompleteBuffer => "truncated or corrupt: the tensor data \
             after the header is not the size the header describes; the file was probably \
             cut short while saving or downloading"
            .into(),
        SafeTensorError::InvalidOffset(name) => {
            format!("corrupt: the data offsets of tensor {name} do not follow the previous tensor")
        }
        SafeTensorError::TensorInvalidInfo => {
            "corrupt: a tensor's data size does not match its shape and dtype".into()
        }
        other => format!("not a usable safetensors file: {other}"),
    }
}

/// "missing", with what would help a person see why: how many of the model's
/// tensors are absent and the names the file does have.
fn missing(name: &str, expected: &[Expected<'_>], in_file: &BTreeSet<&str>) -> Error {
    let absent = expected
        .iter()
        .filter(|e| !in_file.contains(e.name))
        .count();
    let mut problem = if absent == expected.len() {
        format!(
            "missing; none of this model's {} tensors is in the file (is it for the other model?)",
            expected.len()
        )
    } else if absent > 1 {
        format!(
            "missing ({absent} of this model's {} tensors are missing)",
            expected.len()
        )
    } else {
        "missing".to_string()
    };
    if in_file.is_empty() {
        problem.push_str("; the file holds no tensors");
    } else {
        let shown: Vec<&str> = in_file.iter().take(NAMES_SHOWN).copied().collect();
        problem.push_str(&format!("; the file has {}", shown.join(", ")));
        if in_file.len() > NAMES_SHOWN {
            problem.push_str(&format!(" and {} more", in_file.len() - NAMES_SHOWN));
        }
    }
    tensor_err(name, problem)
}

fn dtype_problem(dtype: Dtype) -> String {
    let is_float = matches!(
        dtype,
        Dtype::F64
            | Dtype::F8_E4M3
            | Dtype::F8_E5M2
            | Dtype::F8_E4M3FNUZ
            | Dtype::F8_E5M2FNUZ
            | Dtype::F8_E8M0
            | Dtype::F6_E2M3
            | Dtype::F6_E3M2
            | Dtype::F4
    );
    if is_float {
        format!(
            "dtype {dtype}; save as float32 or float16 (in PyTorch, call model.float() \
             before save_file)"
        )
    } else {
        format!("dtype {dtype}; the weights must be float32 (F32), float16 or bfloat16")
    }
}

fn non_finite_problem(data: &[f32]) -> Option<String> {
    let first = data.iter().position(|v| !v.is_finite())?;
    let count = data.iter().filter(|v| !v.is_finite()).count();
    Some(format!(
        "{count} of its {} values are not finite (the first, at flat index {first}, is {}); \
         the training that wrote it probably diverged",
        data.len(),
        data[first]
    ))
}

fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

fn tensor_err(tensor: &str, problem: impl Into<String>) -> Error {
    Error::Weights {
        tensor: tensor.to_string(),
        problem: problem.into(),
    }
}
