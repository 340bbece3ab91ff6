//! A person's own classes: 2 to 10 names (any Unicode, at most 32
//! characters each) and the drawings made for each, as 28x28 images
//! preprocessed like any drawing. From them come a training set (each
//! drawing and shifted, turned, thicker or thinner copies of it) and a
//! held-out set (some drawings of each class, never trained on, never
//! augmented) that measures how well the classes are told apart.
//!
//! The whole set is kept in the browser and moves as one JSON file:
//!
//! ```json
//! {"neuralpad": "own-classes", "version": 1, "classes": ["✓", "✗"],
//!  "examples": [{"class": 0, "pixels": "<784 bytes, base64>"}]}
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::mnist::Dataset;
use crate::error::{Error, Result};
use crate::nn::classifier::{PIXELS, SIDE, check_class_names};

/// How many classes a person may name.
pub const MIN_OWN_CLASSES: usize = 2;
pub const MAX_OWN_CLASSES: usize = 10;
/// Drawings kept at most, all classes together (about 0.8 MB).
pub const MAX_EXAMPLES: usize = 1000;
/// Drawings a class needs before a run can start: one of them is held out.
pub const MIN_EXAMPLES_PER_CLASS: usize = 3;
/// Every fifth drawing of a class, from its third on (the 3rd, 8th,
/// 13th...), is held out.
const HOLD_OUT_EVERY: usize = 5;
const HOLD_OUT_FIRST: usize = 2;
/// Augmented copies of each training drawing, beside the drawing itself.
pub const COPIES: usize = 9;
/// The largest file [`OwnSet::from_json`] reads.
pub const MAX_FILE_BYTES: usize = 4 << 20;
/// What the file's `"neuralpad"` says it is.
const FORMAT: &str = "own-classes";
const VERSION: u32 = 1;

/// One drawing: its class and its 28x28 pixels (0 paper, 255 ink).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub class: u8,
    pub pixels: Vec<u8>,
}

impl Example {
    /// A drawing from the network's input (28x28 values in 0..1, ink 1).
    pub fn from_input(class: u8, input: &[f32]) -> Self {
        Self {
            class,
            pixels: input
                .iter()
                .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect(),
        }
    }
}

/// The classes and their drawings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnSet {
    pub classes: Vec<String>,
    pub examples: Vec<Example>,
}

#[derive(Serialize, Deserialize)]
struct File {
    neuralpad: String,
    version: u32,
    classes: Vec<String>,
    examples: Vec<FileExample>,
}

#[derive(Serialize, Deserialize)]
struct FileExample {
    class: u8,
    pixels: String,
}

fn bad(problem: impl Into<String>) -> Error {
    Error::Input {
        what: "own classes",
        problem: problem.into(),
    }
}

/// The names, checked: 2 to 10 of them, each 1 to 32 printable
/// characters once trimmed, no two alike.
pub fn check_names(classes: &[String]) -> Result<()> {
    if !(MIN_OWN_CLASSES..=MAX_OWN_CLASSES).contains(&classes.len()) {
        return Err(bad(format!(
            "{} classes: name {MIN_OWN_CLASSES} to {MAX_OWN_CLASSES}",
            classes.len()
        )));
    }
    if let Some(c) = classes.iter().find(|c| c.trim() != c.as_str()) {
        return Err(bad(format!("the class {c:?} starts or ends with a space")));
    }
    check_class_names(classes)
}

impl OwnSet {
    /// Two classes and no drawings: where a person starts.
    pub fn starting(first: &str, second: &str) -> Self {
        Self {
            classes: vec![first.into(), second.into()],
            examples: Vec::new(),
        }
    }

    /// Drawings of class `c`.
    pub fn count(&self, c: usize) -> usize {
        self.examples
            .iter()
            .filter(|e| usize::from(e.class) == c)
            .count()
    }

    /// Add a drawing of class `c`.
    pub fn add(&mut self, c: usize, input: &[f32]) -> Result<()> {
        if c >= self.classes.len() {
            return Err(bad(format!(
                "no class {c}: there are {}",
                self.classes.len()
            )));
        }
        if input.len() != PIXELS {
            return Err(bad(format!(
                "a drawing of {} values: the network reads {SIDE}x{SIDE}",
                input.len()
            )));
        }
        if self.examples.len() >= MAX_EXAMPLES {
            return Err(bad(format!(
                "{MAX_EXAMPLES} drawings are kept at most: remove some first"
            )));
        }
        self.examples.push(Example::from_input(c as u8, input));
        Ok(())
    }

    /// Remove class `c` and its drawings (the classes after it move up).
    pub fn remove_class(&mut self, c: usize) {
        if c >= self.classes.len() {
            return;
        }
        self.classes.remove(c);
        self.examples.retain(|e| usize::from(e.class) != c);
        for e in &mut self.examples {
            if usize::from(e.class) > c {
                e.class -= 1;
            }
        }
    }

    /// Whether a run can start, or what is missing.
    pub fn check_trainable(&self) -> Result<()> {
        check_names(&self.classes)?;
        for (c, name) in self.classes.iter().enumerate() {
            let n = self.count(c);
            if n < MIN_EXAMPLES_PER_CLASS {
                return Err(bad(format!(
                    "{name:?} has {n} drawings: draw at least {MIN_EXAMPLES_PER_CLASS} of each class \
                     (one of every five is kept aside to test on)"
                )));
            }
        }
        Ok(())
    }

    /// Whether the `i`th drawing is held out: every fifth of its class,
    /// from the third on.
    pub fn held_out(&self, i: usize) -> bool {
        let class = self.examples[i].class;
        let position = self.examples[..i]
            .iter()
            .filter(|e| e.class == class)
            .count();
        position % HOLD_OUT_EVERY == HOLD_OUT_FIRST
    }

    /// The held-out drawings, as they were drawn.
    pub fn held_out_set(&self) -> Dataset {
        let picked: Vec<&Example> = (0..self.examples.len())
            .filter(|&i| self.held_out(i))
            .map(|i| &self.examples[i])
            .collect();
        dataset(picked.iter().map(|e| (e.class, e.pixels.clone())))
    }

    /// The training set: each drawing not held out, then `copies`
    /// augmented copies of it (see [`augment`]), from `seed`.
    pub fn training_set(&self, copies: usize, seed: u64) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for (i, e) in self.examples.iter().enumerate() {
            if self.held_out(i) {
                continue;
            }
            out.push((e.class, e.pixels.clone()));
            for _ in 0..copies {
                out.push((e.class, augment(&e.pixels, &mut rng)));
            }
        }
        dataset(out.into_iter())
    }

    /// The set as one JSON file.
    pub fn to_json(&self) -> String {
        let file = File {
            neuralpad: FORMAT.into(),
            version: VERSION,
            classes: self.classes.clone(),
            examples: self
                .examples
                .iter()
                .map(|e| FileExample {
                    class: e.class,
                    pixels: STANDARD.encode(&e.pixels),
                })
                .collect(),
        };
        serde_json::to_string(&file).expect("plain data serialises")
    }

    /// A set from a file written by [`Self::to_json`], every part checked;
    /// the message says what is wrong with one that is not.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(bad(format!(
                "the file is {} bytes; at most {MAX_FILE_BYTES} are read",
                bytes.len()
            )));
        }
        let file: File = serde_json::from_slice(bytes).map_err(|e| {
            bad(format!(
                "not a file of own classes (JSON with \"classes\" and \"examples\"): {}",
                e.to_string().chars().take(160).collect::<String>()
            ))
        })?;
        if file.neuralpad != FORMAT || file.version != VERSION {
            return Err(bad(format!(
                "this file says it is {:?} version {}: expected {FORMAT:?} version {VERSION}",
                file.neuralpad.chars().take(40).collect::<String>(),
                file.version
            )));
        }
        check_names(&file.classes)?;
        if file.examples.len() > MAX_EXAMPLES {
            return Err(bad(format!(
                "{} drawings; at most {MAX_EXAMPLES}",
                file.examples.len()
            )));
        }
        let mut examples = Vec::with_capacity(file.examples.len());
        for (i, e) in file.examples.into_iter().enumerate() {
            if usize::from(e.class) >= file.classes.len() {
                return Err(bad(format!(
                    "drawing {i} is of class {}, but there are {} classes",
                    e.class,
                    file.classes.len()
                )));
            }
            let pixels = STANDARD
                .decode(e.pixels.as_bytes())
                .ok()
                .filter(|p| p.len() == PIXELS)
                .ok_or_else(|| {
                    bad(format!(
                        "drawing {i}: its pixels are not {PIXELS} bytes in base64"
                    ))
                })?;
            examples.push(Example {
                class: e.class,
                pixels,
            });
        }
        Ok(Self {
            classes: file.classes,
            examples,
        })
    }
}

fn dataset(examples: impl Iterator<Item = (u8, Vec<u8>)>) -> Dataset {
    let mut d = Dataset {
        images: Vec::new(),
        labels: Vec::new(),
        rows: SIDE,
        cols: SIDE,
    };
    for (label, pixels) in examples {
        d.labels.push(label);
        d.images.extend_from_slice(&pixels);
    }
    d
}

/// The largest turn, shift and change of size of an augmented copy.
const MAX_DEGREES: f32 = 12.0;
const MAX_SHIFT: f32 = 2.0;
const MAX_SCALE: f32 = 0.1;

/// A copy of a 28x28 drawing as the same hand might have drawn it: turned
/// by up to 12 degrees, moved by up to 2 pixels, 10% larger or smaller
/// (bilinear sampling), and in one copy of three with a thicker stroke
/// and in one of three a thinner one.
pub fn augment(pixels: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let angle = rng.random_range(-MAX_DEGREES..=MAX_DEGREES).to_radians();
    let (dx, dy) = (
        rng.random_range(-MAX_SHIFT..=MAX_SHIFT),
        rng.random_range(-MAX_SHIFT..=MAX_SHIFT),
    );
    let scale = 1.0 + rng.random_range(-MAX_SCALE..=MAX_SCALE);
    let stroke = rng.random_range(0..3u8);
    let moved = transform(pixels, angle, (dx, dy), scale);
    let stroked = match stroke {
        1 => thicker(&moved),
        2 => thinner(&moved),
        _ => moved,
    };
    stroked
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// Each output pixel samples the input where rotating by `angle` about the
/// centre, scaling by `scale` and shifting by `shift` would have put it.
fn transform(pixels: &[u8], angle: f32, shift: (f32, f32), scale: f32) -> Vec<f32> {
    let c = (SIDE as f32 - 1.0) / 2.0;
    let (sin, cos) = angle.sin_cos();
    let at = |x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= SIDE as isize || y >= SIDE as isize {
            0.0
        } else {
            f32::from(pixels[y as usize * SIDE + x as usize]) / 255.0
        }
    };
    let mut out = vec![0.0; PIXELS];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (u, v) = (
                (x as f32 - c - shift.0) / scale,
                (y as f32 - c - shift.1) / scale,
            );
            // The inverse rotation.
            let (sx, sy) = (cos * u + sin * v + c, -sin * u + cos * v + c);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            out[y * SIDE + x] = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + at(x0 + 1, y0) * fx * (1.0 - fy)
                + at(x0, y0 + 1) * (1.0 - fx) * fy
                + at(x0 + 1, y0 + 1) * fx * fy;
        }
    }
    out
}

/// The four neighbours of each pixel (outside counts as paper).
fn neighbours(v: &[f32], i: usize) -> [f32; 4] {
    let (x, y) = (i % SIDE, i / SIDE);
    let get = |x: isize, y: isize| {
        if x < 0 || y < 0 || x >= SIDE as isize || y >= SIDE as isize {
            0.0
        } else {
            v[y as usize * SIDE + x as usize]
        }
    };
    let (x, y) = (x as isize, y as isize);
    [get(x - 1, y), get(x + 1, y), get(x, y - 1), get(x, y + 1)]
}

/// About a pixel more ink around every stroke.
fn thicker(v: &[f32]) -> Vec<f32> {
    (0..PIXELS)
        .map(|i| {
            let most = neighbours(v, i).into_iter().fold(0.0, f32::max);
            v[i].max(0.8 * most)
        })
        .collect()
}

/// Strokes worn down at their edges.
fn thinner(v: &[f32]) -> Vec<f32> {
    (0..PIXELS)
        .map(|i| {
            let least = neighbours(v, i).into_iter().fold(1.0, f32::min);
            v[i] * (0.4 + 0.6 * least)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vertical bar, 3 pixels wide, rows 6..22 of column 12..15.
    fn bar() -> Vec<u8> {
        let mut p = vec![0u8; PIXELS];
        for y in 6..22 {
            for x in 12..15 {
                p[y * SIDE + x] = 255;
            }
        }
        p
    }

    fn ink(p: &[u8]) -> f32 {
        p.iter().map(|&v| f32::from(v) / 255.0).sum()
    }

    #[test]
    fn the_identity_transform_keeps_the_drawing() {
        let b = bar();
        let same = transform(&b, 0.0, (0.0, 0.0), 1.0);
        for (a, b) in same.iter().zip(&b) {
            assert!((a - f32::from(*b) / 255.0).abs() < 1e-5);
        }
        // A whole-pixel shift moves the bar by that pixel.
        let moved = transform(&b, 0.0, (1.0, 0.0), 1.0);
        assert!((moved[10 * SIDE + 15] - 1.0).abs() < 1e-5);
        assert!(moved[10 * SIDE + 12].abs() < 1e-5);
        // A quarter turn lays the bar on its side (the centre stays).
        let turned = transform(&b, std::f32::consts::FRAC_PI_2, (0.0, 0.0), 1.0);
        assert!(turned[13 * SIDE + 8] > 0.9 && turned[8 * SIDE + 13] < 0.1);
    }

    #[test]
    fn augmented_copies_differ_but_keep_about_the_ink() {
        let b = bar();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let copies: Vec<Vec<u8>> = (0..30).map(|_| augment(&b, &mut rng)).collect();
        assert!(copies.iter().all(|c| c.len() == PIXELS && c != &b));
        for c in &copies {
            let r = ink(c) / ink(&b);
            assert!((0.3..2.5).contains(&r), "ink ratio {r}");
        }
        // Thicker and thinner both appear, as does neither.
        let ratios: Vec<f32> = copies.iter().map(|c| ink(c) / ink(&b)).collect();
        assert!(ratios.iter().any(|&r| r > 1.3) && ratios.iter().any(|&r| r < 0.8));
        // The same seed gives the same copies.
        let mut again = ChaCha8Rng::seed_from_u64(3);
        assert_eq!(augment(&b, &mut again), copies[0]);
    }

    #[test]
    fn drawings_are_held_out_by_position_within_their_class() {
        let mut s = OwnSet::starting("a", "b");
        let x = vec![0.5; PIXELS];
        for i in 0..12 {
            s.add(i % 2, &x).unwrap();
        }
        // Six of each: the 3rd of each class is held out (not the 8th: none).
        let held: Vec<usize> = (0..12).filter(|&i| s.held_out(i)).collect();
        assert_eq!(held, vec![4, 5]);
        assert_eq!(s.held_out_set().len(), 2);
        assert_eq!(s.training_set(COPIES, 1).len(), 10 * (COPIES + 1));
        assert_eq!(s.held_out_set().labels, vec![0, 1]);
    }

    #[test]
    fn a_run_needs_three_drawings_of_each_class() {
        let mut s = OwnSet::starting("✓", "✗");
        let x = vec![0.5; PIXELS];
        for _ in 0..3 {
            s.add(0, &x).unwrap();
        }
        let e = s.check_trainable().unwrap_err().to_string();
        assert!(e.contains("\"✗\" has 0 drawings"), "{e}");
        for _ in 0..3 {
            s.add(1, &x).unwrap();
        }
        s.check_trainable().unwrap();
        s.classes.push("✓".into());
        assert!(s.check_trainable().is_err(), "two classes named alike");
    }

    #[test]
    fn removing_a_class_renumbers_the_rest() {
        let mut s = OwnSet::starting("a", "b");
        s.classes.push("c".into());
        let x = vec![0.0; PIXELS];
        for c in [0, 1, 2, 2] {
            s.add(c, &x).unwrap();
        }
        s.remove_class(1);
        assert_eq!(s.classes, vec!["a", "c"]);
        let classes: Vec<u8> = s.examples.iter().map(|e| e.class).collect();
        assert_eq!(classes, vec![0, 1, 1]);
    }

    #[test]
    fn the_file_round_trips_and_bad_files_say_why() {
        let mut s = OwnSet::starting("○", "△ triangle");
        let mut x = vec![0.0; PIXELS];
        x[100] = 1.0;
        x[101] = 0.5;
        s.add(1, &x).unwrap();
        s.add(0, &x).unwrap();
        let text = s.to_json();
        assert_eq!(OwnSet::from_json(text.as_bytes()).unwrap(), s);
        let err = |t: &str| OwnSet::from_json(t.as_bytes()).unwrap_err().to_string();
        assert!(err("{}").contains("not a file of own classes"));
        assert!(err("[1,2").contains("not a file"));
        let wrong = text.replace("own-classes", "weights");
        assert!(err(&wrong).contains("expected"));
        let one = r#"{"neuralpad":"own-classes","version":1,"classes":["a"],"examples":[]}"#;
        assert!(err(one).contains("1 classes"));
        let class = r#"{"neuralpad":"own-classes","version":1,"classes":["a","b"],"examples":[{"class":2,"pixels":""}]}"#;
        assert!(err(class).contains("class 2"));
        let short = r#"{"neuralpad":"own-classes","version":1,"classes":["a","b"],"examples":[{"class":1,"pixels":"AAAA"}]}"#;
        assert!(err(short).contains("784 bytes"));
        let long = format!(
            r#"{{"neuralpad":"own-classes","version":1,"classes":["a","{}"],"examples":[]}}"#,
            "x".repeat(40)
        );
        assert!(err(&long).contains("32"));
    }
}
