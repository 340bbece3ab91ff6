//! Accuracy and the confusion matrix of a classifier.

/// counts[true][predicted] over a labelled set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Confusion {
    pub counts: Vec<Vec<u32>>,
}

impl Confusion {
    pub fn new(classes: usize) -> Self {
        Self {
            counts: vec![vec![0; classes]; classes],
        }
    }

    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }

    pub fn correct(&self) -> u32 {
        (0..self.counts.len()).map(|i| self.counts[i][i]).sum()
    }

    /// Fraction on the diagonal; 0 for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        let t = self.total();
        if t == 0 {
            0.0
        } else {
            self.correct() as f64 / t as f64
        }
    }
}

impl std::fmt::Display for Confusion {
    /// Rows are the true class, columns the predicted one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "true\\pred")?;
        for j in 0..self.counts.len() {
            write!(f, "{j:>6}")?;
        }
        writeln!(f)?;
        for (i, row) in self.counts.iter().enumerate() {
            write!(f, "{i:>9}")?;
            for c in row {
                write!(f, "{c:>6}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_is_the_diagonal_share() {
        let mut c = Confusion::new(3);
        c.add(0, 0);
        c.add(1, 1);
        c.add(2, 1);
        c.add(2, 2);
        assert_eq!((c.correct(), c.total()), (3, 4));
        assert!((c.accuracy() - 0.75).abs() < 1e-12);
    }
}
