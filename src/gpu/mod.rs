//! The wgpu backend: WebGPU in the browser; Vulkan, Metal or DX12 natively.
//! Each kernel records one dispatch of its WGSL entry point (the
//! [`Backend`] trait has checked the shapes first); `read` submits.

mod context;
pub mod kernels;
mod recorder;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use context::Context;
use kernels as k;
use recorder::{Bound, Grid, Recorder};

use crate::backend::{Backend, Indices, Tensor};
use crate::error::{Error, Result};
use crate::params::{
    AdamParams, AttentionParams, Conv2dParams, CopyParams, DenseParams, DropoutParams,
    ElementwiseParams, EmbeddingParams, LayerNormParams, NormParams, PoolParams, PositionParams,
    RecurrentParams, SoftmaxParams,
};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn new_buffer(ctx: &Context, label: &str, bytes: u64) -> (wgpu::Buffer, u64) {
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        // WebGPU rejects bindings of size 0: an empty tensor still gets 4 bytes.
        size: bytes.max(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    (buffer, NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// A tensor of `f32` in a GPU storage buffer.
pub struct GpuTensor {
    buffer: wgpu::Buffer,
    id: u64,
    shape: Vec<usize>,
}

impl Tensor for GpuTensor {
    fn shape(&self) -> &[usize] {
        &self.shape
    }
}

impl Bound for GpuTensor {
    fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }
    fn id(&self) -> u64 {
        self.id
    }
}

/// A vector of `u32` in a GPU storage buffer.
pub struct GpuIndices {
    buffer: wgpu::Buffer,
    id: u64,
    len: usize,
}

impl Indices for GpuIndices {
    fn len(&self) -> usize {
        self.len
    }
}

impl Bound for GpuIndices {
    fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }
    fn id(&self) -> u64 {
        self.id
    }
}

pub struct GpuBackend {
    ctx: Context,
    rec: Recorder,
}

impl GpuBackend {
    /// Open the GPU. Fails with [`Error::NoAdapter`] when there is none (no
    /// WebGPU in this browser, no Vulkan driver on this machine).
    pub async fn new() -> Result<Self> {
        let ctx = Context::new().await?;
        let rec = Recorder::new(&ctx);
        Ok(Self { ctx, rec })
    }

    /// Compile every kernel now, so that the first prediction is not slow.
    pub fn warm_up(&self) {
        for kernel in k::KERNELS {
            self.rec.prepare(&self.ctx, kernel);
        }
    }

    /// Whether the device was lost; a lost device never comes back.
    pub fn is_lost(&self) -> bool {
        self.ctx.errors.is_lost()
    }

    /// Why the device was lost, once it is (other errors stay reported
    /// for the next read-back).
    pub fn lost_reason(&self) -> Option<String> {
        if !self.is_lost() {
            return None;
        }
        match self.ctx.errors.take() {
            Err(Error::DeviceLost(why)) => Some(why),
            _ => None,
        }
    }

    /// Destroy the device, as a driver reset would: every later call fails
    /// with [`Error::DeviceLost`]. The page's device-loss drill uses it.
    pub fn destroy_device(&self) {
        self.ctx.device.destroy();
    }

    /// Submit recorded work without reading anything back.
    pub fn submit(&self) {
        self.rec.submit(&self.ctx);
    }

    fn run<P: bytemuck::Pod>(
        &self,
        kernel: &'static k::Kernel,
        params: &P,
        buffers: &[&dyn Bound],
        grid: Grid,
    ) {
        self.rec.dispatch(&self.ctx, kernel, params, buffers, grid);
    }
}

fn check_len(op: &'static str, shape: &[usize], len: usize) -> Result<()> {
    let expected = shape.iter().product();
    if len != expected {
        return Err(Error::DataLength {
            op,
            len,
            shape: shape.to_vec(),
            expected,
        });
    }
    Ok(())
}

/// Rows up to which dense_forward runs one thread per output instead of
/// 8x4 blocks (the selftest's batches 1, 2 and 3 test that path).
const DENSE_ROWS_MAX: u32 = 8;

/// Threads of an m x n matmul whose threads each compute an 8x4 block
/// (shaders/dense.wgsl: BR = 8 rows, 4 columns).
fn blocks(m: u32, n: u32) -> Grid {
    Grid::Threads(m.div_ceil(8) * n.div_ceil(4))
}

/// Threads of the conv kernels that give each thread a block of channels x
/// columns (shaders/conv2d.wgsl: CB = 8 channels, XB = 4 columns).
fn conv_blocks(n: u32, channels: u32, rows: u32, cols: u32) -> u32 {
    const CB: u32 = 8;
    const XB: u32 = 4;
    n * channels.div_ceil(CB) * rows * cols.div_ceil(XB)
}

/// Threads of the attention kernels that give each thread four columns of
/// one head at one of `steps` positions (shaders/attention.wgsl).
fn head_blocks(p: &AttentionParams, steps: u32) -> Grid {
    Grid::Threads(p.rows * steps * p.heads * p.head_dim.div_ceil(4))
}

/// Threads of the attention kernels with one thread per row of weights.
fn weight_rows(p: &AttentionParams) -> Grid {
    Grid::Threads(p.rows * p.heads * p.q_steps)
}

/// Threads of the recurrent kernels that give each thread eight batch rows
/// (shaders/recurrent.wgsl: RB = 8) and `units` unit slots each.
fn row_blocks(p: &RecurrentParams, units: u32) -> Grid {
    Grid::Threads(units * p.batch.div_ceil(8))
}

impl Backend for GpuBackend {
    type Tensor = GpuTensor;
    type Indices = GpuIndices;

    fn name(&self) -> String {
        self.ctx.describe()
    }

    fn lost(&self) -> Option<String> {
        self.lost_reason()
    }

    fn tensor(&self, shape: &[usize], data: &[f32]) -> Result<GpuTensor> {
        check_len("tensor", shape, data.len())?;
        let mut t = self.zeros(shape);
        self.write(&mut t, data)?;
        Ok(t)
    }

    fn zeros(&self, shape: &[usize]) -> GpuTensor {
        let len: usize = shape.iter().product();
        // New buffers are zero-initialised by wgpu (WebGPU guarantees it).
        let (buffer, id) = new_buffer(&self.ctx, "tensor", 4 * len as u64);
        GpuTensor {
            buffer,
            id,
            shape: shape.to_vec(),
        }
    }

    fn write(&self, dst: &mut GpuTensor, data: &[f32]) -> Result<()> {
        check_len("write", &dst.shape, data.len())?;
        if !data.is_empty() {
            self.rec
                .write(&self.ctx, &dst.buffer, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    fn fill_zero(&self, dst: &mut GpuTensor) {
        self.rec.clear(&self.ctx, &dst.buffer);
    }

    fn indices(&self, data: &[u32]) -> GpuIndices {
        let (buffer, id) = new_buffer(&self.ctx, "indices", 4 * data.len() as u64);
        if !data.is_empty() {
            self.rec
                .write(&self.ctx, &buffer, bytemuck::cast_slice(data));
        }
        GpuIndices {
            buffer,
            id,
            len: data.len(),
        }
    }

    fn write_indices(&self, dst: &mut GpuIndices, data: &[u32]) -> Result<()> {
        check_len("write_indices", &[dst.len], data.len())?;
        if !data.is_empty() {
            self.rec
                .write(&self.ctx, &dst.buffer, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    fn read(&self, tensors: &[&GpuTensor]) -> impl Future<Output = Result<Vec<Vec<f32>>>> {
        let buffers: Vec<(&wgpu::Buffer, u64)> = tensors
            .iter()
            .map(|t| (&t.buffer, 4 * t.len() as u64))
            .collect();
        async move {
            let bytes = self.rec.read(&self.ctx, &buffers).await?;
            Ok(bytes
                .iter()
                .map(|b| bytemuck::pod_collect_to_vec(b))
                .collect())
        }
    }

    fn read_indices(&self, ids: &GpuIndices) -> impl Future<Output = Result<Vec<u32>>> {
        async move {
            let bytes = self
                .rec
                .read(&self.ctx, &[(&ids.buffer, 4 * ids.len as u64)])
                .await?;
            Ok(bytemuck::pod_collect_to_vec(&bytes[0]))
        }
    }

    fn conv2d_forward_unchecked(
        &self,
        p: &Conv2dParams,
        x: &GpuTensor,
        w: &GpuTensor,
        b: &GpuTensor,
        y: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(conv_blocks(p.n, p.o, p.oh, p.ow));
        self.run(&k::CONV2D_FORWARD, p, &[x, w, b, y], grid);
    }
    fn conv2d_backward_input_unchecked(
        &self,
        p: &Conv2dParams,
        dy: &GpuTensor,
        w: &GpuTensor,
        dx: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(conv_blocks(p.n, p.c, p.h, p.w));
        self.run(&k::CONV2D_BACKWARD_INPUT, p, &[dy, w, dx], grid);
    }
    fn conv2d_backward_weight_unchecked(
        &self,
        p: &Conv2dParams,
        x: &GpuTensor,
        dy: &GpuTensor,
        dw: &mut GpuTensor,
    ) {
        // 3x3: four output channels per thread; other sizes one weight per
        // thread (shaders/conv2d.wgsl).
        let threads = if p.k == 3 {
            p.o.div_ceil(4) * p.c
        } else {
            p.o * p.c * p.k * p.k
        };
        self.run(
            &k::CONV2D_BACKWARD_WEIGHT,
            p,
            &[x, dy, dw],
            Grid::Threads(threads),
        );
    }
    fn conv2d_backward_bias_unchecked(&self, p: &Conv2dParams, dy: &GpuTensor, db: &mut GpuTensor) {
        self.run(&k::CONV2D_BACKWARD_BIAS, p, &[dy, db], Grid::Groups(p.o));
    }
    fn max_pool2d_forward_unchecked(
        &self,
        p: &PoolParams,
        x: &GpuTensor,
        y: &mut GpuTensor,
        argmax: &mut GpuIndices,
    ) {
        let grid = Grid::Threads(p.n * p.c * p.oh * p.ow);
        self.run(&k::MAX_POOL2D_FORWARD, p, &[x, y, argmax], grid);
    }
    fn max_pool2d_backward_unchecked(
        &self,
        p: &PoolParams,
        dy: &GpuTensor,
        argmax: &GpuIndices,
        dx: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.n * p.c * p.oh * p.ow);
        self.run(&k::MAX_POOL2D_BACKWARD, p, &[dy, argmax, dx], grid);
    }
    fn avg_pool2d_forward_unchecked(&self, p: &PoolParams, x: &GpuTensor, y: &mut GpuTensor) {
        let grid = Grid::Threads(p.n * p.c * p.oh * p.ow);
        self.run(&k::AVG_POOL2D_FORWARD, p, &[x, y], grid);
    }
    fn avg_pool2d_backward_unchecked(&self, p: &PoolParams, dy: &GpuTensor, dx: &mut GpuTensor) {
        let grid = Grid::Threads(p.n * p.c * p.h * p.w);
        self.run(&k::AVG_POOL2D_BACKWARD, p, &[dy, dx], grid);
    }
    fn dense_forward_unchecked(
        &self,
        p: &DenseParams,
        x: &GpuTensor,
        w: &GpuTensor,
        b: &GpuTensor,
        y: &mut GpuTensor,
    ) {
        if p.n <= DENSE_ROWS_MAX {
            let grid = Grid::Tiles(p.out.div_ceil(64), p.n);
            return self.run(&k::DENSE_FORWARD_ROWS, p, &[x, w, b, y], grid);
        }
        self.run(&k::DENSE_FORWARD, p, &[x, w, b, y], blocks(p.n, p.out));
    }
    fn dense_backward_input_unchecked(
        &self,
        p: &DenseParams,
        dy: &GpuTensor,
        w: &GpuTensor,
        dx: &mut GpuTensor,
    ) {
        self.run(
            &k::DENSE_BACKWARD_INPUT,
            p,
            &[dy, w, dx],
            blocks(p.n, p.inp),
        );
    }
    fn dense_backward_weight_unchecked(
        &self,
        p: &DenseParams,
        x: &GpuTensor,
        dy: &GpuTensor,
        dw: &mut GpuTensor,
    ) {
        self.run(
            &k::DENSE_BACKWARD_WEIGHT,
            p,
            &[dy, x, dw],
            blocks(p.out, p.inp),
        );
    }
    fn dense_backward_bias_unchecked(&self, p: &DenseParams, dy: &GpuTensor, db: &mut GpuTensor) {
        self.run(&k::DENSE_BACKWARD_BIAS, p, &[dy, db], Grid::Threads(p.out));
    }
    fn relu_forward_unchecked(&self, p: &ElementwiseParams, x: &GpuTensor, y: &mut GpuTensor) {
        self.run(&k::RELU_FORWARD, p, &[x, y], Grid::Threads(p.len));
    }
    fn relu_backward_unchecked(&self, p: &ElementwiseParams, y: &GpuTensor, grad: &mut GpuTensor) {
        self.run(&k::RELU_BACKWARD, p, &[y, grad], Grid::Threads(p.len));
    }
    fn sigmoid_forward_unchecked(&self, p: &ElementwiseParams, x: &GpuTensor, y: &mut GpuTensor) {
        self.run(&k::SIGMOID_FORWARD, p, &[x, y], Grid::Threads(p.len));
    }
    fn sigmoid_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        y: &GpuTensor,
        grad: &mut GpuTensor,
    ) {
        self.run(&k::SIGMOID_BACKWARD, p, &[y, grad], Grid::Threads(p.len));
    }
    fn tanh_forward_unchecked(&self, p: &ElementwiseParams, x: &GpuTensor, y: &mut GpuTensor) {
        self.run(&k::TANH_FORWARD, p, &[x, y], Grid::Threads(p.len));
    }
    fn tanh_backward_unchecked(&self, p: &ElementwiseParams, y: &GpuTensor, grad: &mut GpuTensor) {
        self.run(&k::TANH_BACKWARD, p, &[y, grad], Grid::Threads(p.len));
    }
    fn dropout_forward_unchecked(&self, p: &DropoutParams, x: &GpuTensor, y: &mut GpuTensor) {
        self.run(&k::DROPOUT_FORWARD, p, &[x, y], Grid::Threads(p.len));
    }
    fn dropout_backward_unchecked(&self, p: &DropoutParams, dy: &GpuTensor, dx: &mut GpuTensor) {
        self.run(&k::DROPOUT_BACKWARD, p, &[dy, dx], Grid::Threads(p.len));
    }
    fn embedding_forward_unchecked(
        &self,
        p: &EmbeddingParams,
        ids: &GpuIndices,
        table: &GpuTensor,
        y: &mut GpuTensor,
    ) {
        self.run(
            &k::EMBEDDING_FORWARD,
            p,
            &[ids, table, y],
            Grid::Threads(p.n * p.dim),
        );
    }
    fn embedding_backward_unchecked(
        &self,
        p: &EmbeddingParams,
        ids: &GpuIndices,
        dy: &GpuTensor,
        dtable: &mut GpuTensor,
    ) {
        self.run(
            &k::EMBEDDING_BACKWARD,
            p,
            &[ids, dy, dtable],
            Grid::Threads(p.vocab * p.dim),
        );
    }
    fn rnn_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &GpuTensor,
        w_hh: &GpuTensor,
        b_hh: &GpuTensor,
        h_in: &mut GpuTensor,
        h_out: &mut GpuTensor,
    ) {
        // Four units and eight rows per thread.
        let grid = row_blocks(p, p.hidden.div_ceil(4));
        self.run(
            &k::RNN_STEP_FORWARD,
            p,
            &[xg, w_hh, b_hh, h_in, h_out],
            grid,
        );
    }
    fn rnn_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        h_out: &GpuTensor,
        dh: &GpuTensor,
        dgates: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.batch * p.hidden);
        self.run(&k::RNN_STEP_BACKWARD, p, &[h_out, dh, dgates], grid);
    }
    fn rnn_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgates: &GpuTensor,
        w_hh: &GpuTensor,
        dh: &mut GpuTensor,
    ) {
        let grid = row_blocks(p, p.hidden.div_ceil(4));
        self.run(&k::RNN_STEP_BACKWARD_HIDDEN, p, &[dgates, w_hh, dh], grid);
    }
    fn gru_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &GpuTensor,
        w_hh: &GpuTensor,
        b_hh: &GpuTensor,
        h0: &GpuTensor,
        h_in: &mut GpuTensor,
        h_out: &mut GpuTensor,
        gates: &mut GpuTensor,
    ) {
        // A unit and eight rows per thread.
        let grid = row_blocks(p, p.hidden);
        self.run(
            &k::GRU_STEP_FORWARD,
            p,
            &[xg, w_hh, b_hh, h0, h_in, h_out, gates],
            grid,
        );
    }
    fn gru_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        gates: &GpuTensor,
        h0: &GpuTensor,
        h_out: &GpuTensor,
        dh: &mut GpuTensor,
        dgi: &mut GpuTensor,
        dgh: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.batch * p.hidden);
        self.run(
            &k::GRU_STEP_BACKWARD,
            p,
            &[gates, h0, h_out, dh, dgi, dgh],
            grid,
        );
    }
    fn gru_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgh: &GpuTensor,
        w_hh: &GpuTensor,
        dh: &mut GpuTensor,
    ) {
        let grid = row_blocks(p, p.hidden.div_ceil(4));
        self.run(&k::GRU_STEP_BACKWARD_HIDDEN, p, &[dgh, w_hh, dh], grid);
    }
    fn lstm_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &GpuTensor,
        w_hh: &GpuTensor,
        b_hh: &GpuTensor,
        h_in: &mut GpuTensor,
        h_out: &mut GpuTensor,
        c: &mut GpuTensor,
        gates: &mut GpuTensor,
    ) {
        // A unit and eight rows per thread.
        let grid = row_blocks(p, p.hidden);
        self.run(
            &k::LSTM_STEP_FORWARD,
            p,
            &[xg, w_hh, b_hh, h_in, h_out, c, gates],
            grid,
        );
    }
    fn lstm_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        gates: &GpuTensor,
        c: &GpuTensor,
        dh: &GpuTensor,
        dc: &mut GpuTensor,
        dgates: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.batch * p.hidden);
        self.run(&k::LSTM_STEP_BACKWARD, p, &[gates, c, dh, dc, dgates], grid);
    }
    fn lstm_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgates: &GpuTensor,
        w_hh: &GpuTensor,
        dh: &mut GpuTensor,
    ) {
        // Four units and eight rows per thread.
        let grid = row_blocks(p, p.hidden.div_ceil(4));
        self.run(&k::LSTM_STEP_BACKWARD_HIDDEN, p, &[dgates, w_hh, dh], grid);
    }
    fn sum_squares_unchecked(&self, p: &NormParams, x: &GpuTensor, sums: &mut GpuTensor) {
        self.run(&k::SUM_SQUARES, p, &[x, sums], Grid::Groups(1));
    }
    fn clip_by_norm_unchecked(&self, p: &NormParams, sums: &GpuTensor, x: &mut GpuTensor) {
        self.run(&k::CLIP_BY_NORM, p, &[sums, x], Grid::Threads(p.len));
    }
    fn copy_slice_unchecked(&self, p: &CopyParams, src: &GpuTensor, dst: &mut GpuTensor) {
        self.run(&k::COPY_SLICE, p, &[src, dst], Grid::Threads(p.len));
    }
    fn softmax_forward_unchecked(
        &self,
        p: &SoftmaxParams,
        logits: &GpuTensor,
        probs: &mut GpuTensor,
    ) {
        self.run(&k::SOFTMAX_FORWARD, p, &[logits, probs], Grid::Threads(p.n));
    }
    fn softmax_xent_forward_unchecked(
        &self,
        p: &SoftmaxParams,
        logits: &GpuTensor,
        labels: &GpuIndices,
        probs: &mut GpuTensor,
        loss: &mut GpuTensor,
    ) {
        self.run(
            &k::SOFTMAX_XENT_FORWARD,
            p,
            &[logits, labels, probs, loss],
            Grid::Threads(p.n),
        );
    }
    fn softmax_xent_backward_unchecked(
        &self,
        p: &SoftmaxParams,
        probs: &GpuTensor,
        labels: &GpuIndices,
        dlogits: &mut GpuTensor,
    ) {
        self.run(
            &k::SOFTMAX_XENT_BACKWARD,
            p,
            &[probs, labels, dlogits],
            Grid::Threads(p.n * p.classes),
        );
    }
    fn adam_step_unchecked(
        &self,
        p: &AdamParams,
        param: &mut GpuTensor,
        grad: &GpuTensor,
        m: &mut GpuTensor,
        v: &mut GpuTensor,
    ) {
        self.run(&k::ADAM_STEP, p, &[param, grad, m, v], Grid::Threads(p.len));
    }
    fn gelu_forward_unchecked(&self, p: &ElementwiseParams, x: &GpuTensor, y: &mut GpuTensor) {
        self.run(&k::GELU_FORWARD, p, &[x, y], Grid::Threads(p.len));
    }
    fn gelu_backward_unchecked(&self, p: &ElementwiseParams, x: &GpuTensor, grad: &mut GpuTensor) {
        self.run(&k::GELU_BACKWARD, p, &[x, grad], Grid::Threads(p.len));
    }
    fn residual_forward_unchecked(
        &self,
        p: &ElementwiseParams,
        a: &GpuTensor,
        b: &GpuTensor,
        y: &mut GpuTensor,
    ) {
        self.run(&k::RESIDUAL_FORWARD, p, &[a, b, y], Grid::Threads(p.len));
    }
    fn residual_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        dy: &GpuTensor,
        dx: &mut GpuTensor,
    ) {
        self.run(&k::RESIDUAL_BACKWARD, p, &[dy, dx], Grid::Threads(p.len));
    }
    fn layer_norm_forward_unchecked(
        &self,
        p: &LayerNormParams,
        x: &GpuTensor,
        gamma: &GpuTensor,
        beta: &GpuTensor,
        y: &mut GpuTensor,
        stats: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.n);
        self.run(&k::LAYER_NORM_FORWARD, p, &[x, gamma, beta, y, stats], grid);
    }
    fn layer_norm_backward_input_unchecked(
        &self,
        p: &LayerNormParams,
        x: &GpuTensor,
        gamma: &GpuTensor,
        stats: &GpuTensor,
        dy: &GpuTensor,
        dx: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.n);
        self.run(
            &k::LAYER_NORM_BACKWARD_INPUT,
            p,
            &[x, gamma, stats, dy, dx],
            grid,
        );
    }
    fn layer_norm_backward_weight_unchecked(
        &self,
        p: &LayerNormParams,
        x: &GpuTensor,
        stats: &GpuTensor,
        dy: &GpuTensor,
        dgamma: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.dim);
        self.run(
            &k::LAYER_NORM_BACKWARD_WEIGHT,
            p,
            &[x, stats, dy, dgamma],
            grid,
        );
    }
    fn position_forward_unchecked(
        &self,
        p: &PositionParams,
        x: &GpuTensor,
        table: &GpuTensor,
        starts: &GpuIndices,
        y: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.steps * p.rows * p.dim);
        self.run(&k::POSITION_FORWARD, p, &[x, table, starts, y], grid);
    }
    fn position_backward_unchecked(
        &self,
        p: &PositionParams,
        dy: &GpuTensor,
        starts: &GpuIndices,
        dtable: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.context * p.dim);
        self.run(&k::POSITION_BACKWARD, p, &[dy, starts, dtable], grid);
    }
    fn attention_scores_forward_unchecked(
        &self,
        p: &AttentionParams,
        qkv: &GpuTensor,
        kv: &GpuTensor,
        starts: &GpuIndices,
        weights: &mut GpuTensor,
    ) {
        let grid = weight_rows(p);
        self.run(
            &k::ATTENTION_SCORES_FORWARD,
            p,
            &[qkv, kv, starts, weights],
            grid,
        );
    }
    fn attention_values_forward_unchecked(
        &self,
        p: &AttentionParams,
        weights: &GpuTensor,
        kv: &GpuTensor,
        starts: &GpuIndices,
        out: &mut GpuTensor,
    ) {
        let grid = head_blocks(p, p.q_steps);
        self.run(
            &k::ATTENTION_VALUES_FORWARD,
            p,
            &[weights, kv, starts, out],
            grid,
        );
    }
    fn attention_backward_scores_unchecked(
        &self,
        p: &AttentionParams,
        weights: &GpuTensor,
        qkv: &GpuTensor,
        starts: &GpuIndices,
        dout: &GpuTensor,
        dscores: &mut GpuTensor,
    ) {
        let grid = weight_rows(p);
        let bufs: [&dyn Bound; 5] = [weights, qkv, starts, dout, dscores];
        self.run(&k::ATTENTION_BACKWARD_SCORES, p, &bufs, grid);
    }
    fn attention_backward_query_unchecked(
        &self,
        p: &AttentionParams,
        dscores: &GpuTensor,
        qkv: &GpuTensor,
        starts: &GpuIndices,
        dqkv: &mut GpuTensor,
    ) {
        let grid = head_blocks(p, p.q_steps);
        self.run(
            &k::ATTENTION_BACKWARD_QUERY,
            p,
            &[dscores, qkv, starts, dqkv],
            grid,
        );
    }
    fn attention_backward_key_unchecked(
        &self,
        p: &AttentionParams,
        dscores: &GpuTensor,
        qkv: &GpuTensor,
        starts: &GpuIndices,
        dqkv: &mut GpuTensor,
    ) {
        let grid = head_blocks(p, p.k_steps);
        self.run(
            &k::ATTENTION_BACKWARD_KEY,
            p,
            &[dscores, qkv, starts, dqkv],
            grid,
        );
    }
    fn attention_backward_value_unchecked(
        &self,
        p: &AttentionParams,
        weights: &GpuTensor,
        dout: &GpuTensor,
        starts: &GpuIndices,
        dqkv: &mut GpuTensor,
    ) {
        let grid = head_blocks(p, p.k_steps);
        self.run(
            &k::ATTENTION_BACKWARD_VALUE,
            p,
            &[weights, dout, starts, dqkv],
            grid,
        );
    }
    fn attention_cache_write_unchecked(
        &self,
        p: &AttentionParams,
        qkv: &GpuTensor,
        starts: &GpuIndices,
        cache: &mut GpuTensor,
    ) {
        let grid = Grid::Threads(p.q_steps * p.rows * p.head_dim);
        self.run(&k::ATTENTION_CACHE_WRITE, p, &[qkv, starts, cache], grid);
    }
}
