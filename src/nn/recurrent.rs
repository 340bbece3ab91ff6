//! Recurrent layers (RNN, GRU, LSTM, stackable) over time-major sequences,
//! in PyTorch's layouts: per sub-layer l, weight_ih_l{l} [G*H, in],
//! weight_hh_l{l} [G*H, H], bias_ih_l{l} and bias_hh_l{l} [G*H], G being
//! the cell's gate count (1, 3, 4).
//!
//! The input projection of the whole sequence is one `dense_forward`, and
//! every weight gradient one `dense_backward_*` after the time loop; only
//! the recurrence goes step by step, one kernel forward and two backward.
//!
//! Dropout as Keras means it: `dropout` masks each sub-layer's input and
//! `recurrent_dropout` masks h_(t-1) where it feeds the recurrent product,
//! each with one mask per sequence (the same at every time step), drawn
//! anew at every training step and off at inference.

use rand::Rng;

use super::{Param, init::uniform};
use crate::backend::{Backend, Mask, SeqStep, Tensor};
use crate::error::{Result, shape_err};
use crate::shapes::Cell;

/// One sub-layer's parameters.
pub struct SubLayer<B: Backend> {
    pub weight_ih: Param<B>,
    pub weight_hh: Param<B>,
    pub bias_ih: Param<B>,
    pub bias_hh: Param<B>,
}

/// A recurrent layer: `subs.len()` cells stacked, each reading the
/// sequence of h the one below writes.
pub struct Recurrent<B: Backend> {
    pub cell: Cell,
    pub hidden: usize,
    pub subs: Vec<SubLayer<B>>,
    pub dropout: f32,
    pub recurrent_dropout: f32,
}

/// The two masks of one sub-layer in one pass.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Masks {
    pub input: Mask,
    pub recurrent: Mask,
}

/// Every state of one sub-layer for one sequence shape (`steps` timesteps of
/// `batch` rows), forward and backward, allocated once. Rows t * batch ..
/// (t + 1) * batch of each [steps * batch, ..] tensor are timestep t.
pub struct RecurrentSeq<B: Backend> {
    pub cell: Cell,
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
    /// The input after dropout and its gradient [T*b, in], when the
    /// sub-layer has input dropout.
    xd: Option<(B::Tensor, B::Tensor)>,
    /// x W_ih^T + b_ih [T*b, G*H].
    xg: B::Tensor,
    /// h_(t-1) as the recurrent product reads it (times the recurrent
    /// dropout mask), the input of step t [T*b, H]; row block 0 is the
    /// initial state.
    pub h_in: B::Tensor,
    /// h_t, the output of step t [T*b, H].
    pub h_out: B::Tensor,
    /// The initial state, unmasked [b, H] (the GRU reads it), and a scratch
    /// row block for its masked copy.
    h0: B::Tensor,
    h0_masked: B::Tensor,
    /// LSTM only: c_t for t = 0..=T [(T+1)*b, H] (row block 0 is the initial
    /// state), the last cell state on its way to block 0 (a copy cannot read
    /// and write one tensor) [b, H], and d loss / d c of the step being
    /// undone [b, H].
    pub c: Option<B::Tensor>,
    c_carry: Option<B::Tensor>,
    dc: Option<B::Tensor>,
    /// What each step keeps for the backward pass: the LSTM's activated
    /// gates, the GRU's r, z, n and recurrent n part [T*b, 4H]; none for the RNN.
    pub gates: Option<B::Tensor>,
    /// d loss / d h_out [T*b, H]: the layer above fills it, the recurrence
    /// adds to it.
    pub dh: B::Tensor,
    /// d loss / d gate pre-activations [T*b, G*H] (the GRU's input part).
    dgates: B::Tensor,
    /// GRU only: the recurrent part's gradient [T*b, 3H].
    dgh: Option<B::Tensor>,
    /// Whether the next forward pass starts from the last one's final state
    /// (false: from zeros).
    carry: bool,
    /// Rows whose carried state the next forward pass replaces by zeros:
    /// new sequences joining rows that go on (a server's batch).
    restart: Vec<usize>,
    /// [H] zeros, the source of those restarts; never written.
    zero_row: B::Tensor,
}

impl<B: Backend> RecurrentSeq<B> {
    pub fn new(
        be: &B,
        cell: Cell,
        steps: usize,
        batch: usize,
        input: usize,
        hidden: usize,
        input_dropout: bool,
    ) -> Self {
        let rows = steps * batch;
        let g = cell.gates() * hidden;
        let lstm = cell == Cell::Lstm;
        let opt = |on: bool, shape: &[usize]| on.then(|| be.zeros(shape));
        Self {
            cell,
            steps,
            batch,
            hidden,
            xd: input_dropout.then(|| (be.zeros(&[rows, input]), be.zeros(&[rows, input]))),
            xg: be.zeros(&[rows, g]),
            h_in: be.zeros(&[rows, hidden]),
            h_out: be.zeros(&[rows, hidden]),
            h0: be.zeros(&[batch, hidden]),
            h0_masked: be.zeros(&[batch, hidden]),
            c: opt(lstm, &[rows + batch, hidden]),
            c_carry: opt(lstm, &[batch, hidden]),
            dc: opt(lstm, &[batch, hidden]),
            gates: opt(cell.kept() > 0, &[rows, cell.kept() * hidden]),
            dh: be.zeros(&[rows, hidden]),
            dgates: be.zeros(&[rows, g]),
            dgh: opt(cell == Cell::Gru, &[rows, g]),
            carry: false,
            restart: Vec::new(),
            zero_row: be.zeros(&[hidden]),
        }
    }

    /// Start the next sequence from zero state instead of carrying over.
    pub fn reset(&mut self) {
        self.carry = false;
        self.restart.clear();
    }

    /// Start rows `rows` from zero state at the next forward pass while
    /// the others carry on.
    pub fn restart_rows(&mut self, rows: &[usize]) {
        self.restart
            .extend(rows.iter().filter(|&&r| r < self.batch));
    }

    /// Carry on `from`'s rows as the first rows of this wider shape, both
    /// one step long: their final state is copied across and the next
    /// forward pass starts from it. The rows beyond `from`'s hold stale
    /// state until restarted.
    pub fn continue_rows(&mut self, be: &B, from: &RecurrentSeq<B>) -> Result<()> {
        if self.steps != 1 || from.steps != 1 || from.batch > self.batch {
            return Err(shape_err!(
                "continue_rows",
                "{} rows of {} steps cannot continue as {} rows of {} steps",
                from.batch,
                from.steps,
                self.batch,
                self.steps
            ));
        }
        let n = from.batch * self.hidden;
        if from.carry {
            // One step: h_out is the final h, c's block 1 the final c.
            be.copy_slice(&from.h_out, 0, &mut self.h_out, 0, n)?;
            if let (Some(src), Some(dst)) = (&from.c, &mut self.c) {
                be.copy_slice(src, n, dst, self.batch * self.hidden, n)?;
            }
            self.restart.retain(|&r| r >= from.batch);
            self.restart.extend(&from.restart);
        } else {
            self.restart.extend(0..from.batch);
        }
        if !self.carry {
            // Nothing carried here before: the rows beyond start clean.
            self.restart.extend(from.batch..self.batch);
        }
        self.carry = true;
        Ok(())
    }

    fn at(&self, t: usize) -> SeqStep {
        SeqStep {
            t,
            batch: self.batch,
        }
    }

    /// Set up the initial state: the last pass's final state when carrying
    /// (restarted rows zeroed), zeros otherwise; h_in's block 0 gets it
    /// masked.
    fn start(&mut self, be: &B, drop: Mask) -> Result<()> {
        let (b, h) = (self.batch, self.hidden);
        let rows = self.steps * b;
        if !self.carry {
            be.fill_zero(&mut self.h_in);
            be.fill_zero(&mut self.h0);
            if let Some(c) = &mut self.c {
                be.fill_zero(c);
            }
            self.restart.clear();
            return Ok(());
        }
        be.copy_slice(&self.h_out, (rows - b) * h, &mut self.h0, 0, b * h)?;
        if let (Some(c), Some(carry)) = (&mut self.c, &mut self.c_carry) {
            be.copy_slice(c, rows * h, carry, 0, b * h)?;
            be.copy_slice(carry, 0, c, 0, b * h)?;
        }
        for r in self.restart.drain(..) {
            be.copy_slice(&self.zero_row, 0, &mut self.h0, r * h, h)?;
            if let Some(c) = &mut self.c {
                be.copy_slice(&self.zero_row, 0, c, r * h, h)?;
            }
        }
        if drop.is_active() {
            be.dropout_forward(&self.h0, &mut self.h0_masked, drop, b * h)?;
            be.copy_slice(&self.h0_masked, 0, &mut self.h_in, 0, b * h)
        } else {
            be.copy_slice(&self.h0, 0, &mut self.h_in, 0, b * h)
        }
    }
}

impl<B: Backend> Recurrent<B> {
    /// PyTorch's init: every weight and bias uniform in +-1/sqrt(hidden);
    /// `name` is the state_dict prefix.
    pub fn init(
        be: &B,
        rng: &mut impl Rng,
        name: &str,
        cell: Cell,
        [input, hidden, layers]: [usize; 3],
        [dropout, recurrent_dropout]: [f32; 2],
    ) -> Result<Self> {
        let k = 1.0 / (hidden as f32).sqrt();
        let g = cell.gates() * hidden;
        let mut subs = Vec::with_capacity(layers);
        for l in 0..layers {
            let inp = if l == 0 { input } else { hidden };
            let mut param = |suffix: &str, shape: &[usize]| {
                let data = uniform(rng, k, shape.iter().product());
                Param::new(be, format!("{name}.{suffix}_l{l}"), shape, &data)
            };
            subs.push(SubLayer {
                weight_ih: param("weight_ih", &[g, inp])?,
                weight_hh: param("weight_hh", &[g, hidden])?,
                bias_ih: param("bias_ih", &[g])?,
                bias_hh: param("bias_hh", &[g])?,
            });
        }
        Ok(Self {
            cell,
            hidden,
            subs,
            dropout,
            recurrent_dropout,
        })
    }

    /// The state buffers of one sequence shape, one per sub-layer.
    pub fn seqs(&self, be: &B, steps: usize, batch: usize) -> Vec<RecurrentSeq<B>> {
        self.subs
            .iter()
            .map(|s| {
                let input = s.weight_ih.value.shape()[1];
                RecurrentSeq::new(
                    be,
                    self.cell,
                    steps,
                    batch,
                    input,
                    self.hidden,
                    self.dropout > 0.0,
                )
            })
            .collect()
    }

    /// Record the forward pass over x [T*b, input]: the top sub-layer's
    /// outputs land in its `h_out`. Each sub-layer's state starts from the
    /// previous pass's final state when there was one since the last reset
    /// (truncated BPTT across windows), otherwise from zeros. `masks[l]`
    /// are sub-layer l's (inactive at inference).
    pub fn forward(
        &self,
        be: &B,
        x: &B::Tensor,
        seqs: &mut [RecurrentSeq<B>],
        masks: &[Masks],
    ) -> Result<()> {
        for l in 0..self.subs.len() {
            let (below, rest) = seqs.split_at_mut(l);
            let input = if l == 0 { x } else { &below[l - 1].h_out };
            forward_sub(be, self.cell, &self.subs[l], input, &mut rest[0], masks[l])?;
        }
        Ok(())
    }

    /// Back through time, given the top sub-layer's `dh` = d loss / d h_out
    /// from the layer above; every sub-layer's `dh` must have been zeroed
    /// before the layer above added into the top one's. Accumulates every
    /// parameter gradient when `params` and, when asked, dx += d loss / d
    /// x. The initial state is a constant (truncated BPTT).
    pub fn backward(
        &mut self,
        be: &B,
        x: &B::Tensor,
        seqs: &mut [RecurrentSeq<B>],
        masks: &[Masks],
        dx: Option<&mut B::Tensor>,
        params: bool,
    ) -> Result<()> {
        let mut dx = dx;
        for l in (0..self.subs.len()).rev() {
            let (below, rest) = seqs.split_at_mut(l);
            let (input, d_input) = match below.last_mut() {
                Some(s) => (&s.h_out, Some(&mut s.dh)),
                None => (x, dx.as_deref_mut()),
            };
            backward_sub(
                be,
                self.cell,
                &mut self.subs[l],
                input,
                &mut rest[0],
                masks[l],
                d_input,
                params,
            )?;
        }
        Ok(())
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        self.subs
            .iter_mut()
            .flat_map(|s| {
                [
                    &mut s.weight_ih,
                    &mut s.weight_hh,
                    &mut s.bias_ih,
                    &mut s.bias_hh,
                ]
            })
            .collect()
    }

    pub fn params(&self) -> Vec<&Param<B>> {
        self.subs
            .iter()
            .flat_map(|s| [&s.weight_ih, &s.weight_hh, &s.bias_ih, &s.bias_hh])
            .collect()
    }
}

fn forward_sub<B: Backend>(
    be: &B,
    cell: Cell,
    w: &SubLayer<B>,
    x: &B::Tensor,
    s: &mut RecurrentSeq<B>,
    m: Masks,
) -> Result<()> {
    s.start(be, m.recurrent)?;
    let x = match &mut s.xd {
        Some((xd, _)) if m.input.is_active() => {
            be.dropout_forward(x, xd, m.input, xd.len() / s.steps)?;
            &*xd
        }
        _ => x,
    };
    be.dense_forward(
        x,
        &w.weight_ih.value,
        &w.bias_ih.value,
        &mut s.xg,
        crate::backend::Act::Linear,
    )?;
    for t in 0..s.steps {
        let at = s.at(t);
        let (w_hh, b_hh) = (&w.weight_hh.value, &w.bias_hh.value);
        match cell {
            Cell::Rnn => be.rnn_step_forward(
                at,
                &s.xg,
                w_hh,
                b_hh,
                &mut s.h_in,
                &mut s.h_out,
                m.recurrent,
            )?,
            Cell::Gru => {
                let gates = s.gates.as_mut().expect("a GRU keeps its gates");
                be.gru_step_forward(
                    at,
                    &s.xg,
                    w_hh,
                    b_hh,
                    &s.h0,
                    &mut s.h_in,
                    &mut s.h_out,
                    gates,
                    m.recurrent,
                )?
            }
            Cell::Lstm => {
                let gates = s.gates.as_mut().expect("an LSTM keeps its gates");
                let c = s.c.as_mut().expect("an LSTM keeps its cells");
                be.lstm_step_forward(
                    at,
                    &s.xg,
                    w_hh,
                    b_hh,
                    &mut s.h_in,
                    &mut s.h_out,
                    c,
                    gates,
                    m.recurrent,
                )?
            }
        }
    }
    s.carry = true;
    Ok(())
}

fn backward_sub<B: Backend>(
    be: &B,
    cell: Cell,
    w: &mut SubLayer<B>,
    x: &B::Tensor,
    s: &mut RecurrentSeq<B>,
    m: Masks,
    dx: Option<&mut B::Tensor>,
    params: bool,
) -> Result<()> {
    if let Some(dc) = &mut s.dc {
        be.fill_zero(dc);
    }
    for t in (0..s.steps).rev() {
        let at = s.at(t);
        let w_hh = &w.weight_hh.value;
        match cell {
            Cell::Rnn => {
                be.rnn_step_backward(at, &s.h_out, &s.dh, &mut s.dgates)?;
                if t > 0 {
                    be.rnn_step_backward_hidden(at, &s.dgates, w_hh, &mut s.dh, m.recurrent)?;
                }
            }
            Cell::Gru => {
                let gates = s.gates.as_ref().expect("a GRU keeps its gates");
                let dgh = s.dgh.as_mut().expect("a GRU has its recurrent gradient");
                be.gru_step_backward(at, gates, &s.h0, &s.h_out, &mut s.dh, &mut s.dgates, dgh)?;
                if t > 0 {
                    be.gru_step_backward_hidden(at, dgh, w_hh, &mut s.dh, m.recurrent)?;
                }
            }
            Cell::Lstm => {
                let gates = s.gates.as_ref().expect("an LSTM keeps its gates");
                let c = s.c.as_ref().expect("an LSTM keeps its cells");
                let dc = s.dc.as_mut().expect("an LSTM has its cell gradient");
                be.lstm_step_backward(at, gates, c, &s.dh, dc, &mut s.dgates)?;
                if t > 0 {
                    be.lstm_step_backward_hidden(at, &s.dgates, w_hh, &mut s.dh, m.recurrent)?;
                }
            }
        }
    }
    let dgh = s.dgh.as_ref().unwrap_or(&s.dgates);
    let (x, dxd) = match &mut s.xd {
        Some((xd, dxd)) if m.input.is_active() => (&*xd, Some(dxd)),
        _ => (x, None),
    };
    if params {
        be.dense_backward_weight(x, &s.dgates, &mut w.weight_ih.grad)?;
        be.dense_backward_bias(&s.dgates, &mut w.bias_ih.grad)?;
        be.dense_backward_weight(&s.h_in, dgh, &mut w.weight_hh.grad)?;
        be.dense_backward_bias(dgh, &mut w.bias_hh.grad)?;
    }
    if let Some(dx) = dx {
        match dxd {
            Some(dxd) => {
                be.fill_zero(dxd);
                be.dense_backward_input(&s.dgates, &w.weight_ih.value, dxd)?;
                let period = dxd.len() / s.steps;
                be.dropout_backward(dxd, dx, m.input, period)?;
            }
            None => be.dense_backward_input(&s.dgates, &w.weight_ih.value, dx)?,
        }
    }
    Ok(())
}
