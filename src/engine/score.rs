//! Trunk features once per image, then correlation + head in batches.
//!
//! Ranking one query against a gallery costs one trunk pass per image (done once and kept in a
//! [`FeatureBank`]) plus one correlation + head pass per pair.
//!
//! Every score must be a number: a NaN or infinite p(same) (non-finite weights or features) is
//! [`ScoreError::NotFinite`], never ranked or turned into metrics.

use burn::tensor::{Device, Tensor, TensorData};

use crate::cancel::CancelToken;
use crate::model::XCorrNet;
use crate::model::infer::{images_tensor, p_same};

/// Progress callback: (done, total).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Why scoring stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("cancelled")]
    Cancelled,
    #[error("reading results back from the device failed: {0}")]
    Device(String),
    #[error("pair ({a}, {b}) names an image outside the {len} images of the feature bank")]
    OutOfRange { a: usize, b: usize, len: usize },
    /// A pair scored NaN or infinity (`query` / `gallery` index the banks, or for
    /// [`score_pairs`] the bank's first / second image).
    #[error(
        "the model gave a non-finite score ({value}) for query {query} against gallery image {gallery}: its weights or the image features are not finite numbers"
    )]
    NotFinite {
        query: usize,
        gallery: usize,
        value: f32,
    },
}

/// Trunk features of many images: each `[C, H, W]` = `[25, 37, 12]` flattened.
#[derive(Debug, Clone, Default)]
pub struct FeatureBank {
    /// `[C, H, W]` of one image.
    pub shape: [usize; 3],
    /// `len * C * H * W` values, image-major.
    pub values: Vec<f32>,
}

impl FeatureBank {
    /// Number of images.
    pub fn len(&self) -> usize {
        let per: usize = self.shape.iter().product();
        self.values.len().checked_div(per).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values of image `i`.
    pub fn get(&self, i: usize) -> &[f32] {
        let per: usize = self.shape.iter().product();
        &self.values[i * per..(i + 1) * per]
    }

    /// Images `indices` (in that order) as a tensor `[n, C, H, W]`; indices checked by the caller.
    fn gather(&self, indices: impl Iterator<Item = usize>, device: &Device) -> Tensor<4> {
        let per: usize = self.shape.iter().product();
        let [c, h, w] = self.shape;
        let mut data = Vec::new();
        for i in indices {
            data.extend_from_slice(&self.values[i * per..(i + 1) * per]);
        }
        let n = data.len().checked_div(per).unwrap_or(0);
        Tensor::from_data(TensorData::new(data, [n, c, h, w]), device)
    }

    /// Images `range` as a tensor `[n, C, H, W]`.
    fn tensor(&self, range: std::ops::Range<usize>, device: &Device) -> Tensor<4> {
        let per: usize = self.shape.iter().product();
        let [c, h, w] = self.shape;
        let data = self.values[range.start * per..range.end * per].to_vec();
        Tensor::from_data(TensorData::new(data, [range.len(), c, h, w]), device)
    }
}

/// Trunk features of preprocessed crops (`[3, 160, 60]` each), `batch` images at a time.
pub fn features(
    net: &XCorrNet,
    crops: &[&[f32]],
    batch: usize,
    device: &Device,
    progress: Progress<'_>,
    cancel: &CancelToken,
) -> Result<FeatureBank, ScoreError> {
    let mut bank = FeatureBank::default();
    let batch = batch.max(1);
    for (i, chunk) in crops.chunks(batch).enumerate() {
        if cancel.is_cancelled() {
            return Err(ScoreError::Cancelled);
        }
        let f = net.features(images_tensor(chunk, device)); // [n, 25, 37, 12]
        let [_, c, h, w] = f.dims();
        bank.shape = [c, h, w];
        let v = f
            .try_into_vec_as::<f32>()
            .map_err(|e| ScoreError::Device(format!("{e:?}")))?;
        bank.values.extend_from_slice(&v);
        progress(((i + 1) * batch).min(crops.len()), crops.len());
    }
    Ok(bank)
}

/// The first score that is not a finite number, with its index.
fn first_non_finite(scores: &[f32]) -> Option<(usize, f32)> {
    scores
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
        .map(|(i, v)| (i, *v))
}

/// p(same) of query `q` of `queries` against every gallery image, `batch` pairs at a time.
pub fn score_query(
    net: &XCorrNet,
    queries: &FeatureBank,
    q: usize,
    gallery: &FeatureBank,
    batch: usize,
    device: &Device,
    cancel: &CancelToken,
) -> Result<Vec<f32>, ScoreError> {
    let batch = batch.max(1);
    let mut scores = Vec::with_capacity(gallery.len());
    let [c, h, w] = queries.shape;
    let query = queries.tensor(q..q + 1, device); // [1, C, H, W]
    let mut start = 0;
    while start < gallery.len() {
        if cancel.is_cancelled() {
            return Err(ScoreError::Cancelled);
        }
        let end = (start + batch).min(gallery.len());
        let n = end - start;
        let a = query.clone().expand([n, c, h, w]); // [n, C, H, W]
        let b = gallery.tensor(start..end, device); // [n, C, H, W]
        let batch_scores = p_same(net.forward_features(a, b)).map_err(ScoreError::Device)?;
        if let Some((i, value)) = first_non_finite(&batch_scores) {
            return Err(ScoreError::NotFinite {
                query: q,
                gallery: start + i,
                value,
            });
        }
        scores.extend(batch_scores);
        start = end;
    }
    Ok(scores)
}

/// The `[queries x gallery]` score matrix, row-major.
pub fn score_matrix(
    net: &XCorrNet,
    queries: &FeatureBank,
    gallery: &FeatureBank,
    batch: usize,
    device: &Device,
    progress: Progress<'_>,
    cancel: &CancelToken,
) -> Result<Vec<f32>, ScoreError> {
    let mut out = Vec::with_capacity(queries.len() * gallery.len());
    for q in 0..queries.len() {
        out.extend(score_query(
            net, queries, q, gallery, batch, device, cancel,
        )?);
        progress(q + 1, queries.len());
    }
    Ok(out)
}

/// p(same) of arbitrary pairs of images of one bank, `batch` pairs at a time: `pairs[k] = (a, b)`
/// puts image `a` in the network's first branch and image `b` in the second. Returns
/// `[pairs.len()]` scores in the order of `pairs`. For protocols that need a sparse set of pairs
/// (the authors' protocol: [`crate::eval::authors_pairs`]).
///
/// # Errors
/// [`ScoreError::OutOfRange`] when a pair names an image the bank does not hold (checked before
/// any work), [`ScoreError::Cancelled`], [`ScoreError::Device`].
pub fn score_pairs(
    net: &XCorrNet,
    bank: &FeatureBank,
    pairs: &[(usize, usize)],
    batch: usize,
    device: &Device,
    progress: Progress<'_>,
    cancel: &CancelToken,
) -> Result<Vec<f32>, ScoreError> {
    let len = bank.len();
    if let Some(&(a, b)) = pairs.iter().find(|&&(a, b)| a >= len || b >= len) {
        return Err(ScoreError::OutOfRange { a, b, len });
    }
    let batch = batch.max(1);
    let mut scores = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(batch) {
        if cancel.is_cancelled() {
            return Err(ScoreError::Cancelled);
        }
        let a = bank.gather(chunk.iter().map(|p| p.0), device); // [n, C, H, W]
        let b = bank.gather(chunk.iter().map(|p| p.1), device); // [n, C, H, W]
        let batch_scores = p_same(net.forward_features(a, b)).map_err(ScoreError::Device)?;
        if let Some((i, value)) = first_non_finite(&batch_scores) {
            let (query, gallery) = chunk[i];
            return Err(ScoreError::NotFinite {
                query,
                gallery,
                value,
            });
        }
        scores.extend(batch_scores);
        progress(scores.len(), pairs.len());
    }
    Ok(scores)
}
