//! A one-layer LSTM over time-major sequences, PyTorch's nn.LSTM layout:
//! weight_ih [4H, in], weight_hh [4H, H], bias_ih and bias_hh [4H], gates
//! i, f, g, o.
//!
//! The input projection of the whole sequence is one `dense_forward`, and
//! every weight gradient one `dense_backward_*` after the time loop; only the
//! recurrence goes step by step, one kernel forward and two backward.

use rand::Rng;

use super::{Param, init::uniform};
use crate::backend::{Backend, SeqStep, Tensor};
use crate::error::Result;

pub struct Lstm<B: Backend> {
    pub weight_ih: Param<B>,
    pub weight_hh: Param<B>,
    pub bias_ih: Param<B>,
    pub bias_hh: Param<B>,
    pub hidden: usize,
}

/// Every state of one sequence shape (`steps` timesteps of `batch` rows),
/// forward and backward, allocated once. Rows t * batch .. (t + 1) * batch of
/// each [steps * batch, ..] tensor are timestep t.
pub struct LstmSeq<B: Backend> {
    pub steps: usize,
    pub batch: usize,
    /// x W_ih^T + b_ih [T*b, 4H].
    xg: B::Tensor,
    /// h_{t-1}, the input of step t [T*b, H]; row block 0 is the initial state.
    pub h_in: B::Tensor,
    /// h_t, the output of step t [T*b, H].
    pub h_out: B::Tensor,
    /// c_t for t = 0..=T [(T+1)*b, H]; row block 0 is the initial state.
    pub c: B::Tensor,
    /// Activated gates i, f, g, o of every step [T*b, 4H].
    pub gates: B::Tensor,
    /// The last cell state on its way to row block 0 (a copy cannot read and
    /// write one tensor) [b, H].
    c_carry: B::Tensor,
    /// d loss / d h_out [T*b, H]: the caller fills it, the recurrence adds to it.
    pub dh: B::Tensor,
    /// d loss / d c of the step being undone [b, H].
    dc: B::Tensor,
    /// d loss / d gate pre-activations [T*b, 4H].
    dgates: B::Tensor,
    /// Whether the next forward pass starts from the last one's final state
    /// (false: from zeros).
    carry: bool,
    /// Rows whose carried state the next forward pass replaces by zeros:
    /// new sequences joining rows that go on (a server's batch).
    restart: Vec<usize>,
    /// [H] zeros, the source of those restarts; never written.
    zero_row: B::Tensor,
}

impl<B: Backend> LstmSeq<B> {
    pub fn new(be: &B, steps: usize, batch: usize, hidden: usize) -> Self {
        let rows = steps * batch;
        Self {
            steps,
            batch,
            xg: be.zeros(&[rows, 4 * hidden]),
            h_in: be.zeros(&[rows, hidden]),
            h_out: be.zeros(&[rows, hidden]),
            c: be.zeros(&[rows + batch, hidden]),
            gates: be.zeros(&[rows, 4 * hidden]),
            c_carry: be.zeros(&[batch, hidden]),
            dh: be.zeros(&[rows, hidden]),
            dc: be.zeros(&[batch, hidden]),
            dgates: be.zeros(&[rows, 4 * hidden]),
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
    pub fn continue_rows(&mut self, be: &B, from: &LstmSeq<B>) -> Result<()> {
        if self.steps != 1 || from.steps != 1 || from.batch > self.batch {
            return Err(crate::error::shape_err!(
                "continue_rows",
                "{} rows of {} steps cannot continue as {} rows of {} steps",
                from.batch,
                from.steps,
                self.batch,
                self.steps
            ));
        }
        let n = from.batch * self.zero_row.len();
        if from.carry {
            // One step: h_out is the final h, c's block 1 the final c.
            be.copy_slice(&from.h_out, 0, &mut self.h_out, 0, n)?;
            be.copy_slice(&from.c, n, &mut self.c, self.batch * self.zero_row.len(), n)?;
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
}

impl<B: Backend> Lstm<B> {
    /// PyTorch's init: every weight and bias uniform in +-1/sqrt(hidden).
    pub fn init(
        be: &B,
        rng: &mut impl Rng,
        name: &str,
        input: usize,
        hidden: usize,
    ) -> Result<Self> {
        let k = 1.0 / (hidden as f32).sqrt();
        let g = 4 * hidden;
        let mut param = |suffix: &str, shape: &[usize]| {
            let data = uniform(rng, k, shape.iter().product());
            Param::new(be, format!("{name}.{suffix}_l0"), shape, &data)
        };
        Ok(Self {
            weight_ih: param("weight_ih", &[g, input])?,
            weight_hh: param("weight_hh", &[g, hidden])?,
            bias_ih: param("bias_ih", &[g])?,
            bias_hh: param("bias_hh", &[g])?,
            hidden,
        })
    }

    /// Record the forward pass over x [T*b, input]: the outputs land in
    /// `s.h_out`. The state starts from the previous pass's final state when
    /// there was one since the last reset (truncated BPTT across windows),
    /// otherwise from zeros.
    pub fn forward(&self, be: &B, x: &B::Tensor, s: &mut LstmSeq<B>) -> Result<()> {
        let (b, h) = (s.batch, self.hidden);
        let rows = s.steps * b;
        if s.carry {
            be.copy_slice(&s.h_out, (rows - b) * h, &mut s.h_in, 0, b * h)?;
            be.copy_slice(&s.c, rows * h, &mut s.c_carry, 0, b * h)?;
            be.copy_slice(&s.c_carry, 0, &mut s.c, 0, b * h)?;
            for r in s.restart.drain(..) {
                be.copy_slice(&s.zero_row, 0, &mut s.h_in, r * h, h)?;
                be.copy_slice(&s.zero_row, 0, &mut s.c, r * h, h)?;
            }
        } else {
            be.fill_zero(&mut s.h_in);
            be.fill_zero(&mut s.c);
            s.restart.clear();
        }
        be.dense_forward(
            x,
            &self.weight_ih.value,
            &self.bias_ih.value,
            &mut s.xg,
            false,
        )?;
        for t in 0..s.steps {
            let at = s.at(t);
            be.lstm_step_forward(
                at,
                &s.xg,
                &self.weight_hh.value,
                &self.bias_hh.value,
                &mut s.h_in,
                &mut s.h_out,
                &mut s.c,
                &mut s.gates,
            )?;
        }
        s.carry = true;
        Ok(())
    }

    /// Back through time, given `s.dh` = d loss / d h_out from the layer
    /// above. Accumulates the four parameter gradients and, when asked,
    /// dx += d loss / d x. The initial state is a constant (truncated BPTT).
    pub fn backward(
        &mut self,
        be: &B,
        x: &B::Tensor,
        s: &mut LstmSeq<B>,
        dx: Option<&mut B::Tensor>,
    ) -> Result<()> {
        be.fill_zero(&mut s.dc);
        for t in (0..s.steps).rev() {
            let at = s.at(t);
            be.lstm_step_backward(at, &s.gates, &s.c, &s.dh, &mut s.dc, &mut s.dgates)?;
            if t > 0 {
                be.lstm_step_backward_hidden(at, &s.dgates, &self.weight_hh.value, &mut s.dh)?;
            }
        }
        be.dense_backward_weight(x, &s.dgates, &mut self.weight_ih.grad)?;
        be.dense_backward_bias(&s.dgates, &mut self.bias_ih.grad)?;
        be.dense_backward_weight(&s.h_in, &s.dgates, &mut self.weight_hh.grad)?;
        be.dense_backward_bias(&s.dgates, &mut self.bias_hh.grad)?;
        if let Some(dx) = dx {
            be.dense_backward_input(&s.dgates, &self.weight_ih.value, dx)?;
        }
        Ok(())
    }

    pub fn params_mut(&mut self) -> [&mut Param<B>; 4] {
        [
            &mut self.weight_ih,
            &mut self.weight_hh,
            &mut self.bias_ih,
            &mut self.bias_hh,
        ]
    }
}
