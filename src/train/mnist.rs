//! The digit classifier's training loop and evaluation over MNIST.

use rand::Rng;
use rand::seq::SliceRandom;

use super::adam::Adam;
use super::metrics::Confusion;
use crate::backend::Backend;
use crate::data::mnist::Dataset;
use crate::error::{Error, Result};
use crate::nn::mnist_cnn::{CLASSES, MnistCnn, StepStats, argmax};

/// Train one epoch over `data` in shuffled batches of `batch` (the last,
/// smaller batch included), calling `on_step` after each. Stops with an
/// error on a non-finite loss, before the optimizer's next step.
pub async fn train_epoch<B: Backend>(
    be: &B,
    model: &mut MnistCnn<B>,
    opt: &mut Adam<B>,
    data: &Dataset,
    batch: usize,
    rng: &mut impl Rng,
    mut on_step: impl FnMut(StepStats),
) -> Result<()> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(rng);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for chunk in order.chunks(batch) {
        data.batch(chunk, &mut x, &mut y);
        let stats = model
            .train_step(be, &x, &y, |be, params| opt.update(be, params))
            .await?;
        if !stats.loss.is_finite() {
            return Err(Error::Data {
                source_name: "training".into(),
                problem: format!(
                    "the loss became {} at step {}: lower the learning rate",
                    stats.loss, opt.step
                ),
            });
        }
        on_step(stats);
    }
    Ok(())
}

/// Accuracy and confusion matrix of `model` on `data`, in batches of `batch`.
pub async fn evaluate<B: Backend>(
    be: &B,
    model: &mut MnistCnn<B>,
    data: &Dataset,
    batch: usize,
) -> Result<Confusion> {
    let mut confusion = Confusion::new(CLASSES);
    for start in (0..data.len()).step_by(batch.max(1)) {
        let range = start..(start + batch).min(data.len());
        for (truth, predicted, _) in predict_range(be, model, data, range).await? {
            confusion.add(usize::from(truth), usize::from(predicted));
        }
    }
    Ok(confusion)
}

/// The labels `model` gives test images `range` of `data`, with the
/// probability of each answer: (truth, predicted, confidence). The page
/// evaluates in such chunks so that a drawing never waits for the whole set.
pub async fn predict_range<B: Backend>(
    be: &B,
    model: &mut MnistCnn<B>,
    data: &Dataset,
    range: std::ops::Range<usize>,
) -> Result<Vec<(u8, u8, f32)>> {
    let indices: Vec<usize> = range.collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    data.batch(&indices, &mut x, &mut y);
    let probs = model.predict(be, &x).await?;
    Ok(probs
        .chunks(CLASSES)
        .zip(&y)
        .map(|(p, &truth)| {
            let predicted = argmax(p);
            (truth as u8, predicted as u8, p[predicted])
        })
        .collect())
}
