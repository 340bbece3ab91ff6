//! The one place that computes output shapes and checks that the tensors
//! handed to an op fit together. Both backends call these before running a
//! kernel, and the page uses the size functions to lay out its views.

use crate::error::{Result, shape_err};
use crate::params::{
    AdamParams, Conv2dParams, DenseParams, ElementwiseParams, EmbeddingParams, LstmParams,
    PoolParams, SoftmaxParams,
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

/// LSTM cell: gate pre-activations [n, 4h], states [n, h].
pub fn lstm_cell(op: &'static str, gates: &[usize], state: &[usize]) -> Result<LstmParams> {
    rank(op, "state", state, 2)?;
    let (n, h) = (state[0], state[1]);
    expect(op, "gates", gates, &[n, 4 * h])?;
    Ok(LstmParams {
        n: u32_of(op, "batch", n)?,
        hidden: u32_of(op, "hidden", h)?,
        _pad: [0; 2],
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

/// lstm_cell_forward: xg, hg, gates [n, 4h]; c_prev, h, c [n, h].
pub fn lstm_cell_forward(
    xg: &[usize],
    hg: &[usize],
    c_prev: &[usize],
    h: &[usize],
    c: &[usize],
    gates: &[usize],
) -> Result<LstmParams> {
    const OP: &str = "lstm_cell_forward";
    let p = lstm_cell(OP, xg, c_prev)?;
    lstm_cell(OP, hg, c_prev)?;
    lstm_cell(OP, gates, c_prev)?;
    for s in [h, c] {
        elementwise(OP, s, c_prev)?;
    }
    Ok(p)
}

/// lstm_cell_backward: gates, dgates [n, 4h]; c_prev, c, dh, dc, dc_prev [n, h].
pub fn lstm_cell_backward(
    gates: &[usize],
    c_prev: &[usize],
    c: &[usize],
    dh: &[usize],
    dc: &[usize],
    dgates: &[usize],
    dc_prev: &[usize],
) -> Result<LstmParams> {
    const OP: &str = "lstm_cell_backward";
    let p = lstm_cell(OP, gates, c_prev)?;
    lstm_cell(OP, dgates, c_prev)?;
    for s in [c, dh, dc, dc_prev] {
        elementwise(OP, s, c_prev)?;
    }
    Ok(p)
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
