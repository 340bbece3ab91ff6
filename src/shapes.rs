//! The one place that computes output shapes and checks that the tensors
//! handed to an op fit together. The [`Backend`](crate::backend::Backend)
//! trait calls these once, before any backend's kernel runs; the network
//! spec's shape inference and the page use the size functions.

use crate::error::{Result, shape_err};
use crate::params::{
    AdamParams, AttentionParams, Conv2dParams, CopyParams, DenseParams, DropoutParams,
    ElementwiseParams, EmbeddingParams, LayerNormParams, NormParams, PoolParams, PositionParams,
    RecurrentParams, SoftmaxParams,
};

/// Output side of a k x k valid convolution with stride 1: `size - k + 1`
/// (0 when the kernel does not fit).
pub const fn conv_output_size(size: usize, k: usize) -> usize {
    (size + 1).saturating_sub(k)
}

/// Output side of a pool with `window` x `window` windows at stride
/// `window`, rounding down like PyTorch and Keras.
pub const fn pool_output_size(size: usize, window: usize) -> usize {
    if window == 0 { 0 } else { size / window }
}

/// An activation a kernel can fuse or apply: the code is what the shaders
/// and the twins read from `Params::act`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Act {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Tanh,
}

impl Act {
    pub const fn code(self) -> u32 {
        match self {
            Act::Linear => 0,
            Act::Relu => 1,
            Act::Sigmoid => 2,
            Act::Tanh => 3,
        }
    }

    /// The lowercase name used by network specs and the page.
    pub const fn name(self) -> &'static str {
        match self {
            Act::Linear => "linear",
            Act::Relu => "relu",
            Act::Sigmoid => "sigmoid",
            Act::Tanh => "tanh",
        }
    }
}

/// A dropout mask: which (seed, step) keys it and the rate it drops at.
/// Rate 0 drops nothing (inference, or a layer without dropout).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mask {
    pub seed: u32,
    pub step: u32,
    pub rate: f32,
}

impl Mask {
    pub const NONE: Mask = Mask {
        seed: 0,
        step: 0,
        rate: 0.0,
    };

    pub fn is_active(&self) -> bool {
        self.rate > 0.0
    }

    /// The factor kept values are multiplied by, 1 / (1 - rate), computed
    /// once here so that every backend multiplies by the same f32.
    pub fn scale(&self) -> f32 {
        if self.is_active() {
            (1.0 / (1.0 - self.rate as f64)) as f32
        } else {
            1.0
        }
    }
}

fn u32_of(op: &'static str, what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| shape_err!(op, "{what} = {v} does not fit in 32 bits"))
}

fn rank(op: &'static str, name: &str, shape: &[usize], r: usize) -> Result<()> {
    if shape.len() != r {
        return Err(shape_err!(
            op,
            "{name} must have {r} dimensions, got {shape:?}"
        ));
    }
    Ok(())
}

fn expect(op: &'static str, name: &str, shape: &[usize], want: &[usize]) -> Result<()> {
    if shape != want {
        return Err(shape_err!(op, "{name} must be {want:?}, got {shape:?}"));
    }
    Ok(())
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// conv2d: x [n, c, h, w], w [o, c, k, k], y [n, o, h-k+1, w-k+1].
pub fn conv2d(
    op: &'static str,
    x: &[usize],
    w: &[usize],
    y: &[usize],
    act: Act,
) -> Result<Conv2dParams> {
    rank(op, "input", x, 4)?;
    rank(op, "weight", w, 4)?;
    let [n, c, h, wd] = [x[0], x[1], x[2], x[3]];
    let (o, k) = (w[0], w[2]);
    if k == 0 {
        return Err(shape_err!(op, "weight {w:?} has an empty kernel"));
    }
    expect(op, "weight", w, &[o, c, k, k])?;
    if h < k || wd < k {
        return Err(shape_err!(
            op,
            "input {x:?} is smaller than the {k}x{k} kernel"
        ));
    }
    let (oh, ow) = (conv_output_size(h, k), conv_output_size(wd, k));
    expect(op, "output", y, &[n, o, oh, ow])?;
    if o == 0 || c == 0 {
        return Err(shape_err!(op, "weight {w:?} has no filters or no channels"));
    }
    Ok(Conv2dParams {
        n: u32_of(op, "batch", n)?,
        c: u32_of(op, "channels", c)?,
        h: u32_of(op, "height", h)?,
        w: u32_of(op, "width", wd)?,
        o: u32_of(op, "filters", o)?,
        oh: oh as u32,
        ow: ow as u32,
        k: k as u32,
        act: act.code(),
        ..Default::default()
    })
}

/// conv2d bias gradient: dy [n, o, oh, ow], db [o].
pub fn conv2d_bias(op: &'static str, dy: &[usize], db: &[usize]) -> Result<Conv2dParams> {
    rank(op, "output gradient", dy, 4)?;
    expect(op, "bias gradient", db, &[dy[1]])?;
    Ok(Conv2dParams {
        n: u32_of(op, "batch", dy[0])?,
        o: u32_of(op, "filters", dy[1])?,
        oh: u32_of(op, "height", dy[2])?,
        ow: u32_of(op, "width", dy[3])?,
        ..Default::default()
    })
}

/// max_pool2d and avg_pool2d: x [n, c, h, w], y [n, c, h/size, w/size].
pub fn pool2d(op: &'static str, x: &[usize], y: &[usize], size: usize) -> Result<PoolParams> {
    rank(op, "input", x, 4)?;
    let [n, c, h, w] = [x[0], x[1], x[2], x[3]];
    let (oh, ow) = (pool_output_size(h, size), pool_output_size(w, size));
    if oh == 0 || ow == 0 {
        return Err(shape_err!(
            op,
            "input {x:?} is smaller than the {size}x{size} window"
        ));
    }
    expect(op, "output", y, &[n, c, oh, ow])?;
    Ok(PoolParams {
        n: u32_of(op, "batch", n)?,
        c: u32_of(op, "channels", c)?,
        h: u32_of(op, "height", h)?,
        w: u32_of(op, "width", w)?,
        oh: oh as u32,
        ow: ow as u32,
        size: size as u32,
        _pad0: 0,
    })
}

/// max_pool2d: [`pool2d`]'s shapes and an argmax of y's length.
pub fn max_pool2d(
    op: &'static str,
    x: &[usize],
    y: &[usize],
    argmax: usize,
    size: usize,
) -> Result<PoolParams> {
    let p = pool2d(op, x, y, size)?;
    if argmax != numel(y) {
        return Err(shape_err!(
            op,
            "argmax holds {argmax} indices, output {y:?} needs {}",
            numel(y)
        ));
    }
    Ok(p)
}

/// dense: x [n, ...] flattened to [n, inp], w [out, inp], y [n, out].
/// Accepting any trailing shape for x is what makes Flatten free.
pub fn dense(
    op: &'static str,
    x: &[usize],
    w: &[usize],
    y: &[usize],
    act: Act,
) -> Result<DenseParams> {
    rank(op, "weight", w, 2)?;
    if x.is_empty() {
        return Err(shape_err!(
            op,
            "input must have a batch dimension, got {x:?}"
        ));
    }
    let (n, inp, out) = (x[0], numel(&x[1..]), w[0]);
    if w[1] != inp {
        return Err(shape_err!(
            op,
            "weight {w:?} expects {} inputs per row, input {x:?} has {inp}",
            w[1]
        ));
    }
    expect(op, "output", y, &[n, out])?;
    Ok(DenseParams {
        n: u32_of(op, "batch", n)?,
        inp: u32_of(op, "inputs", inp)?,
        out: u32_of(op, "outputs", out)?,
        act: act.code(),
    })
}

/// dense bias gradient: dy [n, out], db [out].
pub fn dense_bias(op: &'static str, dy: &[usize], db: &[usize]) -> Result<DenseParams> {
    rank(op, "output gradient", dy, 2)?;
    expect(op, "bias gradient", db, &[dy[1]])?;
    Ok(DenseParams {
        n: u32_of(op, "batch", dy[0])?,
        inp: 0,
        out: u32_of(op, "outputs", dy[1])?,
        act: 0,
    })
}

/// A bias vector must have one value per output channel or unit.
pub fn bias(op: &'static str, b: &[usize], units: u32) -> Result<()> {
    expect(op, "bias", b, &[units as usize])
}

/// Two tensors of one elementwise op must hold the same shape.
pub fn elementwise(op: &'static str, a: &[usize], b: &[usize]) -> Result<ElementwiseParams> {
    if a != b {
        return Err(shape_err!(op, "shapes differ: {a:?} and {b:?}"));
    }
    Ok(ElementwiseParams {
        len: u32_of(op, "length", numel(a))?,
        ..Default::default()
    })
}

/// dropout: x and y of one shape, a rate in [0, 1), and a period that
/// divides the length (the mask repeats every `period` values).
pub fn dropout(
    op: &'static str,
    x: &[usize],
    y: &[usize],
    mask: Mask,
    period: usize,
) -> Result<DropoutParams> {
    let e = elementwise(op, x, y)?;
    if !(0.0..1.0).contains(&mask.rate) {
        return Err(shape_err!(op, "rate {} is outside [0, 1)", mask.rate));
    }
    if period == 0 || !(e.len as usize).is_multiple_of(period) {
        return Err(shape_err!(
            op,
            "a mask of period {period} does not tile {x:?} ({} values)",
            e.len
        ));
    }
    Ok(DropoutParams {
        len: e.len,
        period: u32_of(op, "period", period)?,
        seed: mask.seed,
        step: mask.step,
        rate: mask.rate,
        scale: mask.scale(),
        ..Default::default()
    })
}

/// embedding: ids [n], table [vocab, dim], y [n, dim].
pub fn embedding(
    op: &'static str,
    ids: usize,
    table: &[usize],
    y: &[usize],
) -> Result<EmbeddingParams> {
    rank(op, "table", table, 2)?;
    expect(op, "output", y, &[ids, table[1]])?;
    Ok(EmbeddingParams {
        n: u32_of(op, "tokens", ids)?,
        vocab: u32_of(op, "vocabulary", table[0])?,
        dim: u32_of(op, "dimension", table[1])?,
        _pad0: 0,
    })
}

/// softmax over rows: logits [n, classes]; `labels` rows when given.
pub fn softmax(
    op: &'static str,
    logits: &[usize],
    labels: Option<usize>,
    scale: f32,
) -> Result<SoftmaxParams> {
    rank(op, "logits", logits, 2)?;
    if let Some(l) = labels {
        if l != logits[0] {
            return Err(shape_err!(
                op,
                "{l} labels for {} rows of logits {logits:?}",
                logits[0]
            ));
        }
    }
    if logits[1] == 0 {
        return Err(shape_err!(op, "logits {logits:?} have no classes"));
    }
    Ok(SoftmaxParams {
        n: u32_of(op, "rows", logits[0])?,
        classes: u32_of(op, "classes", logits[1])?,
        scale,
        _pad0: 0,
    })
}

/// conv2d_forward: [`conv2d`]'s shapes and a bias of one value per filter.
pub fn conv2d_forward(
    x: &[usize],
    w: &[usize],
    b: &[usize],
    y: &[usize],
    act: Act,
) -> Result<Conv2dParams> {
    const OP: &str = "conv2d_forward";
    let p = conv2d(OP, x, w, y, act)?;
    bias(OP, b, p.o)?;
    Ok(p)
}

/// dense_forward: [`dense`]'s shapes and a bias of one value per output.
pub fn dense_forward(
    x: &[usize],
    w: &[usize],
    b: &[usize],
    y: &[usize],
    act: Act,
) -> Result<DenseParams> {
    const OP: &str = "dense_forward";
    let p = dense(OP, x, w, y, act)?;
    bias(OP, b, p.out)?;
    Ok(p)
}

/// Which timestep a recurrent op works on. Sequence tensors are time-major
/// and 2-D, [steps * batch, width]: rows t * batch .. (t + 1) * batch hold
/// timestep t, so the whole sequence also feeds one `dense_*` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqStep {
    pub t: usize,
    pub batch: usize,
}

/// A recurrent cell's gate count per unit: what its gate tensors hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    /// h' = tanh(W_ih x + b_ih + W_hh h + b_hh): one pre-activation per unit.
    Rnn,
    /// PyTorch's GRU: reset, update and new gates (r, z, n).
    Gru,
    /// PyTorch's LSTM: input, forget, cell and output gates (i, f, g, o).
    Lstm,
}

impl Cell {
    /// Rows of W_ih and W_hh per unit (PyTorch's gate count).
    pub const fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }

    /// Values per unit that the forward step keeps for the backward one:
    /// LSTM's four gates, GRU's three and the recurrent part of n before
    /// the reset gate (W_hn h + b_hn), none for the RNN (its output is all
    /// the backward step needs).
    pub const fn kept(self) -> usize {
        match self {
            Cell::Rnn => 0,
            Cell::Gru | Cell::Lstm => 4,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Cell::Rnn => "rnn",
            Cell::Gru => "gru",
            Cell::Lstm => "lstm",
        }
    }
}

/// The sequence sizes of a recurrent op, read off a [steps * batch, hidden]
/// state tensor, with the recurrent dropout mask.
fn seq(op: &'static str, at: SeqStep, state: &[usize], drop: Mask) -> Result<RecurrentParams> {
    rank(op, "state", state, 2)?;
    if at.batch == 0 || state[1] == 0 || !state[0].is_multiple_of(at.batch) {
        return Err(shape_err!(
            op,
            "state {state:?} must be [steps * {}, hidden]",
            at.batch
        ));
    }
    let steps = state[0] / at.batch;
    if at.t >= steps {
        return Err(shape_err!(
            op,
            "timestep {} is outside a sequence of {steps} steps",
            at.t
        ));
    }
    if !(0.0..1.0).contains(&drop.rate) {
        return Err(shape_err!(
            op,
            "recurrent dropout {} is outside [0, 1)",
            drop.rate
        ));
    }
    Ok(RecurrentParams {
        batch: u32_of(op, "batch", at.batch)?,
        hidden: u32_of(op, "hidden", state[1])?,
        t: u32_of(op, "timestep", at.t)?,
        steps: u32_of(op, "steps", steps)?,
        seed: drop.seed,
        step: drop.step,
        rate: drop.rate,
        scale: drop.scale(),
    })
}

/// The shapes of one sequence's tensors for a cell, given its sizes.
struct SeqShapes {
    /// [T*b, H]
    state: [usize; 2],
    /// [T*b, gates * H]
    gates: [usize; 2],
    /// [T*b, kept * H]
    kept: [usize; 2],
    /// [b, H]
    row_block: [usize; 2],
    /// [gates * H, H]
    w_hh: [usize; 2],
}

fn seq_shapes(p: &RecurrentParams, cell: Cell) -> SeqShapes {
    let (b, h, rows) = (
        p.batch as usize,
        p.hidden as usize,
        (p.steps * p.batch) as usize,
    );
    SeqShapes {
        state: [rows, h],
        gates: [rows, cell.gates() * h],
        kept: [rows, cell.kept() * h],
        row_block: [b, h],
        w_hh: [cell.gates() * h, h],
    }
}

/// The recurrent product's inputs shared by every cell's forward step:
/// xg [T*b, G*H] (x W_ih^T + b_ih), w_hh [G*H, H], b_hh [G*H], h_in and
/// h_out [T*b, H].
fn step_forward(
    op: &'static str,
    cell: Cell,
    at: SeqStep,
    [xg, w_hh, b_hh, h_in, h_out]: [&[usize]; 5],
    drop: Mask,
) -> Result<(RecurrentParams, SeqShapes)> {
    let p = seq(op, at, h_out, drop)?;
    let s = seq_shapes(&p, cell);
    expect(op, "xg", xg, &s.gates)?;
    expect(op, "weight_hh", w_hh, &s.w_hh)?;
    expect(op, "bias_hh", b_hh, &[s.w_hh[0]])?;
    expect(op, "h_in", h_in, &s.state)?;
    Ok((p, s))
}

/// rnn_step_forward: xg, h_in, h_out [T*b, H]; w_hh [H, H]; b_hh [H].
pub fn rnn_step_forward(at: SeqStep, t: [&[usize]; 5], drop: Mask) -> Result<RecurrentParams> {
    Ok(step_forward("rnn_step_forward", Cell::Rnn, at, t, drop)?.0)
}

/// gru_step_forward: xg [T*b, 3H]; w_hh [3H, H]; b_hh [3H]; h_in, h_out
/// [T*b, H]; h0 [b, H] (the unmasked initial state); gates [T*b, 4H].
pub fn gru_step_forward(
    at: SeqStep,
    t: [&[usize]; 5],
    h0: &[usize],
    gates: &[usize],
    drop: Mask,
) -> Result<RecurrentParams> {
    const OP: &str = "gru_step_forward";
    let (p, s) = step_forward(OP, Cell::Gru, at, t, drop)?;
    expect(OP, "h0", h0, &s.row_block)?;
    expect(OP, "gates", gates, &s.kept)?;
    Ok(p)
}

/// lstm_step_forward: xg, gates [T*b, 4H]; w_hh [4H, H]; b_hh [4H];
/// h_in, h_out [T*b, H]; c [(T+1)*b, H].
pub fn lstm_step_forward(
    at: SeqStep,
    t: [&[usize]; 5],
    c: &[usize],
    gates: &[usize],
    drop: Mask,
) -> Result<RecurrentParams> {
    const OP: &str = "lstm_step_forward";
    let (p, s) = step_forward(OP, Cell::Lstm, at, t, drop)?;
    expect(OP, "c", c, &[s.state[0] + at.batch, s.state[1]])?;
    expect(OP, "gates", gates, &s.kept)?;
    Ok(p)
}

/// rnn_step_backward: h_out, dh, dgates [T*b, H].
pub fn rnn_step_backward(
    at: SeqStep,
    h_out: &[usize],
    dh: &[usize],
    dgates: &[usize],
) -> Result<RecurrentParams> {
    const OP: &str = "rnn_step_backward";
    let p = seq(OP, at, h_out, Mask::NONE)?;
    expect(OP, "dh", dh, h_out)?;
    expect(OP, "dgates", dgates, h_out)?;
    Ok(p)
}

/// gru_step_backward: gates [T*b, 4H]; h0 [b, H]; h_out, dh [T*b, H];
/// dgi, dgh [T*b, 3H].
pub fn gru_step_backward(
    at: SeqStep,
    gates: &[usize],
    h0: &[usize],
    h_out: &[usize],
    dh: &[usize],
    [dgi, dgh]: [&[usize]; 2],
) -> Result<RecurrentParams> {
    const OP: &str = "gru_step_backward";
    let p = seq(OP, at, h_out, Mask::NONE)?;
    let s = seq_shapes(&p, Cell::Gru);
    expect(OP, "gates", gates, &s.kept)?;
    expect(OP, "h0", h0, &s.row_block)?;
    expect(OP, "dh", dh, &s.state)?;
    expect(OP, "dgates_input", dgi, &s.gates)?;
    expect(OP, "dgates_hidden", dgh, &s.gates)?;
    Ok(p)
}

/// lstm_step_backward: gates, dgates [T*b, 4H]; c [(T+1)*b, H]; dh [T*b, H]; dc [b, H].
pub fn lstm_step_backward(
    at: SeqStep,
    gates: &[usize],
    c: &[usize],
    dh: &[usize],
    dc: &[usize],
    dgates: &[usize],
) -> Result<RecurrentParams> {
    const OP: &str = "lstm_step_backward";
    let p = seq(OP, at, dh, Mask::NONE)?;
    let s = seq_shapes(&p, Cell::Lstm);
    expect(OP, "gates", gates, &s.gates)?;
    expect(OP, "dgates", dgates, &s.gates)?;
    expect(OP, "c", c, &[s.state[0] + at.batch, s.state[1]])?;
    expect(OP, "dc", dc, &s.row_block)?;
    Ok(p)
}

/// *_step_backward_hidden: dgates [T*b, G*H]; w_hh [G*H, H]; dh [T*b, H]; t >= 1.
pub fn step_backward_hidden(
    op: &'static str,
    cell: Cell,
    at: SeqStep,
    dgates: &[usize],
    w_hh: &[usize],
    dh: &[usize],
    drop: Mask,
) -> Result<RecurrentParams> {
    let p = seq(op, at, dh, drop)?;
    if at.t == 0 {
        return Err(shape_err!(op, "timestep 0 has no earlier hidden state"));
    }
    let s = seq_shapes(&p, cell);
    expect(op, "dgates", dgates, &s.gates)?;
    expect(op, "weight_hh", w_hh, &s.w_hh)?;
    Ok(p)
}

/// sum_squares: any x; `slot` inside the sums vector.
pub fn sum_squares(x: &[usize], sums: &[usize], slot: usize) -> Result<NormParams> {
    const OP: &str = "sum_squares";
    rank(OP, "sums", sums, 1)?;
    if slot >= sums[0] {
        return Err(shape_err!(OP, "slot {slot} is outside sums {sums:?}"));
    }
    Ok(NormParams {
        len: u32_of(OP, "length", numel(x))?,
        slot: u32_of(OP, "slot", slot)?,
        count: u32_of(OP, "slots", sums[0])?,
        max_norm: 0.0,
    })
}

/// clip_by_norm: sums [count]; any x; a positive, finite max_norm.
pub fn clip_by_norm(sums: &[usize], max_norm: f32, x: &[usize]) -> Result<NormParams> {
    const OP: &str = "clip_by_norm";
    rank(OP, "sums", sums, 1)?;
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(shape_err!(
            OP,
            "max_norm must be positive and finite, got {max_norm}"
        ));
    }
    Ok(NormParams {
        len: u32_of(OP, "length", numel(x))?,
        slot: 0,
        count: u32_of(OP, "slots", sums[0])?,
        max_norm,
    })
}

/// copy_slice: both ranges inside their tensors.
pub fn copy_slice(
    src: &[usize],
    src_offset: usize,
    dst: &[usize],
    dst_offset: usize,
    len: usize,
) -> Result<CopyParams> {
    const OP: &str = "copy_slice";
    for (name, shape, offset) in [
        ("source", src, src_offset),
        ("destination", dst, dst_offset),
    ] {
        if offset.checked_add(len).is_none_or(|end| end > numel(shape)) {
            return Err(shape_err!(
                OP,
                "{len} values from {offset} do not fit in the {name} {shape:?}"
            ));
        }
    }
    Ok(CopyParams {
        len: u32_of(OP, "length", len)?,
        src_offset: u32_of(OP, "source offset", src_offset)?,
        dst_offset: u32_of(OP, "destination offset", dst_offset)?,
        _pad0: 0,
    })
}

/// softmax_forward: logits and probs [n, classes].
pub fn softmax_forward(logits: &[usize], probs: &[usize]) -> Result<SoftmaxParams> {
    const OP: &str = "softmax_forward";
    let p = softmax(OP, logits, None, 1.0)?;
    elementwise(OP, logits, probs)?;
    Ok(p)
}

/// softmax_xent_forward: logits and probs [n, classes], n labels, loss [n].
pub fn softmax_xent_forward(
    logits: &[usize],
    labels: usize,
    probs: &[usize],
    loss: &[usize],
) -> Result<SoftmaxParams> {
    const OP: &str = "softmax_xent_forward";
    let p = softmax(OP, logits, Some(labels), 1.0)?;
    elementwise(OP, logits, probs)?;
    elementwise(OP, loss, &[p.n as usize])?;
    Ok(p)
}

/// softmax_xent_backward: probs and dlogits [n, classes], n labels.
pub fn softmax_xent_backward(
    probs: &[usize],
    labels: usize,
    dlogits: &[usize],
    scale: f32,
) -> Result<SoftmaxParams> {
    const OP: &str = "softmax_xent_backward";
    let p = softmax(OP, probs, Some(labels), scale)?;
    elementwise(OP, probs, dlogits)?;
    Ok(p)
}

/// layer_norm_*: x (and y, dy, dx) [n, dim]; gamma (and beta) [dim];
/// stats [n, 2]. `eps` is only read by the forward pass.
pub fn layer_norm(
    op: &'static str,
    x: &[usize],
    gamma: &[usize],
    stats: &[usize],
    eps: f32,
) -> Result<LayerNormParams> {
    rank(op, "input", x, 2)?;
    let (n, dim) = (x[0], x[1]);
    if dim == 0 {
        return Err(shape_err!(op, "input {x:?} has rows of no values"));
    }
    expect(op, "weight", gamma, &[dim])?;
    expect(op, "stats", stats, &[n, 2])?;
    if !(eps > 0.0 && eps.is_finite()) && op == "layer_norm_forward" {
        return Err(shape_err!(op, "eps must be positive and finite, got {eps}"));
    }
    Ok(LayerNormParams {
        n: u32_of(op, "rows", n)?,
        dim: u32_of(op, "dimension", dim)?,
        eps,
        _pad0: 0,
    })
}

/// Where attention finds its keys and values: key s of sequence r is row
/// s * step_stride + r * row_stride of the kv tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRows {
    pub step_stride: usize,
    pub row_stride: usize,
}

impl KeyRows {
    /// A training window's own rows, time-major (kv is qkv).
    pub const fn window(rows: usize) -> Self {
        Self {
            step_stride: rows,
            row_stride: 1,
        }
    }

    /// A decoding cache of `steps` positions per sequence, one sequence's
    /// positions after another's.
    pub const fn cache(steps: usize) -> Self {
        Self {
            step_stride: 1,
            row_stride: steps,
        }
    }
}

/// The attention ops: weights [rows, heads, q_steps, k_steps] (the shape
/// that sizes everything else), qkv [q_steps * rows, 3 * dim], kv [_, 3 *
/// dim] holding every key row `keys` names, starts [rows].
pub fn attention(
    op: &'static str,
    weights: &[usize],
    qkv: &[usize],
    kv: &[usize],
    starts: usize,
    keys: KeyRows,
) -> Result<AttentionParams> {
    rank(op, "weights", weights, 4)?;
    let [b, heads, tq, tk] = [weights[0], weights[1], weights[2], weights[3]];
    if b == 0 || heads == 0 || tq == 0 || tk == 0 {
        return Err(shape_err!(op, "weights {weights:?} are empty"));
    }
    rank(op, "qkv", qkv, 2)?;
    if qkv[0] != tq * b || qkv[1] == 0 || !qkv[1].is_multiple_of(3 * heads) {
        return Err(shape_err!(
            op,
            "qkv {qkv:?} must be [{tq} steps * {b} rows, 3 * dim] with dim a multiple of {heads} heads, for weights {weights:?}"
        ));
    }
    rank(op, "keys and values", kv, 2)?;
    if kv[1] != qkv[1] {
        return Err(shape_err!(
            op,
            "keys and values {kv:?} must be {} wide, as qkv {qkv:?}",
            qkv[1]
        ));
    }
    let last = (tk - 1) * keys.step_stride + (b - 1) * keys.row_stride;
    if last >= kv[0] {
        return Err(shape_err!(
            op,
            "keys and values {kv:?} have no row {last} (key {} of row {}, strides {keys:?})",
            tk - 1,
            b - 1
        ));
    }
    if starts != b {
        return Err(shape_err!(op, "{starts} starts for {b} rows"));
    }
    let dim = qkv[1] / 3;
    Ok(AttentionParams {
        rows: u32_of(op, "rows", b)?,
        q_steps: u32_of(op, "query steps", tq)?,
        k_steps: u32_of(op, "key steps", tk)?,
        heads: u32_of(op, "heads", heads)?,
        head_dim: u32_of(op, "head dimension", dim / heads)?,
        k_step_stride: u32_of(op, "key step stride", keys.step_stride)?,
        k_row_stride: u32_of(op, "key row stride", keys.row_stride)?,
        scale: (1.0 / ((dim / heads) as f64).sqrt()) as f32,
    })
}

/// attention_cache_write: qkv [steps * rows, 3 dim] into cache [rows *
/// positions, 3 dim] at each row's start.
pub fn attention_cache_write(
    qkv: &[usize],
    starts: usize,
    cache: &[usize],
) -> Result<AttentionParams> {
    const OP: &str = "attention_cache_write";
    rank(OP, "qkv", qkv, 2)?;
    rank(OP, "cache", cache, 2)?;
    let b = starts;
    if b == 0 || !qkv[0].is_multiple_of(b) || !cache[0].is_multiple_of(b) || cache[1] != qkv[1] {
        return Err(shape_err!(
            OP,
            "qkv {qkv:?} and cache {cache:?} must be [steps * {b}, width] and [{b} * positions, width]"
        ));
    }
    Ok(AttentionParams {
        rows: u32_of(OP, "rows", b)?,
        q_steps: u32_of(OP, "steps", qkv[0] / b)?,
        k_steps: u32_of(OP, "positions", cache[0] / b)?,
        heads: 1,
        head_dim: u32_of(OP, "width", qkv[1])?,
        k_step_stride: 1,
        k_row_stride: u32_of(OP, "positions", cache[0] / b)?,
        scale: 1.0,
    })
}

/// position_*: x [steps * rows, dim] (rows = starts), table [context, dim].
pub fn position(
    op: &'static str,
    x: &[usize],
    table: &[usize],
    starts: usize,
) -> Result<PositionParams> {
    rank(op, "input", x, 2)?;
    rank(op, "table", table, 2)?;
    if starts == 0 || !x[0].is_multiple_of(starts) {
        return Err(shape_err!(
            op,
            "input {x:?} must be [steps * {starts} rows, dim]"
        ));
    }
    if table[1] != x[1] {
        return Err(shape_err!(
            op,
            "table {table:?} must be {} wide, as the input {x:?}",
            x[1]
        ));
    }
    Ok(PositionParams {
        rows: u32_of(op, "rows", starts)?,
        steps: u32_of(op, "steps", x[0] / starts)?,
        dim: u32_of(op, "dimension", x[1])?,
        context: u32_of(op, "context", table[0])?,
    })
}

/// Hyper-parameters of Adam, as in `torch.optim.Adam` (no weight decay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

impl Default for AdamConfig {
    /// Keras's and PyTorch's defaults except eps, which Keras sets to 1e-7.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam over flat buffers of one shape; `step` counts from 1.
pub fn adam(
    op: &'static str,
    shapes: [&[usize]; 4],
    cfg: AdamConfig,
    step: u32,
) -> Result<AdamParams> {
    for s in &shapes[1..] {
        if *s != shapes[0] {
            return Err(shape_err!(
                op,
                "parameter {:?} and its gradient or moments {s:?} differ",
                shapes[0]
            ));
        }
    }
    if step == 0 {
        return Err(shape_err!(
            op,
            "step counts from 1 (bias correction divides by 1 - beta^step)"
        ));
    }
    Ok(AdamParams {
        len: u32_of(op, "length", numel(shapes[0]))?,
        lr: cfg.lr,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        bias_correction1: (1.0 - (cfg.beta1 as f64).powi(step as i32)) as f32,
        bias_correction2: (1.0 - (cfg.beta2 as f64).powi(step as i32)) as f32,
        _pad0: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_network_shapes_match_design() {
        // 28 -> conv 26 -> pool 13 -> conv 11 -> pool 5 (DESIGN.md).
        let s = pool_output_size(
            conv_output_size(pool_output_size(conv_output_size(28, 3), 2), 3),
            2,
        );
        assert_eq!(s, 5);
        assert_eq!(s * s * 64, 1600);
        assert_eq!(conv_output_size(2, 3), 0);
        assert_eq!(pool_output_size(5, 3), 1);
    }

    #[test]
    fn wrong_weight_shape_names_op_and_shapes() {
        let e = conv2d(
            "conv2d_forward",
            &[1, 1, 28, 28],
            &[32, 3, 3, 3],
            &[1, 32, 26, 26],
            Act::Relu,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("conv2d_forward")
                && e.contains("[32, 1, 3, 3]")
                && e.contains("[32, 3, 3, 3]"),
            "{e}"
        );
    }

    #[test]
    fn a_mask_scales_by_the_inverse_keep_rate() {
        let m = Mask {
            seed: 1,
            step: 1,
            rate: 0.2,
        };
        assert_eq!(m.scale(), 1.25);
        assert_eq!(Mask::NONE.scale(), 1.0);
        let e = dropout("dropout_forward", &[2, 6], &[2, 6], m, 5).unwrap_err();
        assert!(e.to_string().contains("period 5"), "{e}");
    }
}
