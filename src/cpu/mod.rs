//! The CPU backend: every op in plain Rust loops. It is the test oracle for
//! the WGSL kernels and the fallback where no GPU adapter is found; the
//! twins in the submodules carry the same names as the shader entry points.

pub mod adam;
pub mod conv2d;
pub mod copy;
pub mod dense;
pub mod embedding;
pub mod fast;
pub mod grad_norm;
pub mod lstm;
pub mod max_pool2d;
pub mod relu;
pub mod softmax_xent;

use std::future::{Future, ready};

use crate::backend::{Backend, Indices, SeqStep, Tensor};
use crate::error::{Error, Result};
use crate::shapes::{self, AdamConfig};

/// A tensor in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuTensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl CpuTensor {
    pub fn data(&self) -> &[f32] {
        &self.data
    }
}

impl Tensor for CpuTensor {
    fn shape(&self) -> &[usize] {
        &self.shape
    }
}

/// Index vector in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuIndices(Vec<u32>);

impl Indices for CpuIndices {
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

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

impl Backend for CpuBackend {
    type Tensor = CpuTensor;
    type Indices = CpuIndices;

    fn name(&self) -> String {
        "CPU".to_string()
    }

    fn tensor(&self, shape: &[usize], data: &[f32]) -> Result<CpuTensor> {
        check_len("tensor", shape, data.len())?;
        Ok(CpuTensor {
            shape: shape.to_vec(),
            data: data.to_vec(),
        })
    }

    fn zeros(&self, shape: &[usize]) -> CpuTensor {
        CpuTensor {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    fn write(&self, dst: &mut CpuTensor, data: &[f32]) -> Result<()> {
        check_len("write", &dst.shape, data.len())?;
        dst.data.copy_from_slice(data);
        Ok(())
    }

    fn fill_zero(&self, dst: &mut CpuTensor) {
        dst.data.fill(0.0);
    }

    fn indices(&self, data: &[u32]) -> CpuIndices {
        CpuIndices(data.to_vec())
    }

    fn write_indices(&self, dst: &mut CpuIndices, data: &[u32]) -> Result<()> {
        check_len("write_indices", &[dst.0.len()], data.len())?;
        dst.0.copy_from_slice(data);
        Ok(())
    }

    fn read(&self, tensors: &[&CpuTensor]) -> impl Future<Output = Result<Vec<Vec<f32>>>> {
        ready(Ok(tensors.iter().map(|t| t.data.clone()).collect()))
    }

    fn read_indices(&self, ids: &CpuIndices) -> impl Future<Output = Result<Vec<u32>>> {
        ready(Ok(ids.0.clone()))
    }

    fn conv2d_forward(
        &self,
        x: &CpuTensor,
        w: &CpuTensor,
        b: &CpuTensor,
        y: &mut CpuTensor,
        relu: bool,
    ) -> Result<()> {
        let p = shapes::conv2d_forward(&x.shape, &w.shape, &b.shape, &y.shape, relu)?;
        conv2d::conv2d_forward(&p, &x.data, &w.data, &b.data, &mut y.data);
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
            &dx.shape,
            &w.shape,
            &dy.shape,
            false,
        )?;
        conv2d::conv2d_backward_input(&p, &dy.data, &w.data, &mut dx.data);
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
            &x.shape,
            &dw.shape,
            &dy.shape,
            false,
        )?;
        conv2d::conv2d_backward_weight(&p, &x.data, &dy.data, &mut dw.data);
        Ok(())
    }

    fn conv2d_backward_bias(&self, dy: &CpuTensor, db: &mut CpuTensor) -> Result<()> {
        let p = shapes::conv2d_bias("conv2d_backward_bias", &dy.shape, &db.shape)?;
        conv2d::conv2d_backward_bias(&p, &dy.data, &mut db.data);
        Ok(())
    }

    fn max_pool2d_forward(
        &self,
        x: &CpuTensor,
        y: &mut CpuTensor,
        argmax: &mut CpuIndices,
    ) -> Result<()> {
        let p = shapes::max_pool2d("max_pool2d_forward", &x.shape, &y.shape, argmax.len())?;
        max_pool2d::max_pool2d_forward(&p, &x.data, &mut y.data, &mut argmax.0);
        Ok(())
    }

    fn max_pool2d_backward(
        &self,
        dy: &CpuTensor,
        argmax: &CpuIndices,
        dx: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::max_pool2d("max_pool2d_backward", &dx.shape, &dy.shape, argmax.len())?;
        let bound = dx.data.len() as u32;
        if let Some(bad) = argmax.0.iter().find(|&&i| i >= bound) {
            return Err(crate::error::shape_err!(
                "max_pool2d_backward",
                "argmax {bad} is outside the input of {bound} values"
            ));
        }
        max_pool2d::max_pool2d_backward(&p, &dy.data, &argmax.0, &mut dx.data);
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
        let p = shapes::dense_forward(&x.shape, &w.shape, &b.shape, &y.shape, relu)?;
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
            &dx.shape,
            &w.shape,
            &dy.shape,
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
            &x.shape,
            &dw.shape,
            &dy.shape,
            false,
        )?;
        dense::dense_backward_weight(&p, &x.data, &dy.data, &mut dw.data);
        Ok(())
    }

    fn dense_backward_bias(&self, dy: &CpuTensor, db: &mut CpuTensor) -> Result<()> {
        let p = shapes::dense_bias("dense_backward_bias", &dy.shape, &db.shape)?;
        dense::dense_backward_bias(&p, &dy.data, &mut db.data);
        Ok(())
    }

    fn relu_forward(&self, x: &CpuTensor, y: &mut CpuTensor) -> Result<()> {
        let p = shapes::elementwise("relu_forward", &x.shape, &y.shape)?;
        relu::relu_forward(&p, &x.data, &mut y.data);
        Ok(())
    }

    fn relu_backward(&self, y: &CpuTensor, grad: &mut CpuTensor) -> Result<()> {
        let p = shapes::elementwise("relu_backward", &y.shape, &grad.shape)?;
        relu::relu_backward(&p, &y.data, &mut grad.data);
        Ok(())
    }

    fn embedding_forward(
        &self,
        ids: &CpuIndices,
        table: &CpuTensor,
        y: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::embedding("embedding_forward", ids.len(), &table.shape, &y.shape)?;
        embedding::embedding_forward(&p, &ids.0, &table.data, &mut y.data);
        Ok(())
    }

    fn embedding_backward(
        &self,
        ids: &CpuIndices,
        dy: &CpuTensor,
        dtable: &mut CpuTensor,
    ) -> Result<()> {
        let p = shapes::embedding("embedding_backward", ids.len(), &dtable.shape, &dy.shape)?;
        embedding::embedding_backward(&p, &ids.0, &dy.data, &mut dtable.data);
        Ok(())
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
            &xg.shape,
            &w_hh.shape,
            &b_hh.shape,
            &h_in.shape,
            &h_out.shape,
            &c.shape,
            &gates.shape,
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
            &gates.shape,
            &c.shape,
            &dh.shape,
            &dc.shape,
            &dgates.shape,
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
        let p = shapes::lstm_step_backward_hidden(at, &dgates.shape, &w_hh.shape, &dh.shape)?;
        lstm::lstm_step_backward_hidden(&p, &dgates.data, &w_hh.data, &mut dh.data);
        Ok(())
    }

    fn sum_squares(&self, x: &CpuTensor, sums: &mut CpuTensor, slot: usize) -> Result<()> {
        let p = shapes::sum_squares(&x.shape, &sums.shape, slot)?;
        grad_norm::sum_squares(&p, &x.data, &mut sums.data);
        Ok(())
    }

    fn clip_by_norm(&self, sums: &CpuTensor, max_norm: f32, x: &mut CpuTensor) -> Result<()> {
        let p = shapes::clip_by_norm(&sums.shape, max_norm, &x.shape)?;
        grad_norm::clip_by_norm(&p, &sums.data, &mut x.data);
        Ok(())
    }

    fn copy_slice(
        &self,
        src: &CpuTensor,
        src_offset: usize,
        dst: &mut CpuTensor,
        dst_offset: usize,
        len: usize,
    ) -> Result<()> {
        let p = shapes::copy_slice(&src.shape, src_offset, &dst.shape, dst_offset, len)?;
        copy::copy_slice(&p, &src.data, &mut dst.data);
        Ok(())
    }

    fn softmax_forward(&self, logits: &CpuTensor, probs: &mut CpuTensor) -> Result<()> {
        let p = shapes::softmax_forward(&logits.shape, &probs.shape)?;
        softmax_xent::softmax_forward(&p, &logits.data, &mut probs.data);
        Ok(())
    }

    fn softmax_xent_forward(
        &self,
        logits: &CpuTensor,
        labels: &CpuIndices,
        probs: &mut CpuTensor,
        loss: &mut CpuTensor,
    ) -> Result<()> {
        let p =
            shapes::softmax_xent_forward(&logits.shape, labels.len(), &probs.shape, &loss.shape)?;
        softmax_xent::softmax_xent_forward(
            &p,
            &logits.data,
            &labels.0,
            &mut probs.data,
            &mut loss.data,
        );
        Ok(())
    }

    fn softmax_xent_backward(
        &self,
        probs: &CpuTensor,
        labels: &CpuIndices,
        dlogits: &mut CpuTensor,
        scale: f32,
    ) -> Result<()> {
        let p = shapes::softmax_xent_backward(&probs.shape, labels.len(), &dlogits.shape, scale)?;
        softmax_xent::softmax_xent_backward(&p, &probs.data, &labels.0, &mut dlogits.data);
        Ok(())
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
        let p = shapes::adam(
            "adam_step",
            [&param.shape, &grad.shape, &m.shape, &v.shape],
            cfg,
            step,
        )?;
        adam::adam_step(&p, &mut param.data, &grad.data, &mut m.data, &mut v.data);
        Ok(())
    }
}
