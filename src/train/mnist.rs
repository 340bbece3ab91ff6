//! A classifier's evaluation over a labelled image set (MNIST's test
//! images, a person's held-out drawings). Training is [`super::digit_run`].

use super::metrics::Confusion;
use crate::backend::Backend;
use crate::data::mnist::Dataset;
use crate::error::Result;
use crate::nn::classifier::{Classifier, argmax};

/// Accuracy and confusion matrix of `model` on `data`, in batches of `batch`.
pub async fn evaluate<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    data: &Dataset,
    batch: usize,
) -> Result<Confusion> {
    let mut confusion = Confusion::new(model.classes().len());
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
    model: &mut Classifier<B>,
    data: &Dataset,
    range: std::ops::Range<usize>,
) -> Result<Vec<(u8, u8, f32)>> {
    let indices: Vec<usize> = range.collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    data.batch(&indices, &mut x, &mut y);
    let probs = model.predict(be, &x).await?;
    Ok(probs
        .chunks(model.classes().len())
        .zip(&y)
        .map(|(p, &truth)| {
            let predicted = argmax(p);
            (truth as u8, predicted as u8, p[predicted])
        })
        .collect())
}
