//! Inference helpers: host crops in, probabilities out.

use burn::tensor::{Device, Tensor, TensorData};

use super::network::{XCorrNet, probabilities};
use crate::data::preprocess::{CROP_LEN, INPUT_H, INPUT_W};

/// Stack preprocessed crops (`[3, 160, 60]` each) into `[B, 3, 160, 60]`.
pub fn images_tensor(crops: &[&[f32]], device: &Device) -> Tensor<4> {
    let mut flat = Vec::with_capacity(crops.len() * CROP_LEN);
    for c in crops {
        flat.extend_from_slice(c);
    }
    Tensor::from_data(
        TensorData::new(flat, [crops.len(), 3, INPUT_H, INPUT_W]),
        device,
    )
}

/// Read a `[B, 2]` logits tensor back as p(same) per pair.
pub fn p_same(logits: Tensor<2>) -> Result<Vec<f32>, String> {
    let probs = probabilities(logits)
        .try_into_vec_as::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    Ok(probs.chunks_exact(2).map(|p| p[1]).collect())
}

/// p(same) for pairs of preprocessed crops (`a[i]` with `b[i]`).
pub fn pair_probabilities(
    net: &XCorrNet,
    a: &[&[f32]],
    b: &[&[f32]],
    device: &Device,
) -> Result<Vec<f32>, String> {
    if a.len() != b.len() {
        return Err(format!("{} A images but {} B images", a.len(), b.len()));
    }
    if a.is_empty() {
        return Ok(Vec::new());
    }
    let logits = net.forward(images_tensor(a, device), images_tensor(b, device));
    p_same(logits)
}
