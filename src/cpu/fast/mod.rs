//! The fast CPU backend: conv2d and dense as matrix products (im2col plus
//! `matrixmultiply`'s blocked SGEMM, threaded natively, single-threaded in
//! wasm32); max-pool, relu's backward and the conv bias gradient as loops
//! over slices that the compiler vectorises; the rest (memory, embedding,
//! LSTM cell, softmax, Adam) through the plain-loop twins, which cost little
//! beside the products. Same tensors as [`CpuBackend`], so the two mix
//! freely, and the twins stay the specification that tests/fast_cpu.rs
//! holds this backend to.

mod conv2d;
mod dense;
mod gemm;
mod max_pool2d;
mod relu;

use std::cell::RefCell;
use std::future::Future;

use super::{CpuBackend, CpuIndices, CpuTensor};
use crate::backend::{Backend, Indices, LstmCellGrads, Tensor};
use crate::error::Result;
use crate::shapes::{self, AdamConfig};

/// im2col matrices and transposed activations live here between calls, so
/// a training step reuses the buffers of the last one instead of allocating.
#[derive(Debug, Default)]
pub struct FastCpuBackend {
    /// [C*9, N*OH*OW]: the im2col matrix, or its gradient.
    col: RefCell<Vec<f32>>,
    /// [O, N*OH*OW]: a conv output or output gradient, batch side by side.
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
        CpuBackend.dense_backward_bias(dy, db)
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

    fn lstm_cell_forward(
        &self,
        xg: &CpuTensor,
        hg: &CpuTensor,
        c_prev: &CpuTensor,
        h: &mut CpuTensor,
        c: &mut CpuTensor,
        gates: &mut CpuTensor,
    ) -> Result<()> {
        CpuBackend.lstm_cell_forward(xg, hg, c_prev, h, c, gates)
    }

    fn lstm_cell_backward(
        &self,
        gates: &CpuTensor,
        c_prev: &CpuTensor,
        c: &CpuTensor,
        dh: &CpuTensor,
        dc: &CpuTensor,
        out: LstmCellGrads<'_, CpuTensor>,
    ) -> Result<()> {
        CpuBackend.lstm_cell_backward(gates, c_prev, c, dh, dc, out)
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
