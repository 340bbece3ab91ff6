//! The fast CPU backend: conv2d and dense as matrix products (im2col plus
//! `matrixmultiply`'s blocked SGEMM, threaded natively, single-threaded in
//! wasm32); max-pool, relu's backward, the bias gradients and the LSTM gates
//! as loops over slices that the compiler vectorises; the rest (memory,
//! embedding, softmax, Adam, clipping) through the plain-loop twins, which cost little
//! beside the products. Same tensors as [`CpuBackend`], so the two mix
//! freely, and the twins stay the specification that tests/fast_cpu.rs
//! holds this backend to.

mod activation;
mod conv2d;
mod dense;
mod gemm;
mod lstm;
mod max_pool2d;
mod relu;

use std::cell::RefCell;
use std::future::Future;

use super::{CpuBackend, CpuIndices, CpuTensor};
use crate::backend::{Backend, Indices, SeqStep, Tensor};
use crate::error::Result;
use crate::shapes::{self, AdamConfig};

/// im2col matrices and transposed activations live here between calls, so
/// a training step reuses the buffers of the last one instead of allocating.
#[derive(Debug, Default)]
pub struct FastCpuBackend {
    /// [C*9, N*OH*OW]: the im2col matrix, or its gradient.
    col: RefCell<Vec<f32>>,
    /// [O, N*OH*OW]: a conv output or output gradient, batch side by side;
    /// or an LSTM step's gate pre-activations [batch, 4H].
    rows: RefCell<Vec<f32>>,
}

impl Backend for FastCpuBackend {
    type Tensor = CpuTensor;
    type Indices = CpuIndices;

    fn name(&self) -> String {
        "CPU (fast: im2col + matrixmultiply)".to_string()
    }

    fn tensor(&self, shape: &[usize], data: &[f32]) -> Result<CpuTensor> {
        CpuBackend.tensor(shape, data)
    }

    fn zeros(&self, shape: &[usize]) -> CpuTensor {
        CpuBackend.zeros(shape)
    }

    fn write(&self, dst: &mut CpuTensor, data: &[f32]) -> Result<()> {
        CpuBackend.write(dst, data)
    }

    fn fill_zero(&self, dst: &mut CpuTensor) {
        CpuBackend.fill_zero(dst)
    }

    fn indices(&self, data: &[u32]) -> CpuIndices {
        CpuBackend.indices(data)
    }

    fn write_indices(&self, dst: &mut CpuIndices, data: &[u32]) -> Result<()> {
        CpuBackend.write_indices(dst, data)
    }

    fn read(&self, tensors: &[&CpuTensor]) -> impl Future<Output = Result<Vec<Vec<f32>>>> {
        CpuBackend.read(tensors)
    }

    fn read_indices(&self, ids: &CpuIndices) -> impl Future<Output = Result<Vec<u32>>> {
        CpuBackend.read_indices(ids)
    }

    fn conv2d_forward(
        &self,
        x: &CpuTensor,
        w: &CpuTensor,
        b: &CpuTensor,
        y: &mut CpuTensor,
        relu: bool,
    ) -> Result<()> {
        let p = shapes::conv2d_forward(x.shape(), w.shape(), b.shape(), y.shape(), relu)?;
        conv2d::conv2d_forward(
            &p,
            &x.data,
            &w.data,
            &b.data,
            &mut y.data,
            &mut self.col.borrow_mut(),
            &mut self.rows.borrow_mut(),
        );
        Ok(())
    }

    fn conv2d_backward_input(
        &self,
        dy: &CpuTensor,
        w: &CpuTensor,
        dx: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::conv2d(
            "conv2d_backward_input",
            dx.shape(),
            w.shape(),
            dy.shape(),
            false,
        )?;
        conv2d::conv2d_backward_input(
            &p,
            &dy.data,
            &w.data,
            &mut dx.data,
            &mut self.col.borrow_mut(),
            &mut self.rows.borrow_mut(),
        );
        Ok(())
    }

    fn conv2d_backward_weight(
        &self,
        x: &CpuTensor,
        dy: &CpuTensor,
        dw: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::conv2d(
            "conv2d_backward_weight",
            x.shape(),
            dw.shape(),
            dy.shape(),
            false,
        )?;
        conv2d::conv2d_backward_weight(
            &p,
            &x.data,
            &dy.data,
            &mut dw.data,
            &mut self.col.borrow_mut(),
            &mut self.rows.borrow_mut(),
        );
        Ok(())
    }

    fn conv2d_backward_bias(&self, dy: &CpuTensor, db: &mut CpuTensor) -> Result<()> {
        let p = shapes::conv2d_bias("conv2d_backward_bias", dy.shape(), db.shape())?;
        conv2d::conv2d_backward_bias(&p, &dy.data, &mut db.data);
        Ok(())
    }

    fn max_pool2d_forward(
        &self,
        x: &CpuTensor,
        y: &mut CpuTensor,
        argmax: &mut CpuIndices,
    ) -> Result<()> {
        let p = shapes::max_pool2d("max_pool2d_forward", x.shape(), y.shape(), argmax.len())?;
        max_pool2d::max_pool2d_forward(&p, &x.data, &mut y.data, &mut argmax.0);
        Ok(())
    }

    fn max_pool2d_backward(
        &self,
        dy: &CpuTensor,
        argmax: &CpuIndices,
        dx: &mut CpuTensor,
    ) -> Result<()> {
        shapes::max_pool2d("max_pool2d_backward", dx.shape(), dy.shape(), argmax.len())?;
        let bound = dx.data.len() as u32;
        if let Some(bad) = argmax.0.iter().find(|&&i| i >= bound) {
            return Err(crate::error::shape_err!(
                "max_pool2d_backward",
                "argmax {bad} is outside the input of {bound} values"
            ));
        }
        max_pool2d::max_pool2d_backward(&dy.data, &argmax.0, &mut dx.data);
        Ok(())
    }

    fn dense_forward(
        &self,
        x: &CpuTensor,
        w: &CpuTensor,
        b: &CpuTensor,
        y: &mut CpuTensor,
        relu: bool,
    ) -> Result<()> {
        let p = shapes::dense_forward(x.shape(), w.shape(), b.shape(), y.shape(), relu)?;
        dense::dense_forward(&p, &x.data, &w.data, &b.data, &mut y.data);
        Ok(())
    }

    fn dense_backward_input(
        &self,
        dy: &CpuTensor,
        w: &CpuTensor,
        dx: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::dense(
            "dense_backward_input",
            dx.shape(),
            w.shape(),
            dy.shape(),
            false,
        )?;
        dense::dense_backward_input(&p, &dy.data, &w.data, &mut dx.data);
        Ok(())
    }

    fn dense_backward_weight(
        &self,
        x: &CpuTensor,
        dy: &CpuTensor,
        dw: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::dense(
            "dense_backward_weight",
            x.shape(),
            dw.shape(),
            dy.shape(),
            false,
        )?;
        dense::dense_backward_weight(&p, &x.data, &dy.data, &mut dw.data);
        Ok(())
    }

    fn dense_backward_bias(&self, dy: &CpuTensor, db: &mut CpuTensor) -> Result<()> {
        let p = shapes::dense_bias("dense_backward_bias", dy.shape(), db.shape())?;
        dense::dense_backward_bias(&p, &dy.data, &mut db.data);
        Ok(())
    }

    fn relu_forward(&self, x: &CpuTensor, y: &mut CpuTensor) -> Result<()> {
        CpuBackend.relu_forward(x, y)
    }

    fn relu_backward(&self, y: &CpuTensor, grad: &mut CpuTensor) -> Result<()> {
        shapes::elementwise("relu_backward", y.shape(), grad.shape())?;
        relu::relu_backward(&y.data, &mut grad.data);
        Ok(())
    }

    fn embedding_forward(
        &self,
        ids: &CpuIndices,
        table: &CpuTensor,
        y: &mut CpuTensor,
    ) -> Result<()> {
        CpuBackend.embedding_forward(ids, table, y)
    }

    fn embedding_backward(
        &self,
        ids: &CpuIndices,
        dy: &CpuTensor,
        dtable: &mut CpuTensor,
    ) -> Result<()> {
        CpuBackend.embedding_backward(ids, dy, dtable)
    }

    fn lstm_step_forward(
        &self,
        at: SeqStep,
        xg: &CpuTensor,
        w_hh: &CpuTensor,
        b_hh: &CpuTensor,
        h_in: &mut CpuTensor,
        h_out: &mut CpuTensor,
        c: &mut CpuTensor,
        gates: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::lstm_step_forward(
            at,
            xg.shape(),
            w_hh.shape(),
            b_hh.shape(),
            h_in.shape(),
            h_out.shape(),
            c.shape(),
            gates.shape(),
        )?;
        lstm::lstm_step_forward(
            &p,
            &xg.data,
            &w_hh.data,
            &b_hh.data,
            &mut h_in.data,
            &mut h_out.data,
            &mut c.data,
            &mut gates.data,
            &mut self.rows.borrow_mut(),
        );
        Ok(())
    }

    fn lstm_step_backward(
        &self,
        at: SeqStep,
        gates: &CpuTensor,
        c: &CpuTensor,
        dh: &CpuTensor,
        dc: &mut CpuTensor,
        dgates: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::lstm_step_backward(
            at,
            gates.shape(),
            c.shape(),
            dh.shape(),
            dc.shape(),
            dgates.shape(),
        )?;
        lstm::lstm_step_backward(
            &p,
            &gates.data,
            &c.data,
            &dh.data,
            &mut dc.data,
            &mut dgates.data,
        );
        Ok(())
    }

    fn lstm_step_backward_hidden(
        &self,
        at: SeqStep,
        dgates: &CpuTensor,
        w_hh: &CpuTensor,
        dh: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::lstm_step_backward_hidden(at, dgates.shape(), w_hh.shape(), dh.shape())?;
        lstm::lstm_step_backward_hidden(&p, &dgates.data, &w_hh.data, &mut dh.data);
        Ok(())
    }

    fn sum_squares(&self, x: &CpuTensor, sums: &mut CpuTensor, slot: usize) -> Result<()> {
        CpuBackend.sum_squares(x, sums, slot)
    }

    fn clip_by_norm(&self, sums: &CpuTensor, max_norm: f32, x: &mut CpuTensor) -> Result<()> {
        CpuBackend.clip_by_norm(sums, max_norm, x)
    }

    fn copy_slice(
        &self,
        src: &CpuTensor,
        src_offset: usize,
        dst: &mut CpuTensor,
        dst_offset: usize,
        len: usize,
    ) -> Result<()> {
        CpuBackend.copy_slice(src, src_offset, dst, dst_offset, len)
    }

    fn softmax_forward(&self, logits: &CpuTensor, probs: &mut CpuTensor) -> Result<()> {
        CpuBackend.softmax_forward(logits, probs)
    }

    fn softmax_xent_forward(
        &self,
        logits: &CpuTensor,
        labels: &CpuIndices,
        probs: &mut CpuTensor,
        loss: &mut CpuTensor,
    ) -> Result<()> {
        CpuBackend.softmax_xent_forward(logits, labels, probs, loss)
    }

    fn softmax_xent_backward(
        &self,
        probs: &CpuTensor,
        labels: &CpuIndices,
        dlogits: &mut CpuTensor,
        scale: f32,
    ) -> Result<()> {
        CpuBackend.softmax_xent_backward(probs, labels, dlogits, scale)
    }

    fn adam_step(
        &self,
        param: &mut CpuTensor,
        grad: &CpuTensor,
        m: &mut CpuTensor,
        v: &mut CpuTensor,
        cfg: AdamConfig,
        step: u32,
    ) -> Result<()> {
        CpuBackend.adam_step(param, grad, m, v, cfg, step)
    }
}
