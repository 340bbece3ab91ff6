//! The one place that computes output shapes and checks that the tensors
//! handed to an op fit together. Both backends call these before running a
//! kernel, and the page uses the size functions to lay out its views.

use crate::error::{Result, shape_err};
use crate::params::{
    AdamParams, Conv2dParams, CopyParams, DenseParams, ElementwiseParams, EmbeddingParams,
    LstmParams, NormParams, PoolParams, SoftmaxParams,
};

/// Side of the conv2d kernel (the networks use 3x3 only).
pub const CONV_KERNEL: usize = 3;
/// Side and stride of the max-pool window.
pub const POOL: usize = 2;

/// Output side of a 3x3 valid convolution with stride 1: `size - 2`.
pub const fn conv_output_size(size: usize) -> usize {
    size.saturating_sub(CONV_KERNEL - 1)
}

/// Output side of a 2x2 stride-2 max pool, rounding down like PyTorch.
pub const fn pool_output_size(size: usize) -> usize {
    size / POOL
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

/// conv2d: x [n, c, h, w], w [o, c, 3, 3], b [o], y [n, o, h-2, w-2].
pub fn conv2d(
    op: &'static str,
    x: &[usize],
    w: &[usize],
    y: &[usize],
    relu: bool,
) -> Result<Conv2dParams> {
    rank(op, "input", x, 4)?;
    rank(op, "weight", w, 4)?;
    let [n, c, h, wd] = [x[0], x[1], x[2], x[3]];
    let o = w[0];
    expect(op, "weight", w, &[o, c, CONV_KERNEL, CONV_KERNEL])?;
    if h < CONV_KERNEL || wd < CONV_KERNEL {
        return Err(shape_err!(op, "input {x:?} is smaller than the 3x3 kernel"));
    }
    let (oh, ow) = (conv_output_size(h), conv_output_size(wd));
    expect(op, "output", y, &[n, o, oh, ow])?;
    Ok(Conv2dParams {
        n: u32_of(op, "batch", n)?,
        c: u32_of(op, "channels", c)?,
        h: u32_of(op, "height", h)?,
        w: u32_of(op, "width", wd)?,
        o: u32_of(op, "filters", o)?,
        oh: oh as u32,
        ow: ow as u32,
        relu: relu as u32,
    })
}

/// conv2d bias gradient: dy [n, o, oh, ow], db [o].
pub fn conv2d_bias(op: &'static str, dy: &[usize], db: &[usize]) -> Result<Conv2dParams> {
    rank(op, "output gradient", dy, 4)?;
    expect(op, "bias gradient", db, &[dy[1]])?;
    Ok(Conv2dParams {
        n: u32_of(op, "batch", dy[0])?,
        c: 0,
        h: u32_of(op, "height", dy[2] + CONV_KERNEL - 1)?,
        w: u32_of(op, "width", dy[3] + CONV_KERNEL - 1)?,
        o: u32_of(op, "filters", dy[1])?,
        oh: u32_of(op, "height", dy[2])?,
        ow: u32_of(op, "width", dy[3])?,
        relu: 0,
    })
}

/// max_pool2d: x [n, c, h, w], y [n, c, h/2, w/2], argmax of y's length.
pub fn max_pool2d(op: &'static str, x: &[usize], y: &[usize], argmax: usize) -> Result<PoolParams> {
    rank(op, "input", x, 4)?;
    let [n, c, h, w] = [x[0], x[1], x[2], x[3]];
    let (oh, ow) = (pool_output_size(h), pool_output_size(w));
    if oh == 0 || ow == 0 {
        return Err(shape_err!(op, "input {x:?} is smaller than the 2x2 window"));
    }
    expect(op, "output", y, &[n, c, oh, ow])?;
    if argmax != numel(y) {
        return Err(shape_err!(
            op,
            "argmax holds {argmax} indices, output {y:?} needs {}",
            numel(y)
        ));
    }
    Ok(PoolParams {
        n: u32_of(op, "batch", n)?,
        c: u32_of(op, "channels", c)?,
        h: u32_of(op, "height", h)?,
        w: u32_of(op, "width", w)?,
        oh: oh as u32,
        ow: ow as u32,
        _pad: [0; 2],
    })
}

/// dense: x [n, ...] flattened to [n, inp], w [out, inp], y [n, out].
/// Accepting any trailing shape for x is what makes Flatten free.
pub fn dense(
    op: &'static str,
    x: &[usize],
    w: &[usize],
    y: &[usize],
    relu: bool,
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
        relu: relu as u32,
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
        relu: 0,
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
        _pad: [0; 3],
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
        _pad: 0,
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
        _pad: 0,
    })
}

/// conv2d_forward: [`conv2d`]'s shapes and a bias of one value per filter.
pub fn conv2d_forward(
    x: &[usize],
    w: &[usize],
    b: &[usize],
    y: &[usize],
    relu: bool,
) -> Result<Conv2dParams> {
    const OP: &str = "conv2d_forward";
    let p = conv2d(OP, x, w, y, relu)?;
    bias(OP, b, p.o)?;
    Ok(p)
}

/// dense_forward: [`dense`]'s shapes and a bias of one value per output.
pub fn dense_forward(
    x: &[usize],
    w: &[usize],
    b: &[usize],
    y: &[usize],
    relu: bool,
) -> Result<DenseParams> {
    const OP: &str = "dense_forward";
    let p = dense(OP, x, w, y, relu)?;
    bias(OP, b, p.out)?;
    Ok(p)
}

/// Which timestep an LSTM op works on. Sequence tensors are time-major and
/// 2-D, [steps * batch, width]: rows t * batch .. (t + 1) * batch hold
/// timestep t, so the whole sequence also feeds one `dense_*` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqStep {
    pub t: usize,
    pub batch: usize,
}

/// The sequence sizes read off gate tensors [steps * batch, 4 * hidden].
fn lstm_seq(op: &'static str, at: SeqStep, gates: &[usize]) -> Result<LstmParams> {
    rank(op, "gates", gates, 2)?;
    if at.batch == 0
        || !gates[0].is_multiple_of(at.batch)
        || !gates[1].is_multiple_of(4)
        || gates[1] == 0
    {
        return Err(shape_err!(
            op,
            "gates {gates:?} must be [steps * {}, 4 * hidden]",
            at.batch
        ));
    }
    let steps = gates[0] / at.batch;
    if at.t >= steps {
        return Err(shape_err!(
            op,
            "timestep {} is outside a sequence of {steps} steps",
            at.t
        ));
    }
    Ok(LstmParams {
        batch: u32_of(op, "batch", at.batch)?,
        hidden: u32_of(op, "hidden", gates[1] / 4)?,
        t: u32_of(op, "timestep", at.t)?,
        steps: u32_of(op, "steps", steps)?,
    })
}

/// The [rows, hidden] shape of a state sequence `extra` steps longer than the gates'.
fn state(p: &LstmParams, extra: usize) -> [usize; 2] {
    let (b, h) = (p.batch as usize, p.hidden as usize);
    [(p.steps as usize + extra) * b, h]
}

/// lstm_step_forward: xg, gates [T*b, 4h]; w_hh [4h, h]; b_hh [4h];
/// h_in, h_out [T*b, h]; c [(T+1)*b, h].
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_forward(
    at: SeqStep,
    xg: &[usize],
    w_hh: &[usize],
    b_hh: &[usize],
    h_in: &[usize],
    h_out: &[usize],
    c: &[usize],
    gates: &[usize],
) -> Result<LstmParams> {
    const OP: &str = "lstm_step_forward";
    let p = lstm_seq(OP, at, xg)?;
    let h = p.hidden as usize;
    expect(OP, "gates", gates, xg)?;
    expect(OP, "weight_hh", w_hh, &[4 * h, h])?;
    bias(OP, b_hh, 4 * p.hidden)?;
    expect(OP, "h_in", h_in, &state(&p, 0))?;
    expect(OP, "h_out", h_out, &state(&p, 0))?;
    expect(OP, "c", c, &state(&p, 1))?;
    Ok(p)
}

/// lstm_step_backward: gates, dgates [T*b, 4h]; c [(T+1)*b, h]; dh [T*b, h]; dc [b, h].
pub fn lstm_step_backward(
    at: SeqStep,
    gates: &[usize],
    c: &[usize],
    dh: &[usize],
    dc: &[usize],
    dgates: &[usize],
) -> Result<LstmParams> {
    const OP: &str = "lstm_step_backward";
    let p = lstm_seq(OP, at, gates)?;
    expect(OP, "dgates", dgates, gates)?;
    expect(OP, "c", c, &state(&p, 1))?;
    expect(OP, "dh", dh, &state(&p, 0))?;
    expect(OP, "dc", dc, &[at.batch, p.hidden as usize])?;
    Ok(p)
}

/// lstm_step_backward_hidden: dgates [T*b, 4h]; w_hh [4h, h]; dh [T*b, h]; t >= 1.
pub fn lstm_step_backward_hidden(
    at: SeqStep,
    dgates: &[usize],
    w_hh: &[usize],
    dh: &[usize],
) -> Result<LstmParams> {
    const OP: &str = "lstm_step_backward_hidden";
    let p = lstm_seq(OP, at, dgates)?;
    if at.t == 0 {
        return Err(shape_err!(OP, "timestep 0 has no earlier hidden state"));
    }
    let h = p.hidden as usize;
    expect(OP, "weight_hh", w_hh, &[4 * h, h])?;
    expect(OP, "dh", dh, &state(&p, 0))?;
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
        _pad: 0,
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
        _pad: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_shapes_match_design() {
        // 28 -> conv 26 -> pool 13 -> conv 11 -> pool 5 (DESIGN.md).
        let s = pool_output_size(conv_output_size(pool_output_size(conv_output_size(28))));
        assert_eq!(s, 5);
        assert_eq!(s * s * 64, 1600);
    }

    #[test]
    fn wrong_weight_shape_names_op_and_shapes() {
        let e = conv2d(
            "conv2d_forward",
            &[1, 1, 28, 28],
            &[32, 3, 3, 3],
            &[1, 32, 26, 26],
            true,
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
}
