//! A form for generated poems: lines of a fixed number of characters, a ，
//! after the first line of each couplet and a 。 after the second, a poem
//! ending (a newline) only after a 。. It is a sampling mask, the smallest
//! example of constrained decoding: at each step the characters the form
//! forbids get no probability and the model chooses among the rest, so the
//! lines are always well formed and what fills them is still the model's.

use crate::data::corpus::Vocab;
use crate::error::{Error, Result};

/// The marks that end a poem line in the corpus.
const LINE_MARKS: &str = "，。？！；";

/// Fewest and most characters a line of the form may have.
pub const LINE_CHARS: std::ops::RangeInclusive<usize> = 2..=16;

/// Whether `c` is a Chinese character (a CJK unified ideograph, the
/// extensions and compatibility block included): what a line is made of.
pub fn is_han(c: char) -> bool {
    matches!(u32::from(c),
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Where a poem stands: characters in the line being written, and lines
/// ended since the poem began (even: the next line opens a couplet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verse {
    /// Characters of each line.
    pub line_chars: usize,
    in_line: usize,
    lines: usize,
}

impl Verse {
    /// A form of lines of `line_chars` characters, at the start of a poem.
    pub fn new(line_chars: usize) -> Result<Verse> {
        if !LINE_CHARS.contains(&line_chars) {
            return Err(Error::Input {
                what: "line_chars",
                problem: format!(
                    "{line_chars} is outside {}..={}: five or seven characters a line are the classic forms",
                    LINE_CHARS.start(),
                    LINE_CHARS.end()
                ),
            });
        }
        Ok(Verse {
            line_chars,
            ..Verse::default()
        })
    }

    /// The form after `text` (a prompt): a newline starts a poem, a line
    /// mark ends a line, anything else is a character of the line.
    pub fn after(mut self, text: &str) -> Verse {
        for c in text.chars() {
            self.push(c);
        }
        self
    }

    pub fn push(&mut self, c: char) {
        if c == '\n' {
            (self.in_line, self.lines) = (0, 0);
        } else if LINE_MARKS.contains(c) {
            (self.in_line, self.lines) = (0, self.lines + 1);
        } else {
            self.in_line += 1;
        }
    }

    /// The mark the line being written ends with: ， for a couplet's first
    /// line, 。 for its second.
    fn mark(&self) -> char {
        if self.lines.is_multiple_of(2) {
            '，'
        } else {
            '。'
        }
    }

    /// Whether the form lets `c` come next. A line shorter than the form
    /// takes Chinese characters only; a full one (or a prompt's longer
    /// one) takes only its mark; a newline only right after a 。.
    pub fn allows(&self, c: char) -> bool {
        if self.in_line >= self.line_chars {
            return c == self.mark();
        }
        if c == '\n' {
            return self.in_line == 0 && self.lines > 0 && self.lines.is_multiple_of(2);
        }
        is_han(c)
    }

    /// Refuses a vocabulary without ，and 。: an English model cannot
    /// write this form.
    pub fn check_vocab(&self, vocab: &Vocab) -> Result<()> {
        for mark in ['，', '。'] {
            if vocab.id(mark) == vocab.unknown_id() {
                return Err(Error::Input {
                    what: "line_chars",
                    problem: format!(
                        "this model's vocabulary has no {mark}: lines of a set length need a model of Chinese poems (\"tang\")"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(v: &Verse, cs: &str) -> String {
        cs.chars().filter(|&c| v.allows(c)).collect()
    }

    #[test]
    fn a_line_takes_characters_then_its_mark() {
        let all = "月光，。\na";
        let v = Verse::new(5).unwrap();
        assert_eq!(allowed(&v, all), "月光", "a poem opens with a character");
        let v = v.after("床前明月");
        assert_eq!(allowed(&v, all), "月光");
        let v = v.after("光");
        assert_eq!(
            allowed(&v, all),
            "，",
            "five characters, then the couplet's ，"
        );
        let v = v.after("，疑是地上霜");
        assert_eq!(allowed(&v, all), "。");
        let v = v.after("。");
        assert_eq!(
            allowed(&v, all),
            "月光\n",
            "after 。 a line or the poem's end"
        );
        let v = v.after("\n");
        assert_eq!(allowed(&v, all), "月光");
    }

    #[test]
    fn a_prompt_longer_than_the_form_ends_its_line_at_once() {
        let v = Verse::new(5).unwrap().after("春眠不觉晓处处");
        assert_eq!(allowed(&v, "晓，。"), "，");
    }

    #[test]
    fn the_form_is_refused_outside_its_range_and_without_marks() {
        assert!(Verse::new(1).is_err() && Verse::new(17).is_err());
        let english = Vocab::from_text("We the people.");
        let e = Verse::new(7)
            .unwrap()
            .check_vocab(&english)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no ，") && e.len() < 300, "{e}");
        let poems = Vocab::from_text("床前明月光，疑是地上霜。\n");
        assert!(Verse::new(5).unwrap().check_vocab(&poems).is_ok());
    }
}
