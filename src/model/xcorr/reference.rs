//! The normalized correlation as plain Burn tensor ops: runs on every backend and is
//! differentiable through autodiff. This is the reference the fused kernels are checked
//! against (and itself checked against [`super::direct`] and the golden vectors).
//!
//! Formulation (docs/network.md): patch means and sigmas depend on one image only, so each
//! image is turned once into normalised patches `(p - mean) / sigma`; then for every
//! (b, c, y) the layer is one small product `A Bt / (N-1)` with A = the W patches of X in row y
//! `[W x N]` and B = the D*W patches of Y in rows y-2..=y+2 `[D*W x N]`.

use burn::tensor::Tensor;
use burn::tensor::module::unfold4d;
use burn::tensor::ops::UnfoldOptions;

use super::direct::XcorrGeometry;

/// Added under the square root of the patch variance so that the gradient of a flat patch's
/// std is 0 instead of 0/0. It changes sigma by at most 1e-6 (and only for flat patches, whose
/// correlations are exactly 0 either way).
pub const VAR_FLOOR: f32 = 1e-12;

/// Normalised patches of every position: `[B, C, H, W]` -> `[B, C, N, H, W]`,
/// each patch `(p - mean p) / (std p + eps)`, zero padded at the border.
pub fn normalized_patches(x: Tensor<4>, geo: &XcorrGeometry) -> Tensor<5> {
    let [b, c, h, w] = x.dims();
    let n = geo.patch * geo.patch;
    let pad = geo.patch / 2;
    let cols = unfold4d(
        x.reshape([b * c, 1, h, w]),
        [geo.patch, geo.patch],
        UnfoldOptions::new([1, 1], [pad, pad], [1, 1]),
    ); // [B*C, N, H*W]
    let cols = cols.reshape([b, c, n, h, w]);
    let mean = cols.clone().mean_dim(2); // [B, C, 1, H, W]
    let centered = cols - mean;
    let var = centered
        .clone()
        .square()
        .sum_dim(2)
        .div_scalar((n - 1) as f32); // [B, C, 1, H, W]
    let sigma = var.add_scalar(VAR_FLOOR).sqrt().add_scalar(geo.eps);
    centered / sigma
}

/// The layer: x, y `[B, C, H, W]` -> `[B, C*D*W, H, W]`, depth index `c*D*W + dy*W + x'`.
pub fn xcorr_reference(x: Tensor<4>, y: Tensor<4>, geo: &XcorrGeometry) -> Tensor<4> {
    let xn = normalized_patches(x, geo); // [B, C, N, H, W]
    let yn = normalized_patches(y, geo); // [B, C, N, H, W]
    xcorr_from_patches(xn, yn, geo)
}

/// The layer from normalised patches (so a gallery's patches can be computed once):
/// xn, yn `[B, C, N, H, W]` -> `[B, C*D*W, H, W]`.
pub fn xcorr_from_patches(xn: Tensor<5>, yn: Tensor<5>, geo: &XcorrGeometry) -> Tensor<4> {
    let [b, c, n, h, w] = xn.dims();
    let d = geo.band;
    let half = d / 2;
    let device = yn.device();
    // Rows outside Y compare against all-zero patches, whose normalised values are 0.
    let rim = Tensor::<5>::zeros([b, c, n, half, w], &device);
    let padded = Tensor::cat(vec![rim.clone(), yn, rim], 3); // [B, C, N, H + D - 1, W]
    let bands: Vec<Tensor<5>> = (0..d).map(|dy| padded.clone().narrow(3, dy, h)).collect();
    let yb = Tensor::cat(bands, 4); // [B, C, N, H, D*W], column dy*W + x'
    let a = xn.permute([0, 1, 3, 4, 2]).reshape([b * c * h, w, n]); // [B*C*H, W, N]
    let bt = yb.permute([0, 1, 3, 2, 4]).reshape([b * c * h, n, d * w]); // [B*C*H, N, D*W]
    let out = a.matmul(bt).div_scalar((n - 1) as f32); // [B*C*H, W(x), D*W]
    out.reshape([b, c, h, w, d * w])
        .permute([0, 1, 4, 2, 3]) // [B, C, D*W, H, W]
        .reshape([b, c * d * w, h, w])
}
