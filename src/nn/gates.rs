//! Readable gates: a recurrent cell's steps over a text as named bands (the
//! LSTM's input, forget, candidate and output gates and its cell state; the
//! GRU's reset, update and new gates and its state; the RNN's state), and
//! the units worth looking at first, in the manner of LSTMVis: the ones most
//! active over the text, or the ones that change most along it.

use super::char_model::CellView;
use crate::shapes::Cell;

/// One band of a cell's per-unit values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Band {
    /// The letter the equations use: "i", "f", "g", "o", "c"; "r", "z", "n", "h".
    pub symbol: &'static str,
    /// Where the values live: a sigmoid gate's 0..1, or -1..1 for tanh's
    /// (the LSTM's cell state, unbounded, is shown through tanh).
    pub signed: bool,
    /// Which slice of [`CellView`] holds it.
    source: Source,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The k-th block of H values of `gates`.
    Gate(usize),
    /// `state` itself.
    State,
    /// tanh of `state`: the LSTM's cell c.
    TanhState,
}

const LSTM: &[Band] = &[
    Band::gate("i", 0, false),
    Band::gate("f", 1, false),
    Band::gate("g", 2, true),
    Band::gate("o", 3, false),
    Band {
        symbol: "c",
        signed: true,
        source: Source::TanhState,
    },
];
const GRU: &[Band] = &[
    Band::gate("r", 0, false),
    Band::gate("z", 1, false),
    Band::gate("n", 2, true),
    Band::STATE,
];
const RNN: &[Band] = &[Band::STATE];

impl Band {
    const STATE: Band = Band {
        symbol: "h",
        signed: true,
        source: Source::State,
    };

    const fn gate(symbol: &'static str, k: usize, signed: bool) -> Band {
        Band {
            symbol,
            signed,
            source: Source::Gate(k),
        }
    }

    /// The bands a cell shows, top to bottom; the last is its state.
    pub fn of(cell: Cell) -> &'static [Band] {
        match cell {
            Cell::Lstm => LSTM,
            Cell::Gru => GRU,
            Cell::Rnn => RNN,
        }
    }

    /// The band's value of `unit` at one step, as the cell computed it
    /// (the cell state through tanh); None past the cell's units.
    pub fn value(&self, step: &CellView, unit: usize) -> Option<f32> {
        let h = step.state.len();
        if unit >= h {
            return None;
        }
        match self.source {
            Source::Gate(k) => step.gates.get(k * h + unit).copied(),
            Source::State => Some(step.state[unit]),
            Source::TanhState => Some(step.state[unit].tanh()),
        }
    }

    /// A value mapped to 0..1 for a colour or a line: gates as they are,
    /// tanh's (v + 1) / 2.
    pub fn unit_interval(&self, v: f32) -> f32 {
        if self.signed { 0.5 * (v + 1.0) } else { v }
    }
}

/// How units are put in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// As the cell numbers them.
    InOrder,
    /// By the mean |value| of the state band over the text: the units that
    /// hold something strongly.
    MostActive,
    /// By the standard deviation of the state band over the text: the
    /// units that switch on and off as the text goes (quotes, line ends).
    MostChanging,
}

/// The units of the cell that made `steps`, ordered by `rank`, at most
/// `k` of them (all with [`Rank::InOrder`] and `k` = usize::MAX). Ties keep
/// the cell's order.
pub fn units(steps: &[&CellView], rank: Rank, k: usize) -> Vec<usize> {
    let Some(first) = steps.first() else {
        return Vec::new();
    };
    let h = first.state.len();
    let mut order: Vec<usize> = (0..h).collect();
    if rank != Rank::InOrder {
        let state = *Band::of(first.cell)
            .last()
            .expect("every cell has a state band");
        let score = |u: usize| -> f64 {
            let vals: Vec<f64> = steps
                .iter()
                .filter_map(|s| state.value(s, u))
                .map(f64::from)
                .collect();
            let n = vals.len().max(1) as f64;
            match rank {
                Rank::MostActive => vals.iter().map(|v| v.abs()).sum::<f64>() / n,
                _ => {
                    let mean = vals.iter().sum::<f64>() / n;
                    (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
                }
            }
        };
        let scores: Vec<f64> = order.iter().map(|&u| score(u)).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    }
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lstm_step(gates: Vec<f32>, c: Vec<f32>) -> CellView {
        CellView {
            cell: Cell::Lstm,
            gates,
            state: c,
        }
    }

    #[test]
    fn lstm_bands_read_the_gates_in_pytorch_order_and_the_cell_through_tanh() {
        // Two units: i = (0.1, 0.2), f = (0.3, 0.4), g = (-0.5, 0.6), o = (0.7, 0.8).
        let s = lstm_step(
            vec![0.1, 0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 0.8],
            vec![2.0, -1.0],
        );
        let bands = Band::of(Cell::Lstm);
        let names: Vec<&str> = bands.iter().map(|b| b.symbol).collect();
        assert_eq!(names, ["i", "f", "g", "o", "c"]);
        let at = |b: usize, u: usize| bands[b].value(&s, u).unwrap();
        assert_eq!(
            (at(0, 1), at(1, 0), at(2, 0), at(3, 1)),
            (0.2, 0.3, -0.5, 0.8)
        );
        assert_eq!(at(4, 0), 2.0f32.tanh());
        assert_eq!(bands[4].value(&s, 2), None);
        assert_eq!(bands[2].unit_interval(-0.5), 0.25);
        assert_eq!(bands[0].unit_interval(0.1), 0.1);
    }

    #[test]
    fn units_rank_by_activity_and_by_change() {
        // Unit 0 steady and strong, unit 1 flips sign, unit 2 near zero.
        let steps: Vec<CellView> = [[3.0, 1.0, 0.01], [3.0, -1.0, 0.02], [3.0, 1.0, 0.0]]
            .iter()
            .map(|c| lstm_step(vec![0.5; 12], c.to_vec()))
            .collect();
        let refs: Vec<&CellView> = steps.iter().collect();
        assert_eq!(units(&refs, Rank::InOrder, usize::MAX), [0, 1, 2]);
        assert_eq!(units(&refs, Rank::MostActive, 3), [0, 1, 2]);
        assert_eq!(units(&refs, Rank::MostChanging, 1), [1]);
        assert!(units(&[], Rank::MostActive, 10).is_empty());
    }
}
